import Foundation
import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// Decides whether a file or folder can be trusted by a process that runs as root: nobody but
/// root and the invoking user may be able to change it, or any folder on the way to it.
///
/// flowgen compiles module C into the kernel and `dlopen`s the native build of it, so a file
/// another user could write (or replace, through a folder they can write or a symlink they own)
/// is a way to run code as root. The check walks the path one component at a time from `/`,
/// following symlinks as the kernel would, and requires of every folder it passes through and of
/// the target itself: an owner in `owners`, and no write permission for group or others. A
/// folder writable by others with the sticky bit (`/tmp`) may be passed through, since others
/// cannot rename or remove what they do not own in it: the entry taken from it must then have
/// a trusted owner, and it may not be the target. Once a path passes, nobody else can change what
/// it names, so reading it later is as safe as reading it during the check.
public struct PathTrust: Sendable, Equatable {
    /// User ids whose files are trusted (root is always among them).
    public let owners: Set<UInt32>

    /// Trusts `owners` and root.
    public init(owners: Set<UInt32>) {
        self.owners = owners.union([0])
    }

    /// Root, the effective user, and with root's privileges the user who ran `sudo` (`SUDO_UID`):
    /// the invoking user already holds root, so their own files are theirs to run.
    public static var invokingUser: PathTrust {
        var owners: Set<UInt32> = [UInt32(geteuid())]
        if geteuid() == 0, let sudo = ProcessInfo.processInfo.environment["SUDO_UID"].flatMap(UInt32.init) {
            owners.insert(sudo)
        }
        return PathTrust(owners: owners)
    }

    /// Root and the effective user only: for what this process writes and later loads (the
    /// compile cache, the pin and state roots), which no other account has a reason to own.
    public static var effectiveUser: PathTrust { PathTrust(owners: [UInt32(geteuid())]) }

    /// What the target must be.
    public enum Kind: Sendable {
        /// A regular file.
        case file
        /// A folder.
        case directory
    }

    /// Why a path is not trusted.
    public struct Untrusted: Error, Equatable, CustomStringConvertible {
        /// The path that was checked.
        public var path: String
        /// The component at fault (the path itself or a folder or symlink on the way).
        public var component: String
        /// What is wrong with it.
        public var reason: String

        /// "PATH is not trusted: COMPONENT REASON".
        public var description: String {
            component == path ? "\(path) \(reason)" : "\(path) is not trusted: \(component) \(reason)"
        }
    }

    /// At most this many symlinks are followed in one path, as the kernel's own limit (ELOOP).
    static let maxSymlinks = 40

    /// Checks `path` (relative to the working directory if it does not start with `/`) and every
    /// folder and symlink on the way; returns the path with every symlink resolved.
    @discardableResult
    public func check(_ path: String, is kind: Kind) throws -> String {
        var pending = Self.components(of: path)
        var current: [String] = []
        var currentInfo = try info("/", path: path)
        try requireTrusted(currentInfo, "/", path: path)
        if pending.isEmpty {
            try requireTarget(currentInfo, kind, "/", path: path)
            return "/"
        }
        var symlinks = 0
        while !pending.isEmpty {
            let name = pending.removeFirst()
            if name == "." || name.isEmpty { continue }
            if name == ".." {
                if !current.isEmpty { current.removeLast() }
                let parent = "/" + current.joined(separator: "/")
                currentInfo = try info(parent, path: path)
                continue
            }
            let next = "/" + (current + [name]).joined(separator: "/")
            let entry = try info(next, path: path)
            // in a sticky folder others may write, only the owner of an entry can rename or remove it
            if Self.writableByOthers(currentInfo) && !owners.contains(entry.st_uid) {
                throw Untrusted(path: path, component: next, reason: "is owned by uid \(entry.st_uid) in a folder others can write to")
            }
            if (entry.st_mode & S_IFMT) == S_IFLNK {
                symlinks += 1
                guard symlinks <= Self.maxSymlinks else {
                    throw Untrusted(path: path, component: next, reason: "is one symlink too many (more than \(Self.maxSymlinks))")
                }
                let target = try readLink(next, path: path)
                if target.hasPrefix("/") { current = [] }
                pending = Self.components(of: target, relative: true) + pending
                currentInfo = try info("/" + current.joined(separator: "/"), path: path)
                continue
            }
            try requireTrusted(entry, next, path: path)
            current.append(name)
            currentInfo = entry
            if !pending.isEmpty && (entry.st_mode & S_IFMT) != S_IFDIR {
                throw Untrusted(path: path, component: next, reason: "is not a folder")
            }
        }
        let resolved = "/" + current.joined(separator: "/")
        try requireTarget(currentInfo, kind, resolved, path: path)
        return resolved
    }

    /// Owner trusted, and not writable by others unless a sticky folder (checked further by the caller).
    private func requireTrusted(_ st: stat, _ component: String, path: String) throws {
        guard owners.contains(st.st_uid) else {
            throw Untrusted(path: path, component: component, reason: "is owned by uid \(st.st_uid), not by root or uid \(owners.subtracting([0]).sorted().map(String.init).joined(separator: "/"))")
        }
        let isSticky = (st.st_mode & S_IFMT) == S_IFDIR && st.st_mode & S_ISVTX != 0
        if Self.writableByOthers(st) && !isSticky {
            throw Untrusted(path: path, component: component, reason: "is writable by \(st.st_mode & S_IWOTH != 0 ? "others" : "its group") (mode \(String(st.st_mode & 0o7777, radix: 8)))")
        }
    }

    /// The target itself: of the kind asked for, and writable by nobody else, sticky or not.
    private func requireTarget(_ st: stat, _ kind: Kind, _ component: String, path: String) throws {
        let type = st.st_mode & S_IFMT
        switch kind {
        case .file where type != S_IFREG:
            throw Untrusted(path: path, component: component, reason: "is not a regular file")
        case .directory where type != S_IFDIR:
            throw Untrusted(path: path, component: component, reason: "is not a folder")
        default: break
        }
        if Self.writableByOthers(st) {
            throw Untrusted(path: path, component: component, reason: "is writable by \(st.st_mode & S_IWOTH != 0 ? "others" : "its group") (mode \(String(st.st_mode & 0o7777, radix: 8)))")
        }
    }

    static func writableByOthers(_ st: stat) -> Bool { st.st_mode & (S_IWGRP | S_IWOTH) != 0 }

    private func info(_ component: String, path: String) throws -> stat {
        var st = stat()
        guard lstat(component, &st) == 0 else {
            throw Untrusted(path: path, component: component, reason: "cannot be examined (\(Errno(rawValue: errno).description))")
        }
        return st
    }

    private func readLink(_ component: String, path: String) throws -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink(component, &buffer, buffer.count - 1)
        guard n >= 0 else {
            throw Untrusted(path: path, component: component, reason: "cannot be read as a symlink (\(Errno(rawValue: errno).description))")
        }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The components of `path` from `/`: a relative path is taken from the working directory,
    /// unless `relative` (a symlink's target, resolved from the folder holding the link).
    static func components(of path: String, relative: Bool = false) -> [String] {
        var full = path
        if !relative && !path.hasPrefix("/") {
            full = FileManager.default.currentDirectoryPath + "/" + path
        }
        return full.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
    }
}
