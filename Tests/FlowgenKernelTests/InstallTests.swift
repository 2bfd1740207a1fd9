import Foundation
import Testing
import FlowgenCore
import FlowgenKernel
@testable import FlowgenTestSupport

/// The clone this test file belongs to (Tests/FlowgenKernelTests/InstallTests.swift is three levels down).
private let cloneRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent().path

/// The subcommands the README and docs/commands.md document, each of which the man page and the completions must cover.
private let subcommands = ["features", "build", "run", "replay", "load", "collect", "unload", "status", "purge", "bench", "schema", "test", "new-feature"]

/// Every path under `root` (files and folders), relative to it, sorted.
private func tree(_ root: String) -> [String] {
    (FileManager.default.enumerator(atPath: root)?.compactMap { $0 as? String } ?? []).sorted()
}

/// A fresh root-owned folder of mode `mode` in the temporary folder, named for this suite.
private func freshFolder(_ name: String, mode: mode_t = 0o755) throws -> String {
    let path = NSTemporaryDirectory() + "fginstall-\(name)-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
    #expect(chown(path, 0, 0) == 0 && chmod(path, mode) == 0)
    return path
}

@Suite("Install", .serialized)
struct InstallTests {
    /// Runs scripts/install.sh (or uninstall.sh) as a person would, from a folder outside the clone;
    /// `timeout` ends its whole process group (the SwiftPM processes too) if it hangs.
    private func script(_ name: String, _ arguments: [String], from cwd: String) throws -> ProcessResult {
        let result = try ProcessRunner.run(["timeout", "-k", "5", "240", "env", "-C", cwd, "bash", cloneRoot + "/scripts/" + name] + arguments,
                                           timeout: .seconds(260))
        #expect(result.status != 124, "\(name) took more than 240 s:\n\(result.stdout)\n\(result.stderr)")
        return result
    }

    /// Runs the installed `flowgen` found through PATH, with no FLOWGEN_HOME, from `cwd`.
    private func installed(_ prefix: String, _ arguments: [String], from cwd: String, cache: String) throws -> ProcessResult {
        let path = prefix + "/bin:" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
        return try ProcessRunner.run(["env", "-u", "FLOWGEN_HOME", "-u", "FLOWGEN_CACHE_DIR", "-C", cwd,
                                      "PATH=" + path, "XDG_CACHE_HOME=" + cache, "flowgen"] + arguments, timeout: .seconds(120))
    }

