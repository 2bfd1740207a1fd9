import Foundation
import FlowgenCore
import FlowgenKernel

/// The flowgen binary with its Templates/ and Features/ copied into a fresh folder that every user
/// can read, laid out as an installation (`bin/flowgen`, `share/flowgen/`), for tests that run
/// flowgen as an unprivileged user: the clone itself may sit in a folder that user cannot enter
/// (root's home is 0700 on Debian), so the build tree is no place to run it from.
struct UnprivilegedCopy {
    /// The folder holding the copy (root's, mode 0755).
    let root: String
    /// The copied binary.
    let flowgen: String

    /// Copies the binary the tests run (`flowgenBinary()`) and the resources it would use.
    init() throws {
        root = NSTemporaryDirectory() + "fgcopy-\(UUID().uuidString)"
        flowgen = root + "/bin/flowgen"
        let resources = try ResourceLocator.locate()
        let share = root + "/share/flowgen"
        let files = FileManager.default
        try files.createDirectory(atPath: share, withIntermediateDirectories: true)
        try files.createDirectory(atPath: root + "/bin", withIntermediateDirectories: true)
        try files.copyItem(atPath: try flowgenBinary(), toPath: flowgen)
        try files.copyItem(atPath: resources.templates, toPath: share + "/Templates")
        try files.copyItem(atPath: resources.features, toPath: share + "/Features")
        // the clone's own modes may be private (a umask of 077): make every copy readable, none writable
        for folder in [root, root + "/bin", root + "/share", share] { chmod(folder, 0o755) }
        chmod(flowgen, 0o755)
        for tree in [share + "/Templates", share + "/Features"] {
            chmod(tree, 0o755)
            for relative in files.enumerator(atPath: tree)?.compactMap({ $0 as? String }) ?? [] {
                var isFolder: ObjCBool = false
                _ = files.fileExists(atPath: tree + "/" + relative, isDirectory: &isFolder)
                chmod(tree + "/" + relative, isFolder.boolValue ? 0o755 : 0o644)
            }
        }
    }

    /// `arguments` run by the copied flowgen as nobody (uid 65534) without capabilities, finding its
    /// resources beside itself (no FLOWGEN_HOME), in the copy's folder: the tests' working folder
    /// is the clone, where nobody could not start clang (a child starts in its parent's folder).
    func asNobody(_ arguments: [String]) -> [String] {
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
         "env", "-C", root, "-u", "FLOWGEN_HOME", flowgen] + arguments
    }

    /// Removes the copy.
    func remove() {
        try? FileManager.default.removeItem(atPath: root)
    }
}
