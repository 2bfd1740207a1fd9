import CLibBPF
import SystemPackage
import FlowgenCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Everything that can go wrong between generated C and a program running on an interface.
/// Messages name the thing that failed and say what to do; errno values print as `EPERM (Operation not permitted)`.
public enum KernelError: Error, CustomStringConvertible, Sendable {
    /// No clang was found (explicit path, `FLOWGEN_CLANG`, then `PATH` were tried).
    case clangNotFound(searched: [String])
    /// clang exists but could not be started.
    case clangFailedToStart(path: String, reason: String)
    /// clang rejected the generated C; `log` is its stderr (`file:line` points at the feature thanks to `#line`).
    case compileFailed(log: String)
    /// The compile cache could not be read or written.
    case cacheFailed(path: String, reason: String)
    /// A program flowgen would run (clang) could have been replaced by another user.
    case untrustedTool(path: String, reason: String)
    /// The compile cache, or an object in it, could have been written by another user.
    case untrustedCache(path: String, reason: String)
    /// A generated file name would escape the cache directory (absolute or containing `..`).
    case invalidSourceName(String)
    /// The process lacks the privileges to load or attach programs.
    case needsRoot
    /// libbpf could not open or parse the object file.
    case objectOpenFailed(path: String, code: Int32)
    /// The object has no program of this name.
    case programNotFound(name: String, available: [String])
    /// The object has no map of this name.
    case mapNotFound(name: String, available: [String])
    /// The verifier refused a program; `log` is the full verifier log, `origin` the module line it
    /// points at (`VerifierSource`), `logFile` where the whole log was written (`--verifier-log`).
    case verifierRejected(program: String, log: String, origin: String? = nil, logFile: String? = nil)
    /// Loading failed for a reason other than a verifier verdict (map creation, BTF, limits).
    case loadFailed(object: String, code: Int32, log: String)
    /// The object carries no BTF (it was compiled without `-g`).
    case btfMissing(object: String)
    /// The object's BTF has no struct or union of this name.
    case btfTypeNotFound(name: String)
    /// A read-only constant (`const volatile` global) named for setting before load does not exist.
    case constantNotFound(name: String, available: [String])
    /// A read-only constant has a size that cannot hold an integer.
    case constantSizeUnsupported(name: String, size: Int)
    /// No network interface has this name in the current namespace.
    case interfaceNotFound(String)
    /// A name no interface can have (`InterfaceName.problem` says why).
    case invalidInterfaceName(String, problem: String)
    /// Another filter already sits at flowgen's handle and priority; flowgen does not replace it.
    case filterExists(interface: String, direction: String, handle: UInt32, priority: UInt32)
    /// A libbpf or system call failed with a (positive) errno.
    case systemCall(operation: String, code: Int32)
    /// A map operation failed.
    case mapOperationFailed(map: String, operation: String, code: Int32)
    /// A map is not of the type the caller needs.
    case wrongMapType(map: String, expected: String, actual: String)
    /// A buffer handed to a map or program has the wrong size.
    case sizeMismatch(what: String, expected: Int, actual: Int)
    /// `BPF_PROG_TEST_RUN` failed.
    case testRunFailed(code: Int32, hint: String)
    /// Entering or leaving a network namespace failed.
    case namespaceFailed(name: String, reason: String)

