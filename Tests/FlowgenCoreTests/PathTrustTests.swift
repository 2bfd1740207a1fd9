import Foundation
import Testing
@testable import FlowgenCore

/// A user id that is not root and not the tests' user: the "other user" of the attacks.
let otherUser: uid_t = 65534

/// Fails the test unless it runs as root (giving files to another user needs it).
func requireRootForOwnership(sourceLocation: SourceLocation = #_sourceLocation) throws {
    try #require(geteuid() == 0, "this test gives files to another user (uid 65534) and needs root", sourceLocation: sourceLocation)
}

/// A fresh folder (mode 0755, owned by the tests' user) under the temporary directory; removed by the caller.
func makeTrustRoot() throws -> String {
    let root = NSTemporaryDirectory() + "fgtrust-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
    return root
}

func makeFolder(_ path: String, mode: mode_t = 0o755, owner: uid_t? = nil) throws {
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    chmod(path, mode)
    if let owner { chown(path, owner, owner) }
}

func makeFile(_ path: String, _ text: String = "x", mode: mode_t = 0o644, owner: uid_t? = nil) throws {
    try text.write(toFile: path, atomically: false, encoding: .utf8)
    chmod(path, mode)
    if let owner { chown(path, owner, owner) }
}

@Suite struct PathTrustTests {
    let trust = PathTrust(owners: [UInt32(geteuid())])

    func refusal(_ path: String, _ kind: PathTrust.Kind) -> PathTrust.Untrusted? {
        do {
            try trust.check(path, is: kind)
            return nil
        } catch let error as PathTrust.Untrusted {
            return error
        } catch {
            Issue.record("unexpected \(error)")
            return nil
        }
    }

    @Test func acceptsFilesOfRootAndTheUserInFoldersOnlyTheyWrite() throws {
        let root = try makeTrustRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try makeFolder(root + "/m")
        try makeFile(root + "/m/feature.yaml")
        #expect(try trust.check(root + "/m/feature.yaml", is: .file) == root + "/m/feature.yaml")
        #expect(try trust.check(root + "/m", is: .directory) == root + "/m")
        // the kinds are checked too
        #expect(refusal(root + "/m", .file)?.reason == "is not a regular file")
        #expect(refusal(root + "/m/feature.yaml", .directory)?.reason == "is not a folder")
    }

    @Test func refusesWhatOthersCanWrite() throws {
        let root = try makeTrustRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try makeFolder(root + "/open", mode: 0o777)
        try makeFile(root + "/open/file")
        try makeFolder(root + "/group", mode: 0o775)
        try makeFile(root + "/group/file")
        try makeFolder(root + "/closed")
        try makeFile(root + "/closed/world", mode: 0o666)
        // the folder on the way, not the file, is the fault: anyone can replace the file
        #expect(refusal(root + "/open/file", .file)?.component == root + "/open")
        #expect(refusal(root + "/group/file", .file)?.reason.contains("writable by its group") == true)
        let world = refusal(root + "/closed/world", .file)
        #expect(world?.component == root + "/closed/world" && world?.reason.contains("writable by others") == true)
        // a world-writable target is refused even with the sticky bit: others can add to it
        try makeFolder(root + "/sticky", mode: 0o1777)
        #expect(refusal(root + "/sticky", .directory)?.reason.contains("writable by others") == true)
    }

    @Test func refusesWhatAnotherUserOwns() throws {
        try requireRootForOwnership()
        let root = try makeTrustRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try makeFolder(root + "/theirs", owner: otherUser)
        try makeFile(root + "/theirs/feature.yaml")
        try makeFolder(root + "/mine")
        try makeFile(root + "/mine/feature.yaml", owner: otherUser)
        #expect(refusal(root + "/theirs/feature.yaml", .file)?.component == root + "/theirs")
        #expect(refusal(root + "/mine/feature.yaml", .file)?.reason.contains("owned by uid 65534") == true)
    }

    @Test func followsSymlinksAndChecksEveryFolderOnTheWay() throws {
        try requireRootForOwnership()
        let root = try makeTrustRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        // a link of ours into a folder another user owns
        try makeFolder(root + "/elsewhere/theirs", owner: otherUser)
        try makeFile(root + "/elsewhere/theirs/feature.yaml")
        try makeFolder(root + "/path")
        symlink("../elsewhere/theirs", root + "/path/module")
        let through = refusal(root + "/path/module/feature.yaml", .file)
        #expect(through?.component == root + "/elsewhere/theirs", "\(String(describing: through))")
        // a link to a trusted folder, but the link sits where others can replace it
        try makeFolder(root + "/good")
        try makeFile(root + "/good/feature.yaml")
        try makeFolder(root + "/open", mode: 0o777)
        symlink(root + "/good", root + "/open/module")
        #expect(refusal(root + "/open/module/feature.yaml", .file)?.component == root + "/open")
        // a trusted link to a trusted folder resolves to it, `..` taken from the link's target
        symlink("../good", root + "/path/good-link")
        #expect(try trust.check(root + "/path/good-link/feature.yaml", is: .file) == root + "/good/feature.yaml")
        // a loop ends with a message, not a hang
        symlink("loop", root + "/path/loop")
        #expect(refusal(root + "/path/loop/x", .file)?.reason.contains("symlink too many") == true)
    }

