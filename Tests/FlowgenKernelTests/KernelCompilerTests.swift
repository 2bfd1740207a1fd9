import Foundation
import Testing
import FlowgenCore
@testable import FlowgenKernel

@Suite("Kernel compiler")
struct KernelCompilerTests {
    @Test func compilesThenHitsTheCacheWithoutSpawning() throws {
        let cache = KernelFixture.scratchCache()
        defer { KernelFixture.removeCache(cache) }
        let compiler = ClangCompiler(cacheDirectory: cache)

        let first = try compiler.compile(KernelFixture.counterSource(), version: "1.0")
        #expect(!first.cacheHit)
        #expect(FileManager.default.fileExists(atPath: first.objectPath))
        #expect(first.objectPath == "\(cache)/\(first.cacheKey)/obj.o")
        #expect(first.cacheKey.count == 64)
        #expect(FileManager.default.fileExists(atPath: first.sourceDirectory + "/fgk_shared.h"))
        let elf = try #require(FileManager.default.contents(atPath: first.objectPath))
        #expect(Array(elf.prefix(4)) == [0x7F, 0x45, 0x4C, 0x46])

        // A hit finds the same object (its time is measured by `flowgen bench --only build`, cached steps).
        for _ in 0..<2 {
            let again = try compiler.compile(KernelFixture.counterSource(), version: "1.0")
            #expect(again.cacheHit)
            #expect(again.cacheKey == first.cacheKey)
            #expect(again.objectPath == first.objectPath)
        }
    }

    @Test func keyChangesWithSourceAndVersion() throws {
        let cache = KernelFixture.scratchCache()
        defer { KernelFixture.removeCache(cache) }
        let compiler = ClangCompiler(cacheDirectory: cache)
        let base = try compiler.compile(KernelFixture.counterSource(), version: "1.0")
        let otherVersion = try compiler.compile(KernelFixture.counterSource(), version: "1.1")
        let otherSource = try compiler.compile(KernelFixture.counterSource(extraComment: "\n/* changed */\n"), version: "1.0")
        #expect(!otherVersion.cacheHit && !otherSource.cacheHit)
        #expect(Set([base.cacheKey, otherVersion.cacheKey, otherSource.cacheKey]).count == 3)
    }

    @Test func toolchainFingerprintIsRememberedPerStatSignature() throws {
        let cache = KernelFixture.scratchCache()
        defer { KernelFixture.removeCache(cache) }
        let compiler = ClangCompiler(cacheDirectory: cache)
        let clang = try compiler.clangPath()
        let computed = try compiler.toolchainFingerprint(clang: clang)
        #expect(computed.clangVersion.contains("clang version"))
        let memo = try FileManager.default.contentsOfDirectory(atPath: cache + "/toolchain")
        #expect(memo.count == 1)
        let remembered = try compiler.toolchainFingerprint(clang: clang)
        #expect(remembered.clangVersion == computed.clangVersion)
        #expect(remembered.headerDigest == computed.headerDigest)
    }

    @Test func compileErrorCarriesTheFeatureLine() throws {
        let cache = KernelFixture.scratchCache()
        defer { KernelFixture.removeCache(cache) }
        let broken = """
        #include <linux/bpf.h>
        #include <bpf/bpf_helpers.h>
        SEC("tc")
        int fg_entry(struct __sk_buff *skb)
        {
        #line 7 "Features/broken/update.bpf.c"
            int ok = 1;
            return not_declared_anywhere + ok;
        }
        char LICENSE[] SEC("license") = "GPL";
        """
        let source = GeneratedSource(mainFile: "main.c", files: ["main.c": broken], entryProgram: "fg_entry")
        do {
            _ = try ClangCompiler(cacheDirectory: cache).compile(source, version: "test")
            Issue.record("compiling an undeclared identifier succeeded")
        } catch KernelError.compileFailed(let log) {
            #expect(log.contains("Features/broken/update.bpf.c:8"), "\(log)")
            #expect(log.contains("not_declared_anywhere"))
            #expect(KernelError.compileFailed(log: log).description.hasPrefix("clang could not compile"))
        }
        // A failed build must not leave an object that a later run would take as a hit.
        let entries = try FileManager.default.contentsOfDirectory(atPath: cache).filter { $0 != "toolchain" }
        for entry in entries {
            let files = try FileManager.default.contentsOfDirectory(atPath: cache + "/" + entry)
            #expect(!files.contains { $0.hasPrefix("obj.o") }, "\(files)")
        }
    }