    /// Human-readable message: what failed, why, what to do.
    public var description: String {
        switch self {
        case .clangNotFound(let searched):
            return "no clang found (looked for \(searched.joined(separator: ", "))): install clang (e.g. `apt install clang`) or pass --clang PATH or set FLOWGEN_CLANG"
        case .clangFailedToStart(let path, let reason):
            return "could not run clang at \(path): \(reason); check the path or pass another with --clang"
        case .compileFailed(let log):
            return "clang could not compile the generated program:\n\(log)"
        case .cacheFailed(let path, let reason):
            return "compile cache at \(path) is unusable: \(reason); fix its permissions or choose another with --cache-dir DIR or FLOWGEN_CACHE_DIR"
        case .untrustedTool(let path, let reason):
            return "refusing to run \(path): \(reason); it would run as this user, so it and every folder above it must be owned by root or you and writable by nobody else: fix that, or pass another with --clang PATH"
        case .untrustedCache(let path, let reason):
            return "refusing the compile cache at \(path): \(reason); flowgen loads what it finds there into the kernel and into this process, so the cache and every folder above it must be owned by you (or root) and writable by nobody else: remove it (`rm -r`), or choose a folder of your own with --cache-dir DIR or FLOWGEN_CACHE_DIR"
        case .invalidSourceName(let name):
            return "generated file name '\(name)' is absolute or contains '..'; generated files must stay inside the cache directory"
        case .needsRoot:
            return "flowgen needs root (CAP_BPF and CAP_NET_ADMIN) to load and attach eBPF programs: run it with sudo"
        case .objectOpenFailed(let path, let code):
            return "libbpf could not open BPF object \(path): \(Self.errnoDescription(code)); rebuild it (flowgen build) or check the file"
        case .programNotFound(let name, let available):
            return "BPF object has no program '\(name)' (it has: \(available.joined(separator: ", ")))"
        case .mapNotFound(let name, let available):
            return "BPF object has no map '\(name)' (it has: \(available.joined(separator: ", ")))"
        case .verifierRejected(let program, let log, let origin, let logFile):
            let lines = log.split(separator: "\n", omittingEmptySubsequences: false)
            let tail = lines.suffix(40).joined(separator: "\n")
            let whole = logFile.map { "the whole log is in \($0)" } ?? "the whole log: rerun with --verifier-log FILE"
            let skipped = lines.count > 40 ? "(last 40 of \(lines.count) lines; \(whole))\n" : logFile.map { _ in "(\(whole))\n" } ?? ""
            let what = origin.map { "\($0) in program '\(program)'" } ?? "program '\(program)'"
            return "the kernel verifier rejected \(what): \(Self.verifierSummary(log))\n\(skipped)\(tail)"
        case .loadFailed(let object, let code, let log):
            let tail = log.split(separator: "\n").suffix(20).joined(separator: "\n")
            return "loading BPF object \(object) failed: \(Self.errnoDescription(code))" + (tail.isEmpty ? "" : "\n\(tail)")
        case .btfMissing(let object):
            return "BPF object \(object) has no BTF: compile it with -g"
        case .btfTypeNotFound(let name):
            return "the object's BTF has no struct or union named '\(name)': check the generated header declares it and that it is used (clang drops unused types)"
        case .constantNotFound(let name, let available):
            return "the object has no read-only constant '\(name)' (declare it `const volatile`; it has: \(available.joined(separator: ", ")))"
        case .constantSizeUnsupported(let name, let size):
            return "read-only constant '\(name)' is \(size) bytes; only 1, 2, 4 or 8-byte integers can be set"
        case .interfaceNotFound(let name):
            return "no interface named '\(name)': list them with `ip link`"
        case .invalidInterfaceName(let name, let problem):
            return "invalid interface name '\(ControlCharacters.visible(name))': it \(problem); \(InterfaceName.rules) "
                + "(list them with `ip link`)"
        case .filterExists(let interface, let direction, let handle, let priority):
            return "a tc filter already exists on \(interface) \(direction) at handle 0x\(String(handle, radix: 16)) priority \(priority); flowgen will not replace it: remove it with `tc filter del dev \(interface) \(direction) handle 0x\(String(handle, radix: 16)) prio \(priority) bpf` or pick another --tc-priority"
        case .systemCall(let operation, let code):
            return "\(operation) failed: \(Self.errnoDescription(code))"
        case .mapOperationFailed(let map, let operation, let code):
            return "\(operation) on map \(map) failed: \(Self.errnoDescription(code))"
        case .wrongMapType(let map, let expected, let actual):
            return "map \(map) is a \(actual) map but must be a \(expected) map: check the generated declaration"
        case .sizeMismatch(let what, let expected, let actual):
            return "\(what) is \(actual) bytes but must be \(expected)"
        case .testRunFailed(let code, let hint):
            return "BPF_PROG_TEST_RUN failed: \(Self.errnoDescription(code))" + (hint.isEmpty ? "" : "; \(hint)")
        case .namespaceFailed(let name, let reason):
            return "network namespace \(name): \(reason)"
        }
    }

