import Foundation
import Yams

/// One packet of a vector as written in its file (`packets:`), turned into an Ethernet frame with
/// `PacketBuilder`. Addresses, ports and protocol come from the vector's `flow:` (the initiator's
/// view), swapped for `dir: rev`; everything else a packet may say is listed in `keys`.
struct PacketDescription {
    /// The initiator's endpoints, shared by the packets of a vector.
    struct Flow {
        var src: String
        var dst: String
        var proto: String
        var sport: UInt16
        var dport: UInt16

        init(_ node: Node, _ r: VectorReader) throws {
            guard let map = node.mapping else { throw r.error(node, "`flow` must be a mapping: { src:, dst:, proto:, sport:, dport: }") }
            try r.allowOnly(["src", "dst", "proto", "sport", "dport"], in: map, what: "flow")
            guard let s = map["src"], let d = map["dst"], let p = map["proto"] else {
                throw r.error(node, "`flow` needs src:, dst: and proto: (tcp, udp, icmp or a protocol number)")
            }
            src = try r.text(s, "src")
            dst = try r.text(d, "dst")
            proto = try r.text(p, "proto")
            sport = UInt16(try map["sport"].map { try r.unsigned($0, "sport", max: 65535) } ?? 0)
            dport = UInt16(try map["dport"].map { try r.unsigned($0, "dport", max: 65535) } ?? 0)
        }
    }

    /// Every key a packet may have.
    static let keys: Set<String> = ["t", "dir", "src", "dst", "sport", "dport", "proto", "len", "ttl", "tos", "flow_label",
                                    "id", "flags", "seq", "ack", "window", "options", "type", "code", "payload", "text", "ext"]

    var timeNs: UInt64
    let map: Node.Mapping
    let flow: Flow
    let forward: Bool

    init(_ node: Node, flow: Flow, _ r: VectorReader) throws {
        guard let map = node.mapping else { throw r.error(node, "each packet must be a mapping such as { t: 0.001, dir: fwd, len: 60 }") }
        try r.allowOnly(Self.keys, in: map, what: "packet")
        guard let t = map["t"] else { throw r.error(node, "packet without `t:` (seconds since the vector's start, e.g. 0.0015)") }
        guard let ns = Self.nanoseconds(try r.text(t, "t")) else {
            throw r.error(t, "`t` must be seconds as a decimal number with at most 9 decimals (e.g. 0.0015), got '\(t.string ?? "")'")
        }
        timeNs = ns
        self.map = map
        self.flow = flow
        switch try map["dir"].map({ try r.text($0, "dir") }) ?? "fwd" {
        case "fwd": forward = true
        case "rev": forward = false
        case let other: throw r.error(map["dir"]!, "`dir` is fwd (initiator to responder) or rev (back), got '\(other)'")
        }
    }

    /// `seconds` as exact ns: "1.5" → 1,500,000,000; nil when not a plain decimal.
    static func nanoseconds(_ seconds: String) -> UInt64? {
        let parts = seconds.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count <= 2, let whole = UInt64(parts[0].isEmpty ? "0" : String(parts[0])), whole < 4_000_000_000 else { return nil }
        var fraction: UInt64 = 0
        if parts.count == 2 {
            let f = parts[1]
            guard !f.isEmpty, f.count <= 9, f.allSatisfy(\.isASCII), let v = UInt64(f) else { return nil }
            fraction = v * [1, 10, 100, 1000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000, 1_000_000_000][9 - f.count]
        }
        return whole * 1_000_000_000 + fraction
    }

    func int(_ key: String, max: UInt64, _ r: VectorReader) throws -> UInt64? {
        try map[key].map { try r.unsigned($0, key, max: max) }
    }

