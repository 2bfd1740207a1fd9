import FlowgenCore

/// Checks a network interface name given by a user before flowgen looks it up, attaches to it or
/// records it.
///
/// Linux refuses to name a device anything `dev_valid_name` (net/core/dev.c) rejects: the empty
/// string, 16 bytes or more (IFNAMSIZ counts the terminating NUL), "." and "..", and any '/', ':' or
/// byte the kernel's `isspace` accepts (space, tab to CR, and 0xA0). A name like that can only be a
/// mistake, and one with a NUL is worse: C reads `eth0\0x` as `eth0`, so the lookup finds eth0 while
/// flowgen's bookkeeping waits for an interface that never appears. Control characters are refused
/// too (the kernel would take ESC), since the name reaches state files, logs and terminals.
public enum InterfaceName {
    /// Most bytes of a name: IFNAMSIZ (16) less the terminating NUL.
    public static let maxBytes = 15

    /// What the rules allow, for messages.
    public static let rules = "Linux interface names are 1 to \(maxBytes) bytes without '/', ':', whitespace "
        + "or control characters, and not '.' or '..'"

    /// nil when `name` can be an interface name; otherwise why not, as a phrase ("is empty").
    public static func problem(_ name: String) -> String? {
        if name.isEmpty { return "is empty" }
        if let scalar = ControlCharacters.first(in: name) {
            return "contains the control character \(ControlCharacters.label(scalar))"
        }
        if name.utf8.count > maxBytes { return "is \(name.utf8.count) bytes long" }
        if name == "." || name == ".." { return "is '\(name)'" }
        if name.contains("/") { return "contains '/'" }
        if name.contains(":") { return "contains ':'" }
        if name.unicodeScalars.contains(where: \.properties.isWhitespace) { return "contains whitespace" }
        // the kernel's ctype is Latin-1: the UTF-8 continuation byte 0xA0 (as in "à") counts as a space there
        if name.utf8.contains(0xA0) { return "contains the byte 0xA0, which the kernel reads as a space" }
        return nil
    }

    /// Throws `KernelError.invalidInterfaceName` unless `name` can be an interface name.
    public static func validate(_ name: String) throws {
        if let problem = problem(name) { throw KernelError.invalidInterfaceName(name, problem: problem) }
    }
}
