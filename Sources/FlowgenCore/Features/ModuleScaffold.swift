import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A new module folder (`flowgen new-feature NAME`): a commented feature.yaml, a C body and one
/// test vector whose values are worked out in its comments, so that `flowgen test` passes on it as
/// written and the researcher changes a working module rather than starting from nothing.
public struct ModuleScaffold: Sendable {
    /// The module's name: its folder, its `name:`, and the prefix of its fields and output names.
    public let name: String

    /// Longest name accepted: its output names (`NAME_MAX_PAYLOAD_OUT`) must stay within 64 characters.
    public static let maximumNameLength = 40

    /// Names that already mean something in a feature list.
    static let reserved: Set<String> = ["all"]

    /// Checks `name` as a module name (a C identifier, not `all`, short enough for its output
    /// names, not one of `existing`) and returns the scaffold; the error says what to type instead.
    public init(name: String, existing: [String]) throws {
        guard FeatureLoader.isIdentifier(name) else {
            throw ScaffoldError("'\(name)' is not a module name: use letters, digits and _, starting with a letter (it is the folder's name and a C identifier), e.g. syn_count")
        }
        guard name.count <= Self.maximumNameLength else {
            throw ScaffoldError("module name '\(name)' is \(name.count) characters long; at most \(Self.maximumNameLength), so that its output names fit")
        }
        guard !Self.reserved.contains(name) else {
            throw ScaffoldError("'\(name)' selects every module in --features; choose another module name")
        }
        guard !existing.contains(name) else {
            throw ScaffoldError("a module called '\(name)' already exists (`flowgen features` lists them); choose another name, as --features could not tell the two apart")
        }
        self.name = name
    }

    /// The output-name prefix: the module name in capitals.
    var prefix: String { name.uppercased() }

    /// feature.yaml.
    public var specText: String {
        """
        # \(name): a flowgen feature module, written by `flowgen new-feature \(name)`: change anything.
        # Format and C contract: docs/modules.md. The folder holding this one is a feature path:
        #   flowgen test  --feature-path DIR \(name)           run tests/*.yaml (no root needed)
        #   flowgen build --feature-path DIR --features \(name) generate, compile and verify
        name: \(name)
        summary: Packets of 1000 bytes or more, and the largest TCP/UDP payload, per direction
        # The update below runs only for these packets (ipv4, ipv6, tcp, udp, icmp; empty: every packet).
        applies_to: [tcp, udp]
        fields:
          # One stored value per direction of a flow. `sum` adds what the body passes to FG_SET.
          - name: \(name)_large_packets
            type: u64                      # u8, u16, u32, u64 (sum, or and histogram need u32/u64)
            aggregation: sum               # sum | min | max | or | first | last | histogram
            unit: packets
            # output names: forward is the initiator's direction, reverse the responder's,
            # combined both merged by the aggregation
            json: { forward: \(prefix)_LARGE_PKTS_IN, reverse: \(prefix)_LARGE_PKTS_OUT, combined: \(prefix)_LARGE_PKTS }
          # `max` keeps the largest value FG_SET is given.
          - name: \(name)_max_payload
            type: u32
            aggregation: max
            unit: octets
            json: { forward: \(prefix)_MAX_PAYLOAD_IN, reverse: \(prefix)_MAX_PAYLOAD_OUT, combined: \(prefix)_MAX_PAYLOAD }
          # A field without output names is module state the body keeps (a previous value, a time):
          # declare it with `export: false` instead of `json:`; every field says one or the other.
        # C run for every packet the module applies to (a field with `value:` instead needs none).
        update: update.bpf.c

        """
    }

    /// update.bpf.c.
    public var bodyText: String {
        """
        /* \(name): runs once per TCP or UDP packet (applies_to in feature.yaml), with `pkt` the parsed
         * packet and `rec` this direction's record. FG_SET(field, value) updates a field as its
         * aggregation says. Everything a body may use is in Templates/module.h, the module API. A body
         * must not `return`: the modules after it run in the same program. See docs/modules.md,
         * "Writing a module". */
        if (pkt->ip_bytes >= 1000)
        \tFG_SET(\(name)_large_packets, 1);
        /* payload: the IP length less the IP and TCP/UDP headers (payload_off and l3_off are offsets
         * in the frame); a GSO packet (pkt->segs > 1) counts as one large packet here */
        __u32 headers = pkt->payload_off - pkt->l3_off;
        FG_SET(\(name)_max_payload, pkt->ip_bytes > headers ? pkt->ip_bytes - headers : 0);

        """
    }