    /// The frame: Ethernet, IPv4 or IPv6 (by the source address), then TCP, UDP, ICMP or another protocol.
    func frame(_ r: VectorReader, _ node: Node) throws -> [UInt8] {
        let a = try map["src"].map { try r.text($0, "src") } ?? (forward ? flow.src : flow.dst)
        let b = try map["dst"].map { try r.text($0, "dst") } ?? (forward ? flow.dst : flow.src)
        let sport = try int("sport", max: 65535, r).map(UInt16.init) ?? (forward ? flow.sport : flow.dport)
        let dport = try int("dport", max: 65535, r).map(UInt16.init) ?? (forward ? flow.dport : flow.sport)
        let protoName = try map["proto"].map { try r.text($0, "proto") } ?? flow.proto
        let v6 = a.contains(":")
        guard b.contains(":") == v6 else { throw r.error(node, "src \(a) and dst \(b) are not of one IP version") }
        let proto: UInt8
        switch protoName {
        case "tcp": proto = 6
        case "udp": proto = 17
        case "icmp": proto = v6 ? 58 : 1
        default:
            guard let n = UInt8(protoName) else { throw r.error(node, "proto '\(protoName)' is not tcp, udp, icmp or a number from 0 to 255") }
            proto = n
        }
        var payload: [UInt8] = []
        if let p = map["payload"] {
            let hex = try r.text(p, "payload").filter { !$0.isWhitespace }
            guard hex.count % 2 == 0, let bytes = Self.hexBytes(hex) else {
                throw r.error(p, "`payload` must be hex bytes (e.g. \"47 45 54 20\"); use `text:` for ASCII")
            }
            payload = bytes
        }
        if let t = map["text"] { payload += Array(try r.text(t, "text").utf8) }
        let ttl = UInt8(try int("ttl", max: 255, r) ?? 64)
        let tos = UInt8(try int("tos", max: 255, r) ?? 0)
        // transport header size, so that `len:` can pad the payload to an exact IP length
        let options = try tcpOptions(r)
        let transportHeader: Int
        switch proto {
        case 6: transportHeader = 20 + (options.count + 3) / 4 * 4
        case 17, 1, 58: transportHeader = 8
        default: transportHeader = 0
        }
        let extensions = try ipv6Extensions(r, v6: v6)
        // each extension header as written here (no options) takes 8 bytes
        let ipHeader = v6 ? 40 + 8 * extensions.count : 20
        if let len = try int("len", max: 65535 + 40, r) {
            let minimum = ipHeader + transportHeader + payload.count
            guard Int(len) >= minimum else {
                throw r.error(map["len"]!, "len \(len) is less than the headers and payload: \(ipHeader) IP + \(transportHeader) transport + \(payload.count) payload = \(minimum) bytes")
            }
            payload += [UInt8](repeating: 0, count: Int(len) - minimum)
        }
        for key in ["flags", "ack", "window", "options"] where map[key] != nil && proto != 6 {
            throw r.error(map[key]!, "`\(key)` applies to TCP packets")
        }
        for key in ["type", "code"] where map[key] != nil && proto != 1 && proto != 58 {
            throw r.error(map[key]!, "`\(key)` applies to ICMP packets")
        }
        var packet = Packet.ethernet()
        if v6 {
            guard let s = PacketBuilder.IPv6Address(parsing: a), let d = PacketBuilder.IPv6Address(parsing: b) else { throw r.error(node, "'\(a)' or '\(b)' is not an IPv6 address") }
            if map["id"] != nil { throw r.error(map["id"]!, "`id` is the IPv4 identification; IPv6 has none") }
            packet = packet.ipv6(src: s, dst: d, trafficClass: tos, flowLabel: UInt32(try int("flow_label", max: 0xFFFFF, r) ?? 0), hopLimit: ttl,
                                 extensionHeaders: extensions)
        } else {
            guard let s = PacketBuilder.IPv4Address(parsing: a), let d = PacketBuilder.IPv4Address(parsing: b) else { throw r.error(node, "'\(a)' or '\(b)' is not an IPv4 address") }
            if map["flow_label"] != nil { throw r.error(map["flow_label"]!, "`flow_label` is an IPv6 field") }
            packet = packet.ipv4(src: s, dst: d, ttl: ttl, tos: tos, id: UInt16(try int("id", max: 65535, r) ?? 0))
        }
        switch proto {
        case 6:
            packet = packet.tcp(sport: sport, dport: dport, seq: UInt32(try int("seq", max: UInt64(UInt32.max), r) ?? 1),
                                ack: UInt32(try int("ack", max: UInt64(UInt32.max), r) ?? 0), flags: try tcpFlags(r),
                                window: UInt16(try int("window", max: 65535, r) ?? 65535),
                                options: options.isEmpty ? [] : [.raw(options)], payload: payload)
        case 17:
            if map["seq"] != nil { throw r.error(map["seq"]!, "`seq` applies to TCP and ICMP packets") }
            packet = packet.udp(sport: sport, dport: dport, payload: payload)
        case 1, 58:
            let type = UInt8(try int("type", max: 255, r) ?? (v6 ? 128 : 8))
            let code = UInt8(try int("code", max: 255, r) ?? 0)
            // the identifier is the flow's `sport` in both directions (an echo reply repeats the request's)
            let identifier = try int("sport", max: 65535, r).map(UInt16.init) ?? flow.sport
            let sequence = UInt16(try int("seq", max: 65535, r) ?? 0)
            packet = v6 ? packet.icmpv6(type: type, code: code, identifier: identifier, sequence: sequence, payload: payload)
                        : packet.icmpv4(type: type, code: code, identifier: identifier, sequence: sequence, payload: payload)
        default:
            if map["seq"] != nil { throw r.error(map["seq"]!, "`seq` applies to TCP and ICMP packets") }
            packet = packet.ipPayload(protocol: proto, payload)
        }
        return packet.bytes()
    }