    @Test func installRunsFromPathWithoutFlowgenHomeAndUninstallRemovesExactlyWhatItInstalled() throws {
        try requireRoot()
        let prefix = try freshFolder("prefix")
        let elsewhere = try freshFolder("cwd")
        defer {
            try? FileManager.default.removeItem(atPath: prefix)
            try? FileManager.default.removeItem(atPath: elsewhere)
        }
        // the debug build the tests run from: the script builds it (a no-op here: `swift test` holds the
        // build folder's lock, hence --ignore-lock) and installs it as it would a release build
        let install = try script("install.sh", ["--prefix", prefix, "--configuration", "debug", "--ignore-lock"], from: elsewhere)
        try #require(install.status == 0, "install.sh failed:\n\(install.stdout)\n\(install.stderr)")
        #expect(install.stdout.contains("installed flowgen") && install.stdout.contains(prefix + "/bin/flowgen"), "\(install.stdout)")

        // every installed path is root's and writable by nobody else, so flowgen's own checks accept it
        let installedPaths = tree(prefix)
        for relative in installedPaths {
            let path = prefix + "/" + relative
            var info = stat()
            #expect(lstat(path, &info) == 0)
            #expect(info.st_uid == 0 && info.st_mode & 0o022 == 0, "\(path): uid \(info.st_uid), mode \(String(info.st_mode & 0o7777, radix: 8))")
            #expect(throws: Never.self) { try PathTrust.effectiveUser.check(path, is: (info.st_mode & S_IFMT) == S_IFDIR ? .directory : .file) }
        }
        // the templates and modules are the clone's, file for file
        for folder in ["Templates", "Features"] {
            let source = tree(cloneRoot + "/" + folder)
            #expect(tree(prefix + "/share/flowgen/" + folder) == source, "\(folder)")
            for relative in source {
                let original = cloneRoot + "/" + folder + "/" + relative
                var isFolder: ObjCBool = false
                guard FileManager.default.fileExists(atPath: original, isDirectory: &isFolder), !isFolder.boolValue else { continue }
                #expect(FileManager.default.contentsEqual(atPath: original, andPath: prefix + "/share/flowgen/" + folder + "/" + relative), "\(relative)")
            }
        }
        var executable = stat()
        #expect(stat(prefix + "/bin/flowgen", &executable) == 0 && executable.st_mode & 0o7777 == 0o755)
        var config = stat()
        #expect(stat(prefix + "/etc/default/flowgen", &config) == 0 && config.st_mode & 0o7777 == 0o600)
        #expect(FileManager.default.contentsEqual(atPath: prefix + "/etc/default/flowgen", andPath: cloneRoot + "/contrib/flowgen.conf"))
        let unit = try String(contentsOfFile: prefix + "/lib/systemd/system/flowgen.service", encoding: .utf8)
        #expect(unit.contains("\nExecStart=\(prefix)/bin/flowgen run --config \(prefix)/etc/default/flowgen --pin\n"), "\(unit)")
        let settings = unit.split(separator: "\n").filter { !$0.hasPrefix("#") }
        #expect(!settings.contains { $0.contains("/usr/local") }, "\(unit)")

        let cache = elsewhere + "/cache"
        let help = try installed(prefix, ["--help"], from: elsewhere, cache: cache)
        #expect(help.status == 0 && help.stdout.contains("USAGE: flowgen"), "\(help.stderr)")
        for command in subcommands {
            #expect(help.stdout.contains("  \(command) "), "--help does not list \(command)")
        }
        // `features` lists exactly the modules installed (one folder each), which it found by itself
        let features = try installed(prefix, ["features"], from: elsewhere, cache: cache)
        #expect(features.status == 0, "\(features.stderr)")
        let listed = features.stdout.split(separator: "\n").compactMap { $0.split(separator: " ").first.map(String.init) }
        let modules = try FileManager.default.contentsOfDirectory(atPath: cloneRoot + "/Features").sorted()
        #expect(listed.sorted() == modules)
        // a real compile and verification, with the module C taken from the installed tree
        let build = try installed(prefix, ["build", "--features", "tcp"], from: elsewhere, cache: cache)
        #expect(build.status == 0 && build.stdout.contains("built flowgen_entry") && build.stdout.contains("verified"), "\(build.stdout)\n\(build.stderr)")
        let generated = try installed(prefix, ["build", "--features", "tcp_window", "--emit", "c"], from: elsewhere, cache: cache)
        #expect(generated.status == 0, "\(generated.stderr)")
        #expect(generated.stdout.contains("#line 1 \"\(prefix)/share/flowgen/Features/tcp_window/update.bpf.c\""))

        // completions: bash's completes the subcommands and a subcommand's options (without the
        // bash-completion package: its function called as bash would); zsh's and fish's name each subcommand
        let bashCompletion = prefix + "/share/bash-completion/completions/flowgen"
        func complete(_ words: [String]) throws -> Set<String> {
            let line = words.joined(separator: " ")
            let result = try ProcessRunner.run(["bash", "-c", """
                source "$0" && complete -p flowgen >&2 || exit 1
                COMP_WORDS=("${@}"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
                _flowgen flowgen "${@: -1}" "${@: -2:1}"; printf '%s\\n' "${COMPREPLY[@]}"
                """, bashCompletion] + words)
            #expect(result.status == 0 && result.stderr.contains("-F _flowgen flowgen"), "\(line): \(result.stderr)")
            return Set(result.stdout.split(separator: "\n").map(String.init))
        }
        #expect(try complete(["flowgen", ""]) == Set(subcommands + ["help", "-h", "--help", "--version"]))
        #expect(try complete(["flowgen", "build", "--feat"]) == ["--features", "--feature-path"])
        let zsh = try String(contentsOfFile: prefix + "/share/zsh/site-functions/_flowgen", encoding: .utf8)
        let fish = try String(contentsOfFile: prefix + "/share/fish/vendor_completions.d/flowgen.fish", encoding: .utf8)
        #expect(zsh.hasPrefix("#compdef flowgen\n"))
        for command in subcommands {
            #expect(zsh.contains("'\(command):") && fish.contains("-fa '\(command)'"), "a completion lacks \(command)")
        }

        // the man page: groff parses it without a single warning, and man renders every subcommand
        let manual = prefix + "/share/man/man1/flowgen.1"
        let groff = try ProcessRunner.run(["groff", "-mandoc", "-Tutf8", "-ww", "-z", manual])
        #expect(groff.status == 0 && groff.stderr.isEmpty, "\(groff.stderr)")
        // (not a terminal: man renders plain text, each subcommand as an item of the description list)
        let page = try ProcessRunner.run(["env", "MANWIDTH=100", "man", "-l", manual])
        #expect(page.status == 0 && page.stdout.contains("FLOWGEN(1)") && page.stdout.contains("SYNOPSIS"), "\(page.stderr)")
        let lines = page.stdout.split(separator: "\n").map(String.init)
        for command in subcommands {
            #expect(lines.contains { $0 == "     " + command || $0.hasPrefix("     " + command + " ") }, "the man page lacks \(command)")
        }

        let uninstall = try script("uninstall.sh", ["--prefix", prefix], from: elsewhere)
        #expect(uninstall.status == 0, "\(uninstall.stderr)")
        #expect(uninstall.stdout.contains("removed \(prefix)/bin/flowgen"))
        try FileManager.default.removeItem(atPath: cache)
        #expect(tree(prefix) == [], "left behind by uninstall")
    }

