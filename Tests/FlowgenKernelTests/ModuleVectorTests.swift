import Foundation
import Testing
@testable import FlowgenCore
@testable import FlowgenKernel
import FlowgenTestSupport

/// A private folder (0700, so flowgen trusts it as a feature path), removed afterwards.
final class PrivateFolder {
    let path: String
    init(_ prefix: String) throws {
        var template = Array((NSTemporaryDirectory() + "\(prefix)-XXXXXX").utf8CString)
        path = try #require(mkdtemp(&template).map { String(cString: $0) })
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// `flowgen test` over the built-in modules' vectors and over vectors that must fail.
@Suite(.serialized) struct ModuleVectorTests {
    @Test func everyBuiltInModulePassesItsVectorsOnBothEngines() throws {
        try requireRoot()
        let modules = try FeatureLoader(searchPaths: [ResourceLocator.locate().features]).loadAll()
        // presets too: their vectors check a value of each module they select
        for module in modules {
            #expect(!TestVector.files(inModule: module.directory).isEmpty, "built-in module \(module.name) has no test vector")
        }
        let r = try ProcessRunner.run([try flowgenBinary(), "test", "--engine", "both"], timeout: .seconds(600))
        #expect(r.succeeded, "\(r.stdout)\(r.stderr)")
        let lines = r.stdout.split(separator: "\n").map(String.init)
        for module in modules {
            for engine in ["native", "kernel"] {
                #expect(lines.contains { $0.hasPrefix("PASS  \(module.name)/") && $0.hasSuffix("(\(engine))") }, "no \(engine) pass of \(module.name): \(r.stdout)")
            }
        }
        #expect(!lines.contains { $0.hasPrefix("FAIL") || $0.hasPrefix("no vectors") }, "\(r.stdout)")
    }

    /// A copy of the built-in pkt_len under another name, in a private feature path, with `vectors`.
    func lengthModule(_ folder: PrivateFolder, vectors: [String: String]) throws -> String {
        let builtIn = try ResourceLocator.locate().features + "/pkt_len"
        let module = folder.path + "/fvlen"
        try FileManager.default.createDirectory(atPath: module + "/tests", withIntermediateDirectories: true)
        let spec = try String(contentsOfFile: builtIn + "/feature.yaml", encoding: .utf8)
            .replacingOccurrences(of: "name: pkt_len", with: "name: fvlen")
        try spec.write(toFile: module + "/feature.yaml", atomically: true, encoding: .utf8)
        try FileManager.default.copyItem(atPath: builtIn + "/update.bpf.c", toPath: module + "/update.bpf.c")
        for (name, text) in vectors { try text.write(toFile: module + "/tests/\(name).yaml", atomically: true, encoding: .utf8) }
        return folder.path
    }

    static let lengths = """
    # 60 and 1514 bytes out: min 60, max 1514, bins 0 and 5
    flow: { src: 198.18.0.1, dst: 198.18.0.2, proto: udp, sport: 40000, dport: 5000 }
    packets:
      - { t: 0, len: 60 }
      - { t: 0.001, len: 1514 }
    expect:
      forward: { ip_len_min: 60, ip_len_max: MAX, ip_len_hist: [1, 0, 0, 0, 0, 1] }
      reverse: { ip_len_min: absent }

    """

    @Test func aWrongVectorFailsNamingTheFieldAndBothValues() throws {
        let folder = try PrivateFolder("fvvec")
        let path = try lengthModule(folder, vectors: ["right": Self.lengths.replacingOccurrences(of: "MAX", with: "1514"),
                                                      "wrong": Self.lengths.replacingOccurrences(of: "MAX", with: "1515")])
        let r = try ProcessRunner.run([try flowgenBinary(), "test", "--feature-path", path, "fvlen"], timeout: .seconds(300))
        #expect(r.status == 1, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("PASS  fvlen/right (native)\n"), "\(r.stdout)")
        #expect(r.stdout.contains("FAIL  fvlen/wrong (native)\n      flow 1 forward ip_len_max (SRC_MAX_IP_PKT_LEN): expected 1515, got 1514\n"), "\(r.stdout)")
        #expect(r.stdout.hasSuffix("1 passed, 1 failed\n"), "\(r.stdout)")
        // without a module name, the modules of the feature path run (not the built-in ones)
        let all = try ProcessRunner.run([try flowgenBinary(), "test", "--feature-path", path], timeout: .seconds(300))
        #expect(all.status == 1 && !all.stdout.contains("pkt_len/") && all.stdout.contains("fvlen/wrong"), "\(all.stdout)")
    }

    @Test func theKernelEngineReportsTheSameDifference() throws {
        try requireRoot()
        let folder = try PrivateFolder("fvvec")
        let path = try lengthModule(folder, vectors: ["wrong": Self.lengths.replacingOccurrences(of: "MAX", with: "9")])
        let r = try ProcessRunner.run([try flowgenBinary(), "test", "--engine", "kernel", "--feature-path", path, "fvlen"], timeout: .seconds(300))
        #expect(r.status == 1)
        #expect(r.stdout.contains("FAIL  fvlen/wrong (kernel)\n      flow 1 forward ip_len_max (SRC_MAX_IP_PKT_LEN): expected 9, got 1514\n"), "\(r.stdout)")
    }

    @Test func aBrokenVectorIsAFailureWithItsFileAndLine() throws {
        let folder = try PrivateFolder("fvvec")
        let path = try lengthModule(folder, vectors: ["typo": Self.lengths.replacingOccurrences(of: "ip_len_max: MAX", with: "ip_len_mux: 1")])
        let r = try ProcessRunner.run([try flowgenBinary(), "test", "--feature-path", path, "fvlen"], timeout: .seconds(300))
        #expect(r.status == 1)
        #expect(r.stdout.contains("FAIL  fvlen/typo (native): \(path)/fvlen/tests/typo.yaml:7: error: no selected module has a field 'ip_len_mux'; did you mean 'ip_len_max'?"), "\(r.stdout)")
    }

    /// The native engine needs no privileges: as nobody (own cache folder), vectors pass; the
    /// kernel engine is refused saying so.
    @Test func theNativeEngineRunsWithoutRoot() throws {
        try requireRoot() // to become nobody
        // nobody may not be able to enter the clone (a clone under /root): a copy outside it runs
        let copy = try UnprivilegedCopy()
        defer { copy.remove() }
        let home = try PrivateFolder("fvnobody")
        chown(home.path, 65534, 65534)
        let cache = ["--cache-dir", home.path + "/cache"]
        let native = try ProcessRunner.run(copy.asNobody(["test"] + cache + ["tcp", "pkt_len"]), timeout: .seconds(300))
        #expect(native.succeeded && native.stdout.hasSuffix("3 passed, 0 failed\n"), "\(native.stdout)\(native.stderr)")
        let kernel = try ProcessRunner.run(copy.asNobody(["test", "--engine", "kernel"] + cache + ["tcp"]))
        #expect(!kernel.succeeded && kernel.stderr.contains("or run the vectors with --engine native, which needs no privileges"), "\(kernel.stderr)")
    }

    @Test func commandLineHelpAndErrors() throws {
        let flowgen = try flowgenBinary()
        let help = try ProcessRunner.run([flowgen, "test", "--help"])
        #expect(help.succeeded)
        for text in ["--engine <native|kernel|both>", "--feature-path <dir>", "<module>", "tests/*.yaml"] {
            #expect(help.stdout.contains(text), "\(text) missing from: \(help.stdout)")
        }
        let typo = try ProcessRunner.run([flowgen, "test", "tpc"])
        #expect(!typo.succeeded && typo.stderr.contains("unknown module 'tpc'; did you mean 'tcp'?"), "\(typo.stderr)")
        // a module without tests/: refused when named, and a path of such modules runs nothing
        let folder = try PrivateFolder("fvvec")
        try FileManager.default.createDirectory(atPath: folder.path + "/fvnovec", withIntermediateDirectories: false)
        try "name: fvnovec\nsummary: nothing to test\n".write(toFile: folder.path + "/fvnovec/feature.yaml", atomically: true, encoding: .utf8)
        let named = try ProcessRunner.run([flowgen, "test", "--feature-path", folder.path, "fvnovec"])
        #expect(!named.succeeded && named.stderr.contains("module 'fvnovec' has no test vectors: add \(folder.path)/fvnovec/tests/NAME.yaml"), "\(named.stderr)")
        let none = try ProcessRunner.run([flowgen, "test", "--feature-path", folder.path])
        #expect(!none.succeeded && none.stderr.contains("no module in \(folder.path) has test vectors"), "\(none.stderr)")
        let engine = try ProcessRunner.run([flowgen, "test", "--engine", "bpf"])
        #expect(!engine.succeeded && engine.stderr.contains("bpf"), "\(engine.stderr)")
        let listed = try ProcessRunner.run([flowgen, "--help"])
        #expect(listed.stdout.contains("test") && listed.stdout.contains("Run feature modules' test vectors"), "\(listed.stdout)")
    }
}

/// `flowgen new-feature`: the module it writes passes its own vector on both engines and builds.
@Suite(.serialized) struct NewFeatureCommandTests {
    @Test func theScaffoldPassesItsVectorAndBuilds() throws {
        try requireRoot()
        let folder = try PrivateFolder("fvnew")
        let flowgen = try flowgenBinary()
        let dir = folder.path + "/features"
        let made = try ProcessRunner.run([flowgen, "new-feature", "fv_large", "--dir", dir])
        #expect(made.succeeded, "\(made.stdout)\(made.stderr)")
        #expect(made.stdout.contains("wrote \(dir)/fv_large/: feature.yaml, update.bpf.c, tests/fv_large.yaml"), "\(made.stdout)")
        #expect(!made.stdout.contains("note:"), "the new feature path is refused: \(made.stdout)")
        let tested = try ProcessRunner.run([flowgen, "test", "--engine", "both", "--feature-path", dir, "fv_large"], timeout: .seconds(300))
        #expect(tested.succeeded && tested.stdout == "PASS  fv_large/fv_large (native)\nPASS  fv_large/fv_large (kernel)\n2 passed, 0 failed\n",
                "\(tested.stdout)\(tested.stderr)")
        let built = try ProcessRunner.run([flowgen, "build", "--feature-path", dir, "--features", "fv_large"], timeout: .seconds(300))
        #expect(built.succeeded && built.stdout.contains("fv_large"), "\(built.stdout)\(built.stderr)")
        // a second time: the folder exists and is left as it is
        let again = try ProcessRunner.run([flowgen, "new-feature", "fv_large", "--dir", dir])
        #expect(!again.succeeded && again.stderr.contains("cannot create '\(dir)/fv_large': it already exists"), "\(again.stderr)")
    }

    @Test func withSudoTheFilesAreTheInvokingUsers() throws {
        try requireRoot()
        let folder = try PrivateFolder("fvnew")
        let dir = folder.path + "/features"
        let made = try ProcessRunner.run(["env", "SUDO_UID=65534", "SUDO_GID=65534", try flowgenBinary(), "new-feature", "fv_mine", "--dir", dir])
        #expect(made.succeeded, "\(made.stderr)")
        for path in [dir, dir + "/fv_mine", dir + "/fv_mine/feature.yaml", dir + "/fv_mine/update.bpf.c", dir + "/fv_mine/tests", dir + "/fv_mine/tests/fv_mine.yaml"] {
            var info = stat()
            #expect(lstat(path, &info) == 0 && info.st_uid == 65534 && info.st_gid == 65534, "\(path) is owned by \(info.st_uid):\(info.st_gid)")
        }
    }

    @Test func namesAndHelp() throws {
        let flowgen = try flowgenBinary()
        let help = try ProcessRunner.run([flowgen, "new-feature", "--help"])
        #expect(help.succeeded && help.stdout.contains("--dir <dir>") && help.stdout.contains("<name>"), "\(help.stdout)")
        let bad = try ProcessRunner.run([flowgen, "new-feature", "syn-count"])
        #expect(!bad.succeeded && bad.stderr.contains("'syn-count' is not a module name"), "\(bad.stderr)")
        let taken = try ProcessRunner.run([flowgen, "new-feature", "splt"])
        #expect(!taken.succeeded && taken.stderr.contains("a module called 'splt' already exists"), "\(taken.stderr)")
        let missing = try ProcessRunner.run([flowgen, "new-feature"])
        #expect(!missing.succeeded && missing.stderr.contains("<name>"), "\(missing.stderr)")
    }
}

/// Module parameters from the command line, `--config` and `flowgen features`.
@Suite(.serialized) struct ModuleParameterCommandTests {
    /// The plan JSON of a build, with splt's parameter and its arrays' length.
    func spltOfPlan(_ arguments: [String]) throws -> (n: Int?, bins: Int?, length: Int?) {
        let r = try ProcessRunner.run([try flowgenBinary(), "build", "--emit", "plan"] + arguments, timeout: .seconds(300))
        try #require(r.succeeded, "\(r.stderr)")
        let plan = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        let n = ((plan["parameters"] as? [String: Any])?["splt"] as? [String: Any])?["n"] as? Int
        let fields = ((plan["record"] as? [String: Any])?["fields"] as? [[String: Any]]) ?? []
        let bins = fields.first { $0["name"] as? String == "splt_t" }?["count"] as? Int
        let length = (plan["sequences"] as? [[String: Any]])?.first?["length"] as? Int
        return (n, bins, length)
    }

