import Foundation
import Testing
@testable import FlowgenCore
@testable import FlowgenKernel

@Suite struct OutputFileTests {
    /// A JSON-lines exporter writing into `dir`, and the path of today's file.
    func exporter(_ dir: String) throws -> (TextFlowExporter, String) {
        let plan = try FeatureCatalog(resources: ResourceLocator.locate()).plan(features: "tcp")
        let formatter = FlowFormatter(schema: OutputSchema(plan: plan), format: .json)
        let exporter = try TextFlowExporter(formatter: formatter, destination: .directory(dir), epochOffsetNs: { 0 })
        return (exporter, dir + "/flows-\(TextFlowExporter.utcDay(Date())).jsonl")
    }

    func oneFlow() throws -> [Biflow] {
        randomFlows(try FeatureCatalog(resources: ResourceLocator.locate()).plan(features: "tcp"), count: 1, seed: 7)
    }

    @Test func aPlantedSymlinkIsNeverWrittenThrough() throws {
        let dir = try makeTrustRoot()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (exporter, path) = try exporter(dir)
        try makeFile(dir + "/victim", "precious\n")
        symlink(dir + "/victim", path)
        #expect(throws: ExportError.self) { try exporter.export(try oneFlow()) }
        #expect(try String(contentsOfFile: dir + "/victim", encoding: .utf8) == "precious\n")
        do {
            try exporter.export(try oneFlow())
        } catch {
            #expect("\(error)".contains("symlink"), "\(error)")
        }
    }

    @Test func onlyARegularFileOfOursWithOneLinkIsAppendedTo() throws {
        try requireRootForOwnership()
        let dir = try makeTrustRoot()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/out"
        // a hard link to a file elsewhere
        try makeFile(dir + "/victim", "precious\n")
        link(dir + "/victim", path)
        #expect(throws: OutputFile.Refused.self) { try OutputFile.openForAppend(path) }
        unlink(path)
        // a file planted by another user, who would read what root writes
        try makeFile(path, "", mode: 0o666, owner: otherUser)
        #expect(throws: OutputFile.Refused.self) { try OutputFile.openForAppend(path) }
        unlink(path)
        // a FIFO is refused at once instead of blocking until someone reads it
        mkfifo(path, 0o666)
        let started = Date()
        #expect(throws: OutputFile.Refused.self) { try OutputFile.openForAppend(path) }
        #expect(Date().timeIntervalSince(started) < 5)
        unlink(path)
        // a fresh file is created 0640 whatever the umask
        let old = umask(0)
        defer { umask(old) }
        let opened = try OutputFile.openForAppend(path)
        close(opened.fd)
        var info = stat()
        stat(path, &info)
        #expect(opened.isEmpty && info.st_mode & 0o777 == 0o640)
    }

    /// The null device is accepted (it discards: the collector bench and `--output /dev/null` use
    /// it), other devices are not, whatever their name: /dev/zero and a device node of the null
    /// device's number made elsewhere under another name.
    @Test func theNullDeviceIsTheOneDeviceWrittenTo() throws {
        let opened = try OutputFile.openForAppend("/dev/null")
        close(opened.fd)
        #expect(throws: OutputFile.Refused.self) { try OutputFile.openForAppend("/dev/zero") }
        #expect(throws: OutputFile.Refused.self) { try OutputFile.openForAppend("/dev/full") }
        try requireRootForOwnership()
        let dir = try makeTrustRoot()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // makedev(1, 3), spelled out as the kernel's devices.txt numbers it
        #expect(mknod(dir + "/sink", S_IFCHR | 0o600, (1 << 8) | 3) == 0)
        let sink = try OutputFile.openForAppend(dir + "/sink")
        close(sink.fd)
        #expect(mknod(dir + "/zero", S_IFCHR | 0o600, (1 << 8) | 5) == 0)
        #expect(throws: OutputFile.Refused.self) { try OutputFile.openForAppend(dir + "/zero") }
    }

    @Test func replaceSwapsTheNameInsteadOfWritingThroughIt() throws {
        let dir = try makeTrustRoot()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try makeFile(dir + "/victim", "precious\n")
        symlink(dir + "/victim", dir + "/stats.json")
        let old = umask(0)
        defer { umask(old) }
        try OutputFile.replace(dir + "/stats.json", with: Data("{}\n".utf8))
        #expect(try String(contentsOfFile: dir + "/victim", encoding: .utf8) == "precious\n")
        #expect(try String(contentsOfFile: dir + "/stats.json", encoding: .utf8) == "{}\n")
        var info = stat()
        lstat(dir + "/stats.json", &info)
        #expect(info.st_mode & S_IFMT == S_IFREG && info.st_mode & 0o777 == 0o640)
    }
}