    /// tests/NAME.yaml.
    public var vectorText: String {
        """
        # A test vector of \(name): these packets must give these values (`flowgen test`).
        # Worked out by hand from the packets (len is the IP length; UDP headers take 20 + 8 bytes):
        #   forward  len 1200 (payload 1172), len 100 (payload 72): 1 large packet, largest payload 1172
        #   reverse  len 1000 (payload 972), len 28 (no payload):   1 large packet, largest payload 972
        #   combined large packets 1 + 1 = 2, largest payload max(1172, 972) = 1172
        description: large packets and the largest payload per direction
        flow: { src: 198.18.0.1, dst: 198.18.0.2, proto: udp, sport: 40000, dport: 5000 }
        packets:
          # t: seconds from the start; dir: fwd (initiator to responder) or rev
          - { t: 0,     dir: fwd, len: 1200 }
          - { t: 0.001, dir: rev, len: 1000 }
          - { t: 0.002, dir: fwd, len: 100 }
          - { t: 0.003, dir: rev }
        expect:
          forward:  { \(name)_large_packets: 1, \(name)_max_payload: 1172 }
          reverse:  { \(name)_large_packets: 1, \(name)_max_payload: 972 }
          combined: { \(name)_large_packets: 2, \(name)_max_payload: 1172 }

        """
    }

    /// Writes the module folder `directory/name` (folders 0755, files 0644, refusing an existing
    /// folder) and, when `owner` is given, hands every path to that uid/gid (`sudo`: the user's
    /// files, not root's). Returns the module folder. On failure nothing of the folder is left.
    @discardableResult
    public func write(in directory: String, owner: (uid: uid_t, gid: gid_t)? = nil) throws -> String {
        let module = (directory as NSString).appendingPathComponent(name)
        var made: [String] = []
        func makeDirectory(_ path: String) throws {
            guard mkdir(path, 0o755) == 0 else {
                let reason = errno == EEXIST ? "it already exists; choose another name or --dir, flowgen does not overwrite a module"
                                             : String(cString: strerror(errno))
                throw ScaffoldError("cannot create '\(path)': \(reason)")
            }
            made.append(path)
            try finish(path, mode: 0o755)
        }
        func finish(_ path: String, mode: mode_t) throws {
            // exact modes whatever the umask; then the owner, as the last step, so that nothing
            // is ever the target user's with another mode
            guard chmod(path, mode) == 0 else { throw ScaffoldError("cannot set the mode of '\(path)': \(String(cString: strerror(errno)))") }
            if let owner, lchown(path, owner.uid, owner.gid) != 0 {
                throw ScaffoldError("cannot hand '\(path)' to uid \(owner.uid): \(String(cString: strerror(errno)))")
            }
        }
        func makeFile(_ path: String, _ text: String) throws {
            let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw ScaffoldError("cannot create '\(path)': \(String(cString: strerror(errno)))") }
            made.append(path)
            let bytes = Array(text.utf8)
            let written = bytes.withUnsafeBytes { systemWrite(fd, $0.baseAddress, $0.count) }
            close(fd)
            guard written == bytes.count else { throw ScaffoldError("cannot write '\(path)': \(String(cString: strerror(errno)))") }
            try finish(path, mode: 0o644)
        }
        do {
            try makeDirectory(module)
            try makeFile(module + "/feature.yaml", specText)
            try makeFile(module + "/update.bpf.c", bodyText)
            try makeDirectory(module + "/tests")
            try makeFile(module + "/tests/\(name).yaml", vectorText)
        } catch {
            // what this call made, newest first: an existing folder is never touched
            for path in made.reversed() { _ = unlink(path) == 0 || rmdir(path) == 0 }
            throw error
        }
        return module
    }
}

/// A module that cannot be scaffolded, with what to do instead.
public struct ScaffoldError: Error, CustomStringConvertible, Equatable {
    /// The message.
    public let description: String
    /// Creates an error.
    public init(_ description: String) { self.description = description }
}

/// write(2), named apart from the scaffold's own `write(in:owner:)`.
private func systemWrite(_ fd: Int32, _ buffer: UnsafeRawPointer?, _ count: Int) -> Int {
    write(fd, buffer, count)
}
