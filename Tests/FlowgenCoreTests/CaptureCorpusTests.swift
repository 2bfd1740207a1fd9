import Foundation
import Testing
@testable import FlowgenCore
import FlowgenKernel
import FlowgenTestSupport

/// The reader against the tcpdump project's 830 test captures (many deliberately malformed) in
/// `Tests/Captures`: every file ends, cleanly or with a one-line error, and where Wireshark's
/// `capinfos` reads a file of a supported link type to its end, both count the same packets.
@Suite struct CaptureCorpusTests {
    /// `Tests/Captures/tcpdump-tests`, the corpus kept in the repository (see its README).
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../Captures/tcpdump-tests").standardized.path

    @Test func everyCorpusFileEndsAndAgreesWithCapinfos() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.corpus).sorted()
        try #require(names.count >= 800, "the capture corpus is missing at \(Self.corpus)")

        // capinfos (wireshark-common, installed with tshark): one process for every file
        let capinfos = try ProcessRunner.run(["/usr/bin/capinfos", "-c", "-T", "-M", "-r"] + names.map { Self.corpus + "/" + $0 },
                                             timeout: .seconds(300))
        let errors = capinfos.stderr, text = capinfos.stdout
        var reference: [String: Int] = [:]
        for line in text.split(separator: "\n") {
            let f = line.split(separator: "\t")
            if f.count == 2, let n = Int(f[1]) { reference[URL(fileURLWithPath: String(f[0])).lastPathComponent] = n }
        }
        try #require(reference.count > 700, "capinfos listed \(reference.count) files")

        var compared = 0, refused = 0, damaged = 0
        for name in names {
            let path = Self.corpus + "/" + name
            var count = 0
            var failure: CaptureError?
            do {
                let reader = try CaptureReader(path: path)
                while try reader.next() != nil { count += 1 }
            } catch let error as CaptureError {
                failure = error
            }
            if let failure {
                #expect(!failure.description.contains("\n") && failure.description.hasPrefix(path + ": "))
                if case .unsupportedLinkType = failure { refused += 1 } else { damaged += 1 }
            }
            // capinfos complains about damage on stderr, naming the file
            let capinfosComplained = errors.contains("\"\(name)\"")
            guard let expected = reference[name], failure == nil || !capinfosComplained else { continue }
            if case .unsupportedLinkType = failure { continue }
            #expect(failure == nil, "\(name): capinfos reads \(expected) packets, replay stops: \(failure!)")
            #expect(count == expected, "\(name): \(count) packets, capinfos \(expected)")
            compared += 1
        }
        #expect(compared > 450)
        print("corpus: \(names.count) files, \(compared) compared with capinfos, \(refused) of unsupported link types, \(damaged) damaged")
    }
}