    @Test func anExistingConfigurationIsNeitherReplacedNorRemoved() throws {
        try requireRoot()
        let prefix = try freshFolder("prefix")
        let elsewhere = try freshFolder("cwd")
        defer {
            try? FileManager.default.removeItem(atPath: prefix)
            try? FileManager.default.removeItem(atPath: elsewhere)
        }
        let config = prefix + "/etc/default/flowgen"
        try FileManager.default.createDirectory(atPath: prefix + "/etc/default", withIntermediateDirectories: true)
        let mine = "# the operator's own settings\ninterface = eth9\n"
        #expect(FileManager.default.createFile(atPath: config, contents: Data(mine.utf8), attributes: [.posixPermissions: 0o600]))
        let install = try script("install.sh", ["--prefix", prefix, "--configuration", "debug", "--ignore-lock"], from: elsewhere)
        try #require(install.status == 0, "install.sh failed:\n\(install.stdout)\n\(install.stderr)")
        #expect(install.stderr.contains("kept the existing \(config)"), "\(install.stderr)")
        #expect(try String(contentsOfFile: config, encoding: .utf8) == mine)
        // installing again replaces the first installation (its manifest) and still keeps the file
        let again = try script("install.sh", ["--prefix", prefix, "--configuration", "debug", "--ignore-lock"], from: elsewhere)
        #expect(again.status == 0, "\(again.stderr)")
        let uninstall = try script("install.sh", ["--uninstall", "--prefix", prefix], from: elsewhere)
        #expect(uninstall.status == 0, "\(uninstall.stderr)")
        #expect(tree(prefix) == ["etc", "etc/default", "etc/default/flowgen"])
        #expect(try String(contentsOfFile: config, encoding: .utf8) == mine)
    }

    @Test func installRefusesWithoutRootAndIntoAFolderOthersCanChange() throws {
        try requireRoot()
        // a copy of the script that the unprivileged user can read wherever the clone is
        let scripts = try freshFolder("script")
        defer { try? FileManager.default.removeItem(atPath: scripts) }
        try FileManager.default.copyItem(atPath: cloneRoot + "/scripts/install.sh", toPath: scripts + "/install.sh")
        chmod(scripts + "/install.sh", 0o755)
        let asNobody = try ProcessRunner.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                              "bash", scripts + "/install.sh", "--prefix", "/usr/local"])
        #expect(asNobody.status != 0 && asNobody.stderr.contains("/usr/local needs root") && asNobody.stderr.contains("sudo"), "\(asNobody.stderr)")
        let removal = try ProcessRunner.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                             "bash", scripts + "/install.sh", "--uninstall"])
        #expect(removal.status != 0 && removal.stderr.contains("needs root"), "\(removal.stderr)")

        // group-writable without the sticky bit: others could replace the templates flowgen compiles
        let open = try freshFolder("open", mode: 0o775)
        defer { try? FileManager.default.removeItem(atPath: open) }
        let refused = try ProcessRunner.run(["bash", scripts + "/install.sh", "--prefix", open + "/usr"])
        #expect(refused.status != 0 && refused.stderr.contains("\(open) is writable by its group or others"), "\(refused.stderr)")
        #expect(tree(open) == [])
    }
}
