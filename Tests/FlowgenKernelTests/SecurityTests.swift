import Foundation
import Testing
@testable import FlowgenCore
@testable import FlowgenKernel
@testable import FlowgenTestSupport

/// The uid of the "other user" who plants files (nobody).
private let otherUser: uid_t = 65534

/// What flowgen refuses to trust, reproduced as the attacks were: each test plants what another
/// user could, and checks that root's flowgen neither loads nor writes through it.
@Suite("Security", .serialized)
struct SecurityTests {
    /// A module whose helpers run a constructor in the native build (the replay engine dlopens it),
    /// which writes `marker`: code another user would run as root.
    func constructorModule(root: String, marker: String) throws {
        let dir = root + "/evil"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try """
        name: evil
        summary: runs code when the native build is loaded
        fields:
          - name: evil_packets
            type: u64
            aggregation: sum
            value: "1"
            json: { forward: EVIL_IN, reverse: EVIL_OUT }
        helpers: helpers.bpf.c
        """.write(toFile: dir + "/feature.yaml", atomically: false, encoding: .utf8)
        try """
        #ifdef FG_NATIVE
        #include <stdio.h>
        #include <unistd.h>
        __attribute__((constructor)) static void evil_constructor(void) {
            FILE *f = fopen("\(marker)", "w");
            if (f) { fprintf(f, "constructor ran as uid=%d\\n", (int)geteuid()); fclose(f); }
        }
        #endif
        """.write(toFile: dir + "/helpers.bpf.c", atomically: false, encoding: .utf8)
    }

    /// A fresh folder of root's (mode 0755) under the temporary directory; the caller removes it.
    func scratchFolder() throws -> String {
        let work = NSTemporaryDirectory() + "fgsec-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        return work
    }

    func capture(_ path: String) throws {
        let writer = try PcapWriter(path: path, linkType: .ethernet, nanosecond: true, bigEndian: false)
        for (t, frame) in craftedEngineCapture() { try writer.append(frame, timestampNs: t) }
        try writer.close()
    }

    @Test func aModuleInAFolderOthersCanWriteNeverRunsAsRoot() throws {
        try requireRoot()
        let flowgen = try flowgenBinary()
        let work = try scratchFolder()
        defer { try? FileManager.default.removeItem(atPath: work) }
        try FileManager.default.createDirectory(atPath: work + "/features", withIntermediateDirectories: true)
        let marker = work + "/marker"
        try constructorModule(root: work + "/features", marker: marker)
        try capture(work + "/in.pcap")
        let replay = [flowgen, "replay", "-q", "--engine", "native", "--features", "evil", "--feature-path", work + "/features",
                      "--cache-dir", work + "/cache", work + "/in.pcap"]
        // the module folder anyone can write: before, only the top folder was checked
        chmod(work + "/features/evil", 0o777)
        let refused = try ProcessRunner.run(replay, timeout: .seconds(120))
        #expect(refused.status != 0)
        #expect(refused.stderr.contains(work + "/features/evil") && refused.stderr.contains("--allow-unsafe-feature-path"), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: marker))
        // the module folder is fine but is a symlink into a folder another user owns
        chmod(work + "/features/evil", 0o755)
        try FileManager.default.moveItem(atPath: work + "/features/evil", toPath: work + "/theirs")
        chown(work + "/theirs", otherUser, otherUser)
        symlink(work + "/theirs", work + "/features/evil")
        let linked = try ProcessRunner.run(replay, timeout: .seconds(120))
        #expect(linked.status != 0 && linked.stderr.contains(work + "/theirs"), "\(linked.stderr)")
        #expect(!FileManager.default.fileExists(atPath: marker))
        // the same module where only root can write it does load, and its constructor runs: the
        // refusals above are what stood between the other user and root
        unlink(work + "/features/evil")
        chown(work + "/theirs", 0, 0)
        try FileManager.default.moveItem(atPath: work + "/theirs", toPath: work + "/features/evil")
        let trusted = try ProcessRunner.run(replay, timeout: .seconds(120))
        #expect(trusted.status == 0, "\(trusted.stderr)")
        #expect((try? String(contentsOfFile: marker, encoding: .utf8)) == "constructor ran as uid=0\n")
    }

    @Test func theDefaultCacheIsNeverASharedFolder() throws {
        try requireRoot()
        let chosen = ClangCompiler.defaultCacheDirectory(environment: [:])
        // /tmp/flowgen-cache-0 was the default: anyone could create it first
        #expect(!chosen.hasPrefix("/tmp") && !chosen.hasPrefix(NSTemporaryDirectory()))
        let home = String(cString: getpwuid(0)!.pointee.pw_dir)
        #expect(chosen == home + "/.cache/flowgen")
        #expect(ClangCompiler.defaultCacheDirectory(environment: ["HOME": "/h"]) == "/h/.cache/flowgen")
        #expect(ClangCompiler.defaultCacheDirectory(environment: ["FLOWGEN_CACHE_DIR": "/c", "HOME": "/h"]) == "/c")
    }