    @Test func passesThroughStickyFoldersOnlyToEntriesOfTrustedOwners() throws {
        try requireRootForOwnership()
        let root = try makeTrustRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try makeFolder(root + "/tmp", mode: 0o1777)
        try makeFolder(root + "/tmp/mine")
        try makeFile(root + "/tmp/mine/file")
        #expect(try trust.check(root + "/tmp/mine/file", is: .file) == root + "/tmp/mine/file")
        // created first by another user, as /tmp/flowgen-cache-0 or /sys/fs/bpf/flowgen could be
        try makeFolder(root + "/tmp/planted", mode: 0o755, owner: otherUser)
        #expect(refusal(root + "/tmp/planted", .directory)?.reason.contains("owned by uid 65534") == true)
        // a symlink another user planted in a sticky folder, pointing at a good folder
        symlink(root + "/tmp/mine", root + "/tmp/link")
        lchown(root + "/tmp/link", otherUser, otherUser)
        #expect(refusal(root + "/tmp/link/file", .file)?.component == root + "/tmp/link")
    }

    @Test func theSudoUserIsTrustedOnlyWithRootPrivileges() throws {
        let trust = PathTrust.invokingUser
        #expect(trust.owners.contains(0) && trust.owners.contains(UInt32(geteuid())))
        #expect(PathTrust.effectiveUser.owners == Set([0, UInt32(geteuid())]))
    }
}

@Suite struct FeaturePathTrustTests {
    let yaml = """
    name: m
    fields:
      - name: x
        type: u64
        aggregation: sum
        value: "1"
        export: false
    helpers: helpers.bpf.c
    """

    func expectUnsafe(_ paths: [String], naming component: String, sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            _ = try FeatureLoader(searchPaths: paths).loadAll()
            Issue.record("expected the feature path to be refused", sourceLocation: sourceLocation)
        } catch let FeatureError.unsafeFeaturePath(_, reason) {
            #expect(reason.contains(component), "\(reason)", sourceLocation: sourceLocation)
            let message = FeatureError.unsafeFeaturePath("p", reason: reason).description
            #expect(message.contains("--allow-unsafe-feature-path") && message.contains("chmod go-w"), sourceLocation: sourceLocation)
        } catch {
            Issue.record("unexpected \(error)", sourceLocation: sourceLocation)
        }
    }

    @Test func aModuleFolderOrFileOthersCanWriteIsRefused() throws {
        let root = try makeTrustRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        _ = try writeModule("m", yaml: yaml, files: ["helpers.bpf.c": "// helper\n"], root: root)
        #expect(try FeatureLoader(searchPaths: [root]).loadAll().map(\.name) == ["m"])
        // only the top folder was checked before: a module folder anyone can write passed
        chmod(root + "/m", 0o777)
        expectUnsafe([root], naming: root + "/m")
        chmod(root + "/m", 0o755)
        chmod(root + "/m/helpers.bpf.c", 0o666)
        expectUnsafe([root], naming: root + "/m/helpers.bpf.c")
        chmod(root + "/m/helpers.bpf.c", 0o644)
        chmod(root + "/m/feature.yaml", 0o664)
        expectUnsafe([root], naming: root + "/m/feature.yaml")
        // the override reads it all the same
        #expect(try FeatureLoader(searchPaths: [root], trust: nil).loadAll().map(\.name) == ["m"])
    }

    @Test func aModuleFolderLinkedIntoAnotherUsersFolderIsRefused() throws {
        try requireRootForOwnership()
        let root = try makeTrustRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let theirs = root + "/theirs"
        _ = try writeModule("m", yaml: yaml, files: ["helpers.bpf.c": "// helper\n"], root: theirs)
        chown(theirs, otherUser, otherUser)
        try makeFolder(root + "/path")
        symlink(theirs + "/m", root + "/path/m")
        expectUnsafe([root + "/path"], naming: theirs)
    }

    @Test func theCatalogChecksTheTemplatesAndHonoursTheOverride() throws {
        let root = try makeTrustRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let real = try ResourceLocator.locate()
        try makeFolder(root + "/Templates")
        for name in try FileManager.default.contentsOfDirectory(atPath: real.templates) where name.hasSuffix(".h") || name.hasSuffix(".c") {
            try FileManager.default.copyItem(atPath: real.templates + "/" + name, toPath: root + "/Templates/" + name)
        }
        let resources = ResourceLocator(templates: root + "/Templates", features: real.features)
        #expect(try FeatureCatalog(resources: resources).modules.contains { $0.name == "base" })
        chmod(root + "/Templates/flowgen.h", 0o666)
        #expect(throws: FeatureError.self) { try FeatureCatalog(resources: resources) }
        #expect(try FeatureCatalog(resources: resources, allowUnsafe: true).modules.contains { $0.name == "base" })
    }
}