    @Test func theCommandLineAndConfigSetAParameter() throws {
        try requireRoot()
        let twenty = try spltOfPlan(["--features", "splt:n=20"])
        #expect(twenty.n == 20 && twenty.bins == 20 && twenty.length == 20, "\(twenty)")
        let standard = try spltOfPlan(["--features", "splt"])
        #expect(standard.n == 10 && standard.bins == 10 && standard.length == 10, "\(standard)")
    }

    /// `run --config` with `features = splt:n=16`: 12 pings on a namespace's loopback make a flow
    /// of 24 packets, whose splt arrays hold 16 of them.
    @Test func aConfigFileSetsAParameterForRun() throws {
        try requireRoot()
        let folder = try PrivateFolder("fvconf")
        let config = folder.path + "/flowgen.conf"
        try "features = splt:n=16\nformat = json\n".write(toFile: config, atomically: true, encoding: .utf8)
        chmod(config, 0o600)
        let ns = "fvcfg\(getpid() % 100_000)"
        _ = try ProcessRunner.run(["ip", "netns", "del", ns])
        let added = try ProcessRunner.run(["ip", "netns", "add", ns])
        try #require(added.succeeded, "\(added.stderr)")
        defer { _ = try? ProcessRunner.run(["ip", "netns", "del", ns]) }
        _ = try ProcessRunner.run(["ip", "-n", ns, "link", "set", "lo", "up"])
        // the pings start once the filter is attached (a compile on a loaded machine takes longer
        // than any fixed pause); --duration counts from the collector's start, after the attach
        let waitForFilter = "for i in $(seq 1 1200); do tc filter show dev lo egress | grep -q bpf && break; sleep 0.1; done"
        let script = "(\(waitForFilter); ping -c 12 -i 0.05 127.0.0.1 >/dev/null) & exec \(try flowgenBinary()) run -q -i lo --config \(config) --duration 4"
        let r = try ProcessRunner.run(["ip", "netns", "exec", ns, "sh", "-c", script], timeout: .seconds(120))
        #expect(r.succeeded, "\(r.stderr)")
        let flows = r.stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        let ping = flows.first { ($0["PROTOCOL"] as? Int) == 1 && ($0["IN_PKTS"] as? Int ?? 0) >= 12 }
        let sizes = try #require(ping?["splt_ps"] as? [Int], "no ping flow in: \(r.stdout)")
        // 84-byte echo requests and replies (20 IP + 8 ICMP + 56 data), all 16 places filled
        #expect(sizes == Array(repeating: 84, count: 16), "\(sizes)")
    }

