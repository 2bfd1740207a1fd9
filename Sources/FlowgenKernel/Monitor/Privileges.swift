/// Whether this process may load and attach BPF programs.
public enum Privileges {
    /// Throws a message that says to use sudo when CAP_BPF/CAP_NET_ADMIN are missing.
    public static func require() throws {
        try LoadedObject.requirePrivileges()
    }

    /// True when loading programs should work.
    public static func canLoadPrograms() -> Bool {
        (try? LoadedObject.requirePrivileges()) != nil
    }
}
