import Foundation
import FlowgenCore
import SystemPackage
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Compiles generated C to a BPF object with clang, through a content-addressed cache.
///
/// The cache key covers everything that determines the object: every generated file, the uapi and
/// libbpf headers the unit includes, clang's `--version`, the flags and flowgen's version. A hit
/// spawns no process: clang's version and the header digest are remembered per (path, size, mtime,
/// inode) signature, so a hit costs a few `stat`s plus hashing the generated text.
public struct ClangCompiler: Sendable {
    /// Flags every BPF compile uses (the include directories and file names are added per build).
    public static let flags: [String] = CompileTarget.bpf.flags

    /// System headers the generated unit may include; their contents enter the cache key.
    /// A constant list rather than `clang -M` because running clang on a hit would defeat the cache.
    public static let systemHeaders: [String] = [
        "/usr/include/linux/bpf.h",
        "/usr/include/bpf/bpf_helpers.h",
        "/usr/include/bpf/bpf_helper_defs.h",
        "/usr/include/bpf/bpf_endian.h",
        "/usr/include/linux/pkt_cls.h",
        "/usr/include/linux/if_ether.h",
        "/usr/include/linux/ip.h",
        "/usr/include/linux/ipv6.h",
        "/usr/include/linux/tcp.h",
        "/usr/include/linux/udp.h",
        "/usr/include/linux/icmp.h",
        "/usr/include/linux/icmpv6.h",
    ]

    /// Bumped when the cache layout or key recipe changes, so old entries are never misread.
    private static let keyRecipe = "flowgen-clang-cache-v1"

    private let resolvedClang: Result<String, KernelError>
    /// Root of the cache; each build lives in `<cacheDirectory>/<sha256-hex>/`.
    public let cacheDirectory: String

    /// Resolves clang (explicit path, else `FLOWGEN_CLANG`, else `clang` on `PATH`) and the cache directory
    /// (explicit, else `FLOWGEN_CACHE_DIR`, `$XDG_CACHE_HOME/flowgen`, `$HOME/.cache/flowgen`, the
    /// user's home folder from the password database; never a shared folder such as /tmp).
    /// A missing clang is reported by `compile`, so tools that only read cached objects never need one.
    public init(clang: String? = nil, cacheDirectory: String? = nil) {
        let environment = ProcessInfo.processInfo.environment
        resolvedClang = Self.resolveClang(explicit: clang, environment: environment)
        self.cacheDirectory = cacheDirectory ?? Self.defaultCacheDirectory(environment: environment)
    }

    /// Absolute path of the clang this compiler runs.
    public func clangPath() throws -> String { try resolvedClang.get() }