    /// The line of a verifier log that says why it refused, e.g. `R2 offset is outside of the packet`.
    public static func verifierSummary(_ log: String) -> String {
        let trailer = ["processed ", "verification time", "stack depth", "max_states_per_insn", "-- END PROG LOAD LOG --"]
        let lines = log.split(separator: "\n").map { $0.trimmingSpaces() }.filter { !$0.isEmpty }
        if let reason = lines.last(where: { line in !trailer.contains(where: { line.hasPrefix($0) }) }) {
            return reason
        }
        return lines.last ?? "no verifier log (the kernel gave no reason)"
    }

    /// `EPERM (Operation not permitted)` for 1; accepts negative libbpf-style returns too.
    public static func errnoDescription(_ code: Int32) -> String {
        let value = code < 0 ? -code : code
        let name = errnoNames[value] ?? "errno \(value)"
        // 524 (ENOTSUPP) is kernel-internal and 4000+ are libbpf's own codes: strerror knows neither.
        let text: String
        if value == 524 {
            text = "Operation not supported by this kernel"
        } else if value >= 4000 && value < 4100 {
            var buffer = [CChar](repeating: 0, count: 128)
            _ = libbpf_strerror(-value, &buffer, buffer.count)
            text = buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        } else {
            text = Errno(rawValue: value).description
        }
        return "\(name) (\(text))"
    }

    private static let errnoNames: [Int32: String] = [
        EPERM: "EPERM", ENOENT: "ENOENT", ESRCH: "ESRCH", EINTR: "EINTR", EIO: "EIO", ENXIO: "ENXIO",
        E2BIG: "E2BIG", ENOEXEC: "ENOEXEC", EBADF: "EBADF", ECHILD: "ECHILD", EAGAIN: "EAGAIN",
        ENOMEM: "ENOMEM", EACCES: "EACCES", EFAULT: "EFAULT", EBUSY: "EBUSY", EEXIST: "EEXIST",
        EXDEV: "EXDEV", ENODEV: "ENODEV", ENOTDIR: "ENOTDIR", EISDIR: "EISDIR", EINVAL: "EINVAL",
        ENFILE: "ENFILE", EMFILE: "EMFILE", ENOTTY: "ENOTTY", EFBIG: "EFBIG", ENOSPC: "ENOSPC",
        ESPIPE: "ESPIPE", EROFS: "EROFS", EMLINK: "EMLINK", EPIPE: "EPIPE", EDOM: "EDOM", ERANGE: "ERANGE",
        EDEADLK: "EDEADLK", ENAMETOOLONG: "ENAMETOOLONG", ENOSYS: "ENOSYS", ENOTEMPTY: "ENOTEMPTY",
        ELOOP: "ELOOP", ENOMSG: "ENOMSG", EIDRM: "EIDRM", ENODATA: "ENODATA", ETIME: "ETIME",
        EPROTO: "EPROTO", EBADMSG: "EBADMSG", EOVERFLOW: "EOVERFLOW", EILSEQ: "EILSEQ",
        ENOTSOCK: "ENOTSOCK", EMSGSIZE: "EMSGSIZE", EPROTONOSUPPORT: "EPROTONOSUPPORT",
        EOPNOTSUPP: "EOPNOTSUPP", EAFNOSUPPORT: "EAFNOSUPPORT", EADDRINUSE: "EADDRINUSE",
        ENETDOWN: "ENETDOWN", ENOBUFS: "ENOBUFS", ETIMEDOUT: "ETIMEDOUT", ECANCELED: "ECANCELED",
        524: "ENOTSUPP", 4007: "LIBBPF_ERRNO__PROG2BIG", 4008: "LIBBPF_ERRNO__KVER",
        4000: "LIBBPF_ERRNO__LIBELF", 4001: "LIBBPF_ERRNO__FORMAT", 4003: "LIBBPF_ERRNO__ENDIAN",
        4004: "LIBBPF_ERRNO__INTERNAL", 4005: "LIBBPF_ERRNO__RELOC", 4006: "LIBBPF_ERRNO__LOAD",
        4009: "LIBBPF_ERRNO__VERIFY", 4010: "LIBBPF_ERRNO__PROGTYPE",
    ]
}

extension Substring {
    /// The text without leading and trailing spaces or tabs (Foundation-free).
    func trimmingSpaces() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" }
        guard let start = firstIndex(where: { !isSpace($0) }) else { return "" }
        let end = lastIndex(where: { !isSpace($0) })!
        return String(self[start...end])
    }
}