    /// `ext:` as a list of IPv6 extension headers, outermost first: `hop` (hop-by-hop options),
    /// `route` (routing, type 0, no segments left), `frag` (an atomic fragment: offset 0, no more
    /// fragments), `dst` (destination options); 8 bytes each.
    func ipv6Extensions(_ r: VectorReader, v6: Bool) throws -> [PacketBuilder.IPv6ExtensionHeader] {
        guard let node = map["ext"] else { return [] }
        guard v6 else { throw r.error(node, "`ext` lists IPv6 extension headers; this packet is IPv4") }
        guard let list = node.sequence, list.count <= 8 else { throw r.error(node, "`ext` must be a list of at most 8 of hop, route, frag, dst") }
        return try list.map { item in
            switch try r.text(item, "ext") {
            case "hop": return .hopByHop(options: [])
            case "route": return .routing(type: 0, segmentsLeft: 0, data: [0, 0, 0, 0])
            case "frag": return .fragment(offset: 0, moreFragments: false, identification: 1)
            case "dst": return .destinationOptions(options: [])
            case let other: throw r.error(item, "unknown extension header '\(other)'; use hop, route, frag or dst")
            }
        }
    }

    /// `flags:` as letters (F S R P A U E C, any order, e.g. SA) or a number.
    func tcpFlags(_ r: VectorReader) throws -> PacketBuilder.TCPFlags {
        guard let node = map["flags"] else { return [.ack] }
        let s = try r.text(node, "flags")
        if let n = VectorReader.parseUnsigned(s), n <= 255 { return PacketBuilder.TCPFlags(rawValue: UInt8(n)) }
        let letters: [Character: PacketBuilder.TCPFlags] = ["F": .fin, "S": .syn, "R": .rst, "P": .psh, "A": .ack, "U": .urg, "E": .ece, "C": .cwr]
        var flags: PacketBuilder.TCPFlags = []
        for c in s {
            guard let flag = letters[c] else {
                throw r.error(node, "`flags` letter '\(c)' is not a TCP flag; use F S R P A U E C (e.g. SA), or a number")
            }
            flags.insert(flag)
        }
        return flags
    }