    /// Compiles `source` for `target` (or finds it in the cache) and returns the object (for
    /// `.native`, `objectPath` is the shared library).
    public func compile(_ source: GeneratedSource, version: String, target: CompileTarget = .bpf) throws -> CompiledObject {
        if let cached = try cachedObject(source, version: version, target: target) { return cached }
        let clang = try resolvedClang.get()
        let (key, directory, objectPath) = try location(source, version: version, target: target)
        let multiarchInclude = Self.multiarchIncludeDirectory()
        // Every compile writes and builds in a private staging directory that it then publishes whole.
        // Compilers sharing the entry's directory broke each other even with atomic writes: each
        // rename over a file frees the old file's inode, the next new file often gets that number, and
        // clang takes two paths with one (device, inode) for one file, so a header could be read as
        // another one it had already included (and skipped by that one's include guard).
        let staging = directory + ".tmp-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        removeAbandonedStaging(of: directory)
        try Self.makeDirectory(staging)
        // after a publish the staging name is gone; after a failure or a lost race this removes it
        defer { try? FileManager.default.removeItem(atPath: staging) }
        for (name, text) in source.files {
            let path = staging + "/" + name
            if name.contains("/") { try Self.makeDirectory((path as NSString).deletingLastPathComponent) }
            try Self.writeAtomically(Data(text.utf8), to: path)
        }

        // the prefix map names the published directory in debug information and __FILE__, so the
        // object is the same whichever compiler's staging directory it was built in
        var arguments = target.flags + ["-ffile-prefix-map=\(staging)=\(directory)", "-I\(staging)"]
        if let multiarchInclude { arguments.append("-I\(multiarchInclude)") }
        arguments += (target.compilesOnly ? ["-c"] : []) + [source.mainFile, "-o", target.outputName]
        // clang writes crash reproducers (the whole preprocessed unit) to TMPDIR: keep them in the
        // private entry rather than world-readable in /tmp
        let result = try Self.run(clang, arguments: arguments, workingDirectory: staging, temporaryDirectory: staging)
        // clang's messages name the staging directory; the sources stay in the published one
        let diagnostics = result.stderr.replacingOccurrences(of: staging, with: directory)
        guard result.status == 0 else {
            let log = diagnostics.isEmpty ? "clang exited with status \(result.status) and printed nothing" : diagnostics
            // the sources and log of a failed build stay in the entry for inspection, without an object
            try? Self.writeAtomically(Data(log.utf8), to: staging + "/compile.log")
            _ = rename(staging, directory)
            throw KernelError.compileFailed(log: log)
        }
        try Self.writeAtomically(Data(diagnostics.utf8), to: staging + "/compile.log")
        // clang creates its output by the umask (a shared library executable by all): private like the rest
        chmod(staging + "/" + target.outputName, 0o600)
        try publish(staging, as: directory, files: source.files.keys.sorted() + ["compile.log"], object: target.outputName)
        return CompiledObject(objectPath: objectPath, cacheKey: key, cacheHit: false,
                              sourceDirectory: directory, diagnostics: diagnostics)
    }