    @Test func aCacheAnotherUserCreatedFirstIsRefused() throws {
        try requireRoot()
        let parent = try scratchFolder()
        defer { try? FileManager.default.removeItem(atPath: parent) }
        let planted = parent + "/cache"
        mkdir(planted, 0o755)
        chown(planted, otherUser, otherUser)
        do {
            _ = try ClangCompiler(cacheDirectory: planted).compile(KernelFixture.counterSource(), version: "1.0")
            Issue.record("a cache owned by another user was used")
        } catch let KernelError.untrustedCache(path, reason) {
            #expect(path == planted && reason.contains("uid 65534"), "\(reason)")
            #expect(KernelError.untrustedCache(path: path, reason: reason).description.contains("--cache-dir"))
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: planted).isEmpty)
        // nor one that others can write, whoever owns it
        chown(planted, 0, 0)
        chmod(planted, 0o777)
        #expect(throws: KernelError.self) { try ClangCompiler(cacheDirectory: planted).compile(KernelFixture.counterSource(), version: "1.0") }
    }

    @Test func aCachedObjectAnotherUserCouldHaveWrittenIsNotLoaded() throws {
        try requireRoot()
        let cache = KernelFixture.scratchCache()
        defer { KernelFixture.removeCache(cache) }
        let compiler = ClangCompiler(cacheDirectory: cache)
        let object = try compiler.compile(KernelFixture.counterSource(), version: "1.0")
        #expect(try compiler.cachedObject(KernelFixture.counterSource(), version: "1.0")?.cacheHit == true)
        chown(object.objectPath, otherUser, otherUser)
        #expect(throws: KernelError.self) { try compiler.compile(KernelFixture.counterSource(), version: "1.0") }
        chown(object.objectPath, 0, 0)
        chmod(object.objectPath, 0o666)
        #expect(throws: KernelError.self) { try compiler.cachedObject(KernelFixture.counterSource(), version: "1.0") }
        chmod(object.objectPath, 0o600)
        chmod(object.sourceDirectory, 0o777)
        #expect(throws: KernelError.self) { try compiler.cachedObject(KernelFixture.counterSource(), version: "1.0") }
    }

    @Test func whatTheCacheHoldsIsPrivateWhateverTheUmask() throws {
        try requireRoot()
        let cache = KernelFixture.scratchCache() + "/nested/cache"
        defer { KernelFixture.removeCache((cache as NSString).deletingLastPathComponent.replacingOccurrences(of: "/nested", with: "")) }
        let old = umask(0)
        defer { umask(old) }
        let object = try ClangCompiler(cacheDirectory: cache).compile(KernelFixture.counterSource(), version: "1.0")
        func mode(_ path: String) -> mode_t {
            var info = stat()
            lstat(path, &info)
            return info.st_mode & 0o7777
        }
        #expect(mode(cache) == 0o700 && mode((cache as NSString).deletingLastPathComponent) == 0o700)
        #expect(mode(object.sourceDirectory) == 0o700)
        #expect(mode(object.objectPath) == 0o600)
        #expect(mode(object.sourceDirectory + "/compile.log") == 0o600)
        for name in try FileManager.default.contentsOfDirectory(atPath: cache + "/toolchain") {
            #expect(mode(cache + "/toolchain/" + name) == 0o600, "\(name)")
        }
        for name in try FileManager.default.contentsOfDirectory(atPath: object.sourceDirectory) {
            #expect(mode(object.sourceDirectory + "/" + name) & 0o077 == 0, "\(name) is readable by others")
        }
    }

    @Test func clangKeepsItsTemporaryFilesInThePrivateEntry() throws {
        let cache = KernelFixture.scratchCache()
        defer { KernelFixture.removeCache(cache) }
        let work = try scratchFolder()
        defer { try? FileManager.default.removeItem(atPath: work) }
        // a stand-in for a clang that crashes: clang writes its reproducers to $TMPDIR
        let fake = work + "/clang"
        try """
        #!/bin/sh
        if [ "$1" = "--version" ]; then echo "clang version 0 (stand-in)"; exit 0; fi
        echo "$TMPDIR" > \(work)/tmpdir
        echo "clang: error: unable to execute command: Segmentation fault" >&2
        exit 1
        """.write(toFile: fake, atomically: false, encoding: .utf8)
        chmod(fake, 0o755)
        #expect(throws: KernelError.self) { try ClangCompiler(clang: fake, cacheDirectory: cache).compile(KernelFixture.counterSource(), version: "1.0") }
        let tmpdir = try String(contentsOfFile: work + "/tmpdir", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(tmpdir.hasPrefix(cache + "/") && !tmpdir.hasPrefix("/tmp/fgsec"), "\(tmpdir)")
    }

    @Test func aClangOthersCouldReplaceIsNotRun() throws {
        let cache = KernelFixture.scratchCache()
        defer { KernelFixture.removeCache(cache) }
        let work = try scratchFolder()
        defer { try? FileManager.default.removeItem(atPath: work) }
        let fake = work + "/clang"
        try "#!/bin/sh\ntouch \(work)/ran\nexit 1\n".write(toFile: fake, atomically: false, encoding: .utf8)
        chmod(fake, 0o757)
        do {
            _ = try ClangCompiler(clang: fake, cacheDirectory: cache).compile(KernelFixture.counterSource(), version: "1.0")
            Issue.record("a clang anyone can write was run")
        } catch let KernelError.untrustedTool(path, reason) {
            #expect(path == fake && reason.contains("writable by others"), "\(reason)")
        }
        #expect(!FileManager.default.fileExists(atPath: work + "/ran"))
    }

    @Test func aPinRootAnotherUserCreatedFirstIsRefused() throws {
        try requireRoot()
        let root = "/sys/fs/bpf/fgtest-pins-\(UInt32.random(in: 0...UInt32.max))"
        #expect(mkdir(root, 0o755) == 0, "the BPF filesystem must be mounted at /sys/fs/bpf")
        defer { rmdir(root + "/i"); rmdir(root) }
        chown(root, otherUser, otherUser)
        let paths = try InstancePaths(name: "i", pinRoot: root, stateRoot: "/run/flowgen-test-unused")
        do {
            try PinnedObjects.checkFilesystem(paths)
            Issue.record("a pin root owned by another user was accepted")
        } catch let error as InstanceError {
            #expect(error.description.contains(root) && error.description.contains("chmod 0700"), "\(error)")
        }
        #expect(throws: InstanceError.self) { try InstanceStore.createDirectories(root, root + "/i") }
        #expect(!FileManager.default.fileExists(atPath: root + "/i"))
        // writable by others, owned by root
        chown(root, 0, 0)
        chmod(root, 0o777)
        #expect(throws: InstanceError.self) { try PinnedObjects.checkFilesystem(paths) }
        // created by flowgen: root's, 0700 whatever the umask
        rmdir(root)
        let old = umask(0)
        defer { umask(old) }
        try InstanceStore.createDirectories(root, root + "/i")
        var info = stat()
        stat(root, &info)
        #expect(info.st_uid == 0 && info.st_mode & 0o7777 == 0o700)
        try PinnedObjects.checkFilesystem(paths)
    }

    @Test func statisticsAreWrittenPrivateAndNeverThroughASymlink() throws {
        try requireRoot()
        let flowgen = try flowgenBinary()
        let work = try scratchFolder()
        defer { try? FileManager.default.removeItem(atPath: work) }
        try capture(work + "/in.pcap")
        try "precious\n".write(toFile: work + "/victim", atomically: false, encoding: .utf8)
        symlink(work + "/victim", work + "/stats.json")
        let run = try ProcessRunner.run(["/bin/sh", "-c", "umask 000; exec \"$0\" \"$@\"", flowgen, "replay", "-q", "--format", "none",
                                         "--ipfix", "file://" + work + "/out.ipfix", "--stats-json", work + "/stats.json", work + "/in.pcap"],
                                        timeout: .seconds(120))
        #expect(run.status == 0, "\(run.stderr)")
        #expect(try String(contentsOfFile: work + "/victim", encoding: .utf8) == "precious\n")
        var info = stat()
        lstat(work + "/stats.json", &info)
        #expect(info.st_mode & S_IFMT == S_IFREG && info.st_mode & 0o777 == 0o640)
        stat(work + "/out.ipfix", &info)
        #expect(info.st_mode & 0o777 == 0o640)
        // an IPFIX file planted as a symlink is refused, not followed
        symlink(work + "/victim", work + "/planted.ipfix")
        let refused = try ProcessRunner.run([flowgen, "replay", "-q", "--format", "none", "--ipfix", "file://" + work + "/planted.ipfix",
                                             work + "/in.pcap"], timeout: .seconds(120))
        #expect(refused.status != 0 && refused.stderr.contains("symlink"), "\(refused.stderr)")
        #expect(try String(contentsOfFile: work + "/victim", encoding: .utf8) == "precious\n")
    }
}