    @Test func theNextBuildCompletesAFailedBuildsEntry() throws {
        let cache = KernelFixture.scratchCache()
        defer { KernelFixture.removeCache(cache) }
        try FileManager.default.createDirectory(atPath: cache, withIntermediateDirectories: true)
        // a clang that fails while `fail` exists; it answers --version as the real one, so the key stays
        let real = try ClangCompiler().clangPath()
        let wrapper = cache + "/clang-failing"
        try "#!/bin/sh\n[ -e \(cache)/fail ] && [ \"$1\" != --version ] && exit 1\nexec \(real) \"$@\"\n"
            .write(toFile: wrapper, atomically: true, encoding: .utf8)
        chmod(wrapper, 0o755)
        #expect(FileManager.default.createFile(atPath: cache + "/fail", contents: nil))
        let compiler = ClangCompiler(clang: wrapper, cacheDirectory: cache)
        #expect(throws: KernelError.self) { try compiler.compile(KernelFixture.counterSource(), version: "test") }
        unlink(cache + "/fail")

        // the failed build left its sources in the entry; this build moves its own in, the object last
        let object = try compiler.compile(KernelFixture.counterSource(), version: "test")
        #expect(!object.cacheHit)
        let files = Set(try FileManager.default.contentsOfDirectory(atPath: object.sourceDirectory))
        #expect(files == ["fgk.bpf.c", "fgk_shared.h", "compile.log", "obj.o"], "\(files)")
        #expect(try compiler.compile(KernelFixture.counterSource(), version: "test").cacheHit)
        // debug information names the entry, not the staging directory clang ran in, and none is left
        let bytes = try Data(contentsOf: URL(fileURLWithPath: object.objectPath))
        #expect(bytes.range(of: Data(object.sourceDirectory.utf8)) != nil)
        #expect(bytes.range(of: Data(".tmp-".utf8)) == nil)
        #expect(try FileManager.default.contentsOfDirectory(atPath: cache).filter { $0.contains(".tmp-") }.isEmpty)
    }

    @Test func aStagingDirectoryOfAGoneCompilerIsRemoved() throws {
        let cache = KernelFixture.scratchCache()
        defer { KernelFixture.removeCache(cache) }
        let compiler = ClangCompiler(cacheDirectory: cache)
        let first = try compiler.compile(KernelFixture.counterSource(), version: "one")
        let key = (first.sourceDirectory as NSString).lastPathComponent
        // what a compile of another version left when it was killed, and one still running (this process)
        let other = try compiler.compile(KernelFixture.counterSource(), version: "two")
        try FileManager.default.removeItem(atPath: other.sourceDirectory)
        let gone = try ChildProcess("/bin/true", [])
        try #require(gone.wait(timeout: .seconds(10)) != nil, "/bin/true did not end within 10 s")
        let abandoned = other.sourceDirectory + ".tmp-\(gone.pid)-1"
        let running = other.sourceDirectory + ".tmp-\(getpid())-2"
        let unrelated = cache + "/" + key + ".tmp-\(gone.pid)-3"
        for path in [abandoned, running, unrelated] {
            try FileManager.default.createDirectory(atPath: path + "/sub", withIntermediateDirectories: true)
        }
        _ = try compiler.compile(KernelFixture.counterSource(), version: "two")
        #expect(!FileManager.default.fileExists(atPath: abandoned))
        #expect(FileManager.default.fileExists(atPath: running))
        #expect(FileManager.default.fileExists(atPath: unrelated), "another entry's staging is left to that entry's next compile")
    }

    @Test func missingClangIsAClearError() throws {
        let compiler = ClangCompiler(clang: "/nonexistent/clang-404", cacheDirectory: KernelFixture.scratchCache())
        #expect(throws: KernelError.self) { try compiler.compile(KernelFixture.counterSource(), version: "x") }
        do {
            _ = try compiler.clangPath()
        } catch let error as KernelError {
            #expect(error.description.contains("install clang"))
            #expect(error.description.contains("--clang"))
        }
    }

    @Test func rejectsNamesThatEscapeTheCache() throws {
        let cache = KernelFixture.scratchCache()
        defer { KernelFixture.removeCache(cache) }
        let source = GeneratedSource(mainFile: "main.c", files: ["main.c": "", "../evil.h": ""], entryProgram: "x")
        #expect(throws: KernelError.self) { try ClangCompiler(cacheDirectory: cache).compile(source, version: "x") }
    }

    @Test func cacheDirectoryFollowsTheEnvironmentOrder() {
        #expect(ClangCompiler.defaultCacheDirectory(environment: ["FLOWGEN_CACHE_DIR": "/a", "XDG_CACHE_HOME": "/b", "HOME": "/c"]) == "/a")
        #expect(ClangCompiler.defaultCacheDirectory(environment: ["XDG_CACHE_HOME": "/b", "HOME": "/c"]) == "/b/flowgen")
        #expect(ClangCompiler.defaultCacheDirectory(environment: ["HOME": "/c"]) == "/c/.cache/flowgen")
    }

    @Test func explicitClangWinsAndIsNotSilentlyReplaced() throws {
        let fromPath = ClangCompiler.resolveClang(explicit: nil, environment: ProcessInfo.processInfo.environment)
        let found = try fromPath.get()
        #expect(found.hasSuffix("/clang"))
        let viaEnvironment = ClangCompiler.resolveClang(explicit: nil, environment: ["FLOWGEN_CLANG": found, "PATH": ""])
        #expect(try viaEnvironment.get() == found)
        let wrong = ClangCompiler.resolveClang(explicit: "/nope/clang", environment: ProcessInfo.processInfo.environment)
        #expect(throws: KernelError.self) { try wrong.get() }
    }
}