    /// Removes the staging directories of `directory`'s entry whose compiler is gone (a build
    /// interrupted by Ctrl-C or a kill leaves its `<key>.tmp-<pid>-<n>`); one of a live process stays.
    private func removeAbandonedStaging(of directory: String) {
        let parent = (directory as NSString).deletingLastPathComponent
        let prefix = (directory as NSString).lastPathComponent + ".tmp-"
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: parent) else { return }
        for name in names where name.hasPrefix(prefix) {
            guard let pid = pid_t(name.dropFirst(prefix.count).prefix(while: { $0 != "-" })),
                  kill(pid, 0) != 0 && errno == ESRCH else { continue }
            try? FileManager.default.removeItem(atPath: parent + "/" + name)
        }
    }

    /// Moves a finished staging directory to the entry `directory`, so the entry appears complete at
    /// once (a directory rename onto a missing name is atomic). When another compiler published first,
    /// its entry is kept; an entry without an object (a failed build's) gets `files` moved in one by
    /// one and `object` last, so it only counts as a hit once everything else is there.
    private func publish(_ staging: String, as directory: String, files: [String], object: String) throws {
        if rename(staging, directory) == 0 { return }
        let code = errno
        guard code == ENOTEMPTY || code == EEXIST else {
            throw KernelError.cacheFailed(path: directory, reason: KernelError.errnoDescription(code))
        }
        if access(directory + "/" + object, F_OK) == 0 { return }
        for name in files + [object] {
            let path = directory + "/" + name
            if name.contains("/") { try Self.makeDirectory((path as NSString).deletingLastPathComponent) }
            guard rename(staging + "/" + name, path) == 0 else {
                throw KernelError.cacheFailed(path: path, reason: KernelError.errnoDescription(errno))
            }
        }
    }

    /// The object of `source` for `target` if it is in the cache already (nil: it would have to be
    /// compiled). An object that someone other than this user or root could have written is refused.
    public func cachedObject(_ source: GeneratedSource, version: String, target: CompileTarget = .bpf) throws -> CompiledObject? {
        let (key, directory, objectPath) = try location(source, version: version, target: target)
        guard access(objectPath, F_OK) == 0 else { return nil }
        do {
            try PathTrust.invokingUser.check(objectPath, is: .file)
        } catch let untrusted as PathTrust.Untrusted {
            throw KernelError.untrustedCache(path: objectPath, reason: untrusted.description)
        }
        let diagnostics = (try? String(contentsOfFile: directory + "/compile.log", encoding: .utf8)) ?? ""
        return CompiledObject(objectPath: objectPath, cacheKey: key, cacheHit: true, sourceDirectory: directory, diagnostics: diagnostics)
    }

    /// Where the object of `source` lives in the cache: its key, directory and object path.
    private func location(_ source: GeneratedSource, version: String, target: CompileTarget) throws -> (key: String, directory: String, objectPath: String) {
        let clang = try resolvedClang.get()
        try prepareCacheDirectory()
        for name in source.files.keys where !Self.isSafeRelativeName(name) {
            throw KernelError.invalidSourceName(name)
        }
        guard source.files[source.mainFile] != nil else {
            throw KernelError.invalidSourceName("\(source.mainFile) (the main file is not among the generated files)")
        }
        let toolchain = try toolchainFingerprint(clang: clang)
        let key = Self.cacheKey(source: source, version: version, toolchain: toolchain, multiarchInclude: Self.multiarchIncludeDirectory(),
                                target: target)
        let directory = cacheDirectory + "/" + key
        return (key, directory, directory + "/" + target.outputName)
    }

    // MARK: - Key

    /// What the toolchain contributes to the key: clang's version text and the header digest.
    struct Toolchain {
        var clangVersion: String
        var headerDigest: String
    }

    static func cacheKey(source: GeneratedSource, version: String, toolchain: Toolchain, multiarchInclude: String?,
                         target: CompileTarget = .bpf) -> String {
        var hasher = SHA256()
        // Every variable-length field is length-prefixed so that no two inputs concatenate alike.
        func field(_ text: String) {
            hasher.update(length: text.utf8.count)
            hasher.update(text)
        }
        field(keyRecipe)
        field(version)
        field(toolchain.clangVersion)
        field(toolchain.headerDigest)
        // a BPF key is what it always was (cached objects stay valid); other targets name themselves
        if target != .bpf { field("target \(target.rawValue)") }
        field((target.flags + [multiarchInclude ?? "-"]).joined(separator: "\u{0}"))
        field(source.mainFile)
        hasher.update(length: source.files.count)
        for name in source.files.keys.sorted() {
            field(name)
            field(source.files[name]!)
        }
        return hasher.finalizeHex()
    }

    /// clang's version text and the digest of `systemHeaders`, computed once per stat signature of
    /// clang and the headers and remembered in `<cache>/toolchain/`, so a hit spawns nothing and
    /// does not rehash half a megabyte of headers.
    func toolchainFingerprint(clang: String) throws -> Toolchain {
        var signature = "clang \(Self.statSignature(clang))\n"
        for header in Self.systemHeaders { signature += "\(header) \(Self.statSignature(header))\n" }
        let memo = cacheDirectory + "/toolchain/" + SHA256.hex(Array(signature.utf8)) + ".txt"
        if let stored = try? String(contentsOfFile: memo, encoding: .utf8),
           let newline = stored.firstIndex(of: "\n") {
            let digest = String(stored[..<newline])
            if digest.count == 64 {
                return Toolchain(clangVersion: String(stored[stored.index(after: newline)...]), headerDigest: digest)
            }
        }

        let versionRun = try Self.run(clang, arguments: ["--version"], workingDirectory: nil)
        guard versionRun.status == 0 else {
            throw KernelError.clangFailedToStart(path: clang, reason: "`clang --version` exited with \(versionRun.status): \(versionRun.stderr)")
        }
        var hasher = SHA256()
        for header in Self.systemHeaders {
            hasher.update(length: header.utf8.count)
            hasher.update(header)
            if let bytes = FileManager.default.contents(atPath: header) {
                hasher.update(length: bytes.count)
                bytes.withUnsafeBytes { hasher.update($0) }
            } else {
                // A missing header is part of the toolchain state too (clang will fail on it anyway).
                hasher.update("missing")
            }
        }
        let toolchain = Toolchain(clangVersion: versionRun.stdout, headerDigest: hasher.finalizeHex())
        try Self.makeDirectory(cacheDirectory + "/toolchain")
        try Self.writeAtomically(Data((toolchain.headerDigest + "\n" + toolchain.clangVersion).utf8), to: memo)
        return toolchain
    }

    /// `size mtime-ns device inode` of a file (after symlinks), or `missing`.
    static func statSignature(_ path: String) -> String {
        var info = stat()
        guard stat(path, &info) == 0 else { return "missing" }
        return "\(info.st_size) \(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec) \(info.st_dev) \(info.st_ino)"
    }

    // MARK: - Resolution

    static func resolveClang(explicit: String?, environment: [String: String]) -> Result<String, KernelError> {
        // clang runs as whoever runs flowgen (root): one that another user could replace is theirs to run
        findClang(explicit: explicit, environment: environment).flatMap { path in
            do {
                try PathTrust.invokingUser.check(path, is: .file)
                return .success(path)
            } catch {
                return .failure(.untrustedTool(path: path, reason: "\(error)"))
            }
        }
    }

    private static func findClang(explicit: String?, environment: [String: String]) -> Result<String, KernelError> {
        var searched: [String] = []
        let candidates: [(String, String)] = [
            explicit.map { ($0, "--clang \($0)") },
            environment["FLOWGEN_CLANG"].flatMap { $0.isEmpty ? nil : ($0, "FLOWGEN_CLANG=\($0)") },
        ].compactMap { $0 }
        // An explicit choice that does not exist is an error, not a reason to silently use another clang.
        if let (name, origin) = candidates.first {
            if let path = findExecutable(name, environment: environment) { return .success(path) }
            return .failure(.clangNotFound(searched: [origin]))
        }
        searched.append("clang on PATH")
        if let path = findExecutable("clang", environment: environment) { return .success(path) }
        return .failure(.clangNotFound(searched: searched))
    }

    private static func findExecutable(_ name: String, environment: [String: String]) -> String? {
        if name.contains("/") {
            return access(name, X_OK) == 0 ? name : nil
        }
        let path = environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":") where !directory.isEmpty {
            let candidate = "\(directory)/\(name)"
            var info = stat()
            if stat(candidate, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, access(candidate, X_OK) == 0 {
                return candidate
            }
        }
        return nil
    }

    /// The cache folder when none is given: also the root of other private files (the ClickHouse spool).
    public static func defaultCacheDirectory(environment: [String: String]) -> String {
        if let explicit = environment["FLOWGEN_CACHE_DIR"], !explicit.isEmpty { return explicit }
        if let xdg = environment["XDG_CACHE_HOME"], !xdg.isEmpty { return xdg + "/flowgen" }
        if let home = environment["HOME"], !home.isEmpty { return home + "/.cache/flowgen" }
        // a predictable name in a shared folder (the former /tmp/flowgen-cache-UID) can be created
        // first by another user, who then chooses what root loads: the home folder is the user's own
        if let entry = getpwuid(geteuid()), let directory = entry.pointee.pw_dir, directory.pointee != 0 {
            let home = String(cString: directory)
            if home != "/" { return home + "/.cache/flowgen" }
        }
        return geteuid() == 0 ? "/var/cache/flowgen" : "/nonexistent-home-uid\(geteuid())/.cache/flowgen"
    }

    /// Creates the cache directory when missing (mode 0700, and 0700 for every folder it creates
    /// above it), and checks that it and every folder above it are owned by this user (or root, or
    /// the user who ran sudo) and writable by nobody else: whatever is in it is loaded into the kernel
    /// or into this process. Public so that readers of the cache's other files can check first.
    public func prepareCacheDirectory() throws {
        var info = stat()
        if lstat(cacheDirectory, &info) != 0 { try Self.makeDirectory(cacheDirectory) }
        do {
            try PathTrust.invokingUser.check(cacheDirectory, is: .directory)
        } catch let untrusted as PathTrust.Untrusted {
            throw KernelError.untrustedCache(path: cacheDirectory, reason: untrusted.description)
        }
    }

    /// `/usr/include/<multiarch>` for the running machine (where `asm/types.h` lives), if present.
    /// Derived from `uname`, because BPF is compiled on the host it runs on.
    static func multiarchIncludeDirectory() -> String? {
        var names = utsname()
        uname(&names)
        let machine = withUnsafeBytes(of: &names.machine) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        let triples: [String: String] = [
            "x86_64": "x86_64-linux-gnu", "aarch64": "aarch64-linux-gnu", "arm64": "aarch64-linux-gnu",
            "armv7l": "arm-linux-gnueabihf", "armv6l": "arm-linux-gnueabihf", "i686": "i386-linux-gnu",
            "i386": "i386-linux-gnu", "ppc64le": "powerpc64le-linux-gnu", "s390x": "s390x-linux-gnu",
            "riscv64": "riscv64-linux-gnu", "mips64": "mips64el-linux-gnuabi64", "loongarch64": "loongarch64-linux-gnu",
        ]
        let triple = triples[machine] ?? "\(machine)-linux-gnu"
        let directory = "/usr/include/\(triple)"
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) && isDirectory.boolValue ? directory : nil
    }

    private static func isSafeRelativeName(_ name: String) -> Bool {
        !name.isEmpty && !name.hasPrefix("/") && !name.split(separator: "/").contains("..")
    }

    // MARK: - Files and processes

    /// Creates `path` and any missing folder above it, each mode 0700 (the umask cannot widen it).
    package static func makeDirectory(_ path: String) throws {
        var info = stat()
        if stat(path, &info) == 0 {
            guard (info.st_mode & S_IFMT) == S_IFDIR else {
                throw KernelError.cacheFailed(path: path, reason: "cannot create directory (a file of that name exists)")
            }
            return
        }
        let parent = (path as NSString).deletingLastPathComponent
        if !parent.isEmpty && parent != path { try makeDirectory(parent) }
        guard mkdir(path, 0o700) == 0 || errno == EEXIST else {
            throw KernelError.cacheFailed(path: path, reason: "cannot create directory (\(KernelError.errnoDescription(errno)))")
        }
    }

    /// Writes through a fresh temporary name (mode 0600) and `rename`, so readers never see a
    /// partial file and the file is readable by this user only.
    static func writeAtomically(_ data: Data, to path: String) throws {
        let temporary = path + ".tmp-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        do {
            let fd = try FileDescriptor.open(FilePath(temporary), .writeOnly, options: [.create, .exclusiveCreate, .noFollow, .closeOnExec],
                                             permissions: [.ownerReadWrite])
            try fd.closeAfter { _ = try fd.writeAll(data) }
        } catch let error as Errno {
            unlink(temporary)
            throw KernelError.cacheFailed(path: path, reason: "cannot write (\(error))")
        }
        guard rename(temporary, path) == 0 else {
            let code = errno
            unlink(temporary)
            throw KernelError.cacheFailed(path: path, reason: "cannot write (\(KernelError.errnoDescription(code)))")
        }
    }

    struct RunResult {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// How long one clang run may take before it is killed: a compile of the largest pipeline takes
    /// seconds, so this only ends a clang that hangs, which would otherwise hang `flowgen run` with it.
    static let runTimeout: Duration = .seconds(600)

    /// Runs a program directly through the launcher (no shell, so generated names never meet shell parsing).
    static func run(_ executable: String, arguments: [String], workingDirectory: String?,
                    temporaryDirectory: String? = nil) throws -> RunResult {
        var environment: [String: String]?
        if let temporaryDirectory {
            environment = ProcessInfo.processInfo.environment
            for name in ["TMPDIR", "TMP", "TEMP"] { environment?[name] = temporaryDirectory }
        }
        let output: ChildProcess.Output
        do {
            output = try ChildProcess.run(executable, arguments, environment: environment, workingDirectory: workingDirectory,
                                          timeout: runTimeout)
        } catch .cannotStart(_, let code) {
            throw KernelError.clangFailedToStart(path: executable, reason: KernelError.errnoDescription(code))
        } catch .timedOut {
            throw KernelError.compileFailed(log: "\(executable) did not finish within \(runTimeout) and was killed: "
                                            + "check that the machine is not out of memory, or set FLOWGEN_CLANG to another clang")
        }
        // a signal (the OOM killer's SIGKILL) shows as a failure with the signal number, as before
        return RunResult(status: output.termination.bySignal ? 128 + output.termination.status : output.termination.status,
                         stdout: output.stdoutText, stderr: output.stderrText)
    }
}