    /// `options:` as a list of `mss=1460`, `ws=7`, `sackok`, `sack=L-R[/L-R...]`, `ts=VAL/ECR`, `nop`, `eol`, `raw=HEX`.
    func tcpOptions(_ r: VectorReader) throws -> [UInt8] {
        guard let node = map["options"] else { return [] }
        guard let list = node.sequence else { throw r.error(node, "`options` must be a list such as [mss=1460, nop, ws=7]") }
        var bytes: [UInt8] = []
        for item in list {
            let s = try r.text(item, "options")
            let parts = s.split(separator: "=", maxSplits: 1).map(String.init)
            let arg = parts.count == 2 ? parts[1] : nil
            func number(_ t: String?, max: UInt64) throws -> UInt64 {
                guard let t, let v = VectorReader.parseUnsigned(t), v <= max else { throw r.error(item, "option '\(s)': a number up to \(max) is missing or too large") }
                return v
            }
            switch parts[0] {
            case "eol": bytes += PacketBuilder.TCPOption.endOfList.bytes
            case "nop": bytes += PacketBuilder.TCPOption.noOperation.bytes
            case "sackok": bytes += PacketBuilder.TCPOption.sackPermitted.bytes
            case "mss": bytes += PacketBuilder.TCPOption.maximumSegmentSize(UInt16(try number(arg, max: 65535))).bytes
            case "ws": bytes += PacketBuilder.TCPOption.windowScale(UInt8(try number(arg, max: 255))).bytes
            case "ts":
                let v = (arg ?? "").split(separator: "/").map(String.init)
                guard v.count == 2 else { throw r.error(item, "option '\(s)': write ts=VALUE/ECHO") }
                bytes += PacketBuilder.TCPOption.timestamp(value: UInt32(try number(v[0], max: UInt64(UInt32.max))),
                                                           echoReply: UInt32(try number(v[1], max: UInt64(UInt32.max)))).bytes
            case "sack":
                let blocks = (arg ?? "").split(separator: "/")
                guard !blocks.isEmpty, blocks.count <= 4 else { throw r.error(item, "option '\(s)': write sack=LEFT-RIGHT[/LEFT-RIGHT...] (1 to 4 blocks)") }
                var body: [UInt8] = []
                for block in blocks {
                    let e = block.split(separator: "-").map(String.init)
                    guard e.count == 2 else { throw r.error(item, "option '\(s)': a SACK block is LEFT-RIGHT") }
                    body += PacketBuilder.wire(UInt32(try number(e[0], max: UInt64(UInt32.max))))
                    body += PacketBuilder.wire(UInt32(try number(e[1], max: UInt64(UInt32.max))))
                }
                bytes += [5, UInt8(2 + body.count)] + body
            case "raw":
                guard let arg, arg.count % 2 == 0, let raw = Self.hexBytes(arg) else { throw r.error(item, "option '\(s)': write raw=HEX (e.g. raw=fe0401)") }
                bytes += raw
            default:
                throw r.error(item, "unknown TCP option '\(s)'; use mss=N, ws=N, sackok, sack=L-R, ts=V/E, nop, eol or raw=HEX")
            }
        }
        guard bytes.count <= 40 else { throw r.error(node, "the options take \(bytes.count) bytes; a TCP header holds at most 40") }
        return bytes
    }

    /// Bytes of an even-length hex string, nil when it holds anything else.
    static func hexBytes(_ hex: String) -> [UInt8]? {
        var out: [UInt8] = []
        var chars = Array(hex.utf8)[...]
        while chars.count >= 2 {
            guard let v = UInt8(String(decoding: chars.prefix(2), as: UTF8.self), radix: 16) else { return nil }
            out.append(v)
            chars = chars.dropFirst(2)
        }
        return chars.isEmpty ? out : nil
    }
}
