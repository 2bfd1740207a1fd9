import Foundation
import Testing
@testable import FlowgenCore

/// `flowgen new-feature`'s folder: names checked as module names, exact modes, never over an
/// existing folder, and a module the loader accepts as written.
@Suite struct ModuleScaffoldTests {
    func folder() throws -> String {
        var template = Array((NSTemporaryDirectory() + "fvscaffold-XXXXXX").utf8CString)
        return try #require(mkdtemp(&template).map { String(cString: $0) })
    }

    @Test func namesAreCheckedAsModuleNames() throws {
        for bad in ["9lives", "syn-count", "a b", "", "x.y", "all", String(repeating: "a", count: 41)] {
            #expect(throws: ScaffoldError.self, "\(bad)") { try ModuleScaffold(name: bad, existing: []) }
        }
        #expect(throws: ScaffoldError("a module called 'tcp' already exists (`flowgen features` lists them); choose another name, as --features could not tell the two apart")) {
            try ModuleScaffold(name: "tcp", existing: ["base", "tcp"])
        }
        #expect(try ModuleScaffold(name: "syn_count", existing: ["tcp"]).name == "syn_count")
    }

    @Test func theFolderHasExactModesAndLoadsAsWritten() throws {
        let dir = try folder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let old = umask(0o077) // a strict umask must not leave files the loader cannot read as intended
        defer { umask(old) }
        let module = try ModuleScaffold(name: "fv_big", existing: []).write(in: dir)
        #expect(module == dir + "/fv_big")
        func mode(_ path: String) -> mode_t {
            var info = stat()
            return stat(path, &info) == 0 ? info.st_mode & 0o7777 : 0
        }
        #expect(mode(module) == 0o755 && mode(module + "/tests") == 0o755)
        for file in ["feature.yaml", "update.bpf.c", "tests/fv_big.yaml"] {
            #expect(mode(module + "/" + file) == 0o644, "\(file)")
        }
        let loaded = try FeatureLoader(searchPaths: [dir]).loadAll()
        #expect(loaded.map(\.name) == ["fv_big"])
        #expect(loaded[0].fields.map(\.name) == ["fv_big_large_packets", "fv_big_max_payload"])
        #expect(loaded[0].fields[0].json.forward == ["FV_BIG_LARGE_PKTS_IN"])
        let vector = try TestVector.load(module + "/tests/fv_big.yaml")
        #expect(vector.flows.count == 1 && vector.flows[0].values.count == 6)
    }

    @Test func anExistingFolderIsRefusedAndLeftAlone() throws {
        let dir = try folder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/mine", withIntermediateDirectories: false)
        try "keep".write(toFile: dir + "/mine/notes", atomically: false, encoding: .utf8)
        #expect(throws: ScaffoldError("cannot create '\(dir)/mine': it already exists; choose another name or --dir, flowgen does not overwrite a module")) {
            try ModuleScaffold(name: "mine", existing: []).write(in: dir)
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/mine") == ["notes"])
    }

    @Test func aMissingFeaturePathIsNotCreatedOnTheWay() throws {
        let dir = try folder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // the module goes into DIR, which must exist: a typo in --dir should not grow a tree
        let missing = dir + "/no/such"
        #expect(throws: ScaffoldError.self) { try ModuleScaffold(name: "fv_x", existing: []).write(in: missing) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty)
    }
}