    @Test func errorsNameTheModuleAndTheParameter() throws {
        let flowgen = try flowgenBinary()
        for (spec, message) in [
            ("splt:nn=20", "flowgen: error: feature 'splt' has no parameter 'nn'; did you mean 'n'?"),
            ("splt:n=lots", "flowgen: error: feature 'splt': parameter n='lots' must be a whole number"),
            ("splt:n=100", "flowgen: error: feature 'splt': parameter n=100 is out of range: from 2 to 64"),
        ] {
            let r = try ProcessRunner.run([flowgen, "build", "--features", spec, "--emit", "c"])
            #expect(!r.succeeded && r.stderr.hasPrefix(message), "\(spec): \(r.stderr)")
        }
        let listed = try ProcessRunner.run([flowgen, "features"])
        #expect(listed.stdout.contains("[parameters n=10 (splt:NAME=VALUE)]\n"), "\(listed.stdout)")
        let fields = try ProcessRunner.run([flowgen, "features", "--fields"])
        #expect(fields.stdout.contains("    parameter n = 10 (2 to 64): packets kept per flow (nfstream's splt_analysis); set with --features splt:n=VALUE\n")
                && fields.stdout.contains("splt_t: u64[10] histogram"), "\(fields.stdout)")
        // the C of n = 20 differs from n = 10's where it matters
        let c = try ProcessRunner.run([flowgen, "build", "--features", "splt:n=20", "--emit", "c"])
        #expect(c.stdout.contains("#define FG_PARAM_SPLT_N 20\n") && c.stdout.contains("__u64 splt_t[20];"), "\(c.stdout.prefix(2000))")
    }
}

/// docs/modules.md's "Writing a module", followed literally: its shell blocks run in order in an
/// empty home folder (sudo dropped, as the tests run as root; `run -i eth0` left out, as this
/// machine's eth0 is not the tests' to attach to; `trace.pcap` a capture of the corpus).
@Suite(.serialized) struct ModuleTutorialTests {
    @Test func theTutorialProducesATestedModuleThatBuildsAndReplays() throws {
        try requireRoot()
        let docs = NfstreamReference.repository + "/docs/modules.md"
        let text = try String(contentsOfFile: docs, encoding: .utf8)
        let start = try #require(text.range(of: "## Writing a module\n"))
        let section = text[start.upperBound...].components(separatedBy: "\n## ")[0]
        let blocks = section.components(separatedBy: "```sh\n").dropFirst().map { $0.components(separatedBy: "\n```")[0] }
        #expect(blocks.count == 6, "\(blocks.count) shell blocks")
        let capture = NfstreamReference.repository + "/Tests/Captures/tcpdump-tests/ssh.pcap"
        let script = blocks.joined(separator: "\n").split(separator: "\n", omittingEmptySubsequences: false)
            .filter { !$0.contains("flowgen run ") }
            .map { $0.replacingOccurrences(of: "sudo ", with: "").replacingOccurrences(of: "trace.pcap", with: capture) }
            .joined(separator: "\n")
        let home = try PrivateFolder("fvtutorial")
        chmod(home.path, 0o755)
        let bin = home.path + "/bin"
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: false)
        try FileManager.default.createSymbolicLink(atPath: bin + "/flowgen", withDestinationPath: try flowgenBinary())
        let r = try ProcessRunner.run(["env", "HOME=\(home.path)", "PATH=\(bin):\(ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")", "bash", "-euo", "pipefail", "-c", script],
                                      timeout: .seconds(600))
        #expect(r.succeeded, "\(r.stdout)\(r.stderr)")
        // both vectors, the scaffold's and the one the tutorial adds, on both engines
        for line in ["PASS  big_pkts/big_pkts (native)", "PASS  big_pkts/threshold (native)", "PASS  big_pkts/threshold (kernel)",
                     "4 passed, 0 failed"] {
            #expect(r.stdout.contains(line + "\n"), "\(line) missing: \(r.stdout)")
        }
        #expect(r.stdout.contains("built flowgen_entry [base,big_pkts,ipv4,ipv6,tcp]"), "\(r.stdout)")
        // the replay: ssh.pcap's one flow with the module's fields (3 + 1 packets of 1000 bytes or more)
        #expect(r.stdout.contains("\"BIG_PKTS_LARGE_PKTS_IN\":3,\"BIG_PKTS_LARGE_PKTS_OUT\":1"), "\(r.stdout)")
    }
}
