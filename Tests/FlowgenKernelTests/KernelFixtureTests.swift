import Foundation
import Testing
import FlowgenCore
@testable import FlowgenKernel

/// Shared fixtures of the kernel tests: a small hand-written TC program, crafted packets, scratch
/// cache directories. Kernel tests fail (never skip) without root, as DESIGN.md requires.
enum KernelFixture {
    /// Fails the calling test with flowgen's own explanation when the process cannot use BPF.
    static func requireRoot() throws {
        do {
            try LoadedObject.requirePrivileges()
        } catch {
            Issue.record("kernel tests need root with real BPF: \(error)")
            throw error
        }
    }

    /// A header shared by the program and the tests: key and value layouts with arrays and padding.
    static let sharedHeader = """
    #ifndef FGK_SHARED_H
    #define FGK_SHARED_H
    #include <linux/types.h>

    struct fgk_key {
        __u32 saddr;
        __u32 daddr;
        __u16 sport;
        __u16 dport;
        __u8 proto;
        __u8 pad[3];
    };

    struct fgk_value {
        __u64 packets;
        __u64 bytes;
        __u64 last_seen;
        __u16 first_len;
        __u8 tos[2];
        __u32 hist[3];
    };
    #endif
    """

    /// Counts packets and IP bytes per (addresses, ports, protocol); returns TC_ACT_UNSPEC.
    /// Counter slots: 0 non-IP frames (as `KernelCounter.notIP`), 2 lost inserts, 3 packets seen.
    static let counterProgram = """
    // SPDX-License-Identifier: GPL-2.0
    #include <linux/bpf.h>
    #include <linux/pkt_cls.h>
    #include <linux/if_ether.h>
    #include <linux/in.h>
    #include <linux/ip.h>
    #include <linux/udp.h>
    #include <bpf/bpf_helpers.h>
    #include <bpf/bpf_endian.h>
    #include "fgk_shared.h"

    struct {
        __uint(type, BPF_MAP_TYPE_HASH);
        __uint(max_entries, 1024);
        __type(key, struct fgk_key);
        __type(value, struct fgk_value);
    } fg_flows SEC(".maps");

    struct {
        __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
        __uint(max_entries, 4);
        __type(key, __u32);
        __type(value, __u64);
    } fg_counters SEC(".maps");

    /* Set from userland before load (rodata). */
    const volatile __u32 fg_bytes_multiplier = 1;

    static __always_inline void fgk_count(__u32 index)
    {
        __u64 *counter = bpf_map_lookup_elem(&fg_counters, &index);
        if (counter)
            *counter += 1;
    }

    SEC("tc")
    int fg_entry(struct __sk_buff *skb)
    {
        void *data = (void *)(long)skb->data;
        void *data_end = (void *)(long)skb->data_end;
        struct ethhdr *eth = data;
        struct fgk_key key = {};

        fgk_count(3);  /* packets seen (test only) */
        if ((void *)(eth + 1) > data_end)
            return TC_ACT_UNSPEC;
        if (eth->h_proto != bpf_htons(ETH_P_IP)) {
            fgk_count(0);  /* KernelCounter.notIP */
            return TC_ACT_UNSPEC;
        }
        struct iphdr *ip = (void *)(eth + 1);
        if ((void *)(ip + 1) > data_end)
            return TC_ACT_UNSPEC;
        key.saddr = ip->saddr;
        key.daddr = ip->daddr;
        key.proto = ip->protocol;
        if (ip->protocol == IPPROTO_UDP && ip->ihl == 5) {
            struct udphdr *udp = (void *)(ip + 1);
            if ((void *)(udp + 1) > data_end)
                return TC_ACT_UNSPEC;
            key.sport = bpf_ntohs(udp->source);
            key.dport = bpf_ntohs(udp->dest);
        }
        struct fgk_value *value = bpf_map_lookup_elem(&fg_flows, &key);
        if (!value) {
            struct fgk_value fresh = { .first_len = bpf_ntohs(ip->tot_len) };
            /* -EEXIST means another CPU inserted first: the lookup below finds its entry. */
            bpf_map_update_elem(&fg_flows, &key, &fresh, BPF_NOEXIST);
            value = bpf_map_lookup_elem(&fg_flows, &key);
            if (!value) {
                fgk_count(2);
                return TC_ACT_UNSPEC;
            }
        }
        __sync_fetch_and_add(&value->packets, 1);
        __sync_fetch_and_add(&value->bytes, (__u64)bpf_ntohs(ip->tot_len) * fg_bytes_multiplier);
        value->last_seen = skb->tstamp;
        return TC_ACT_UNSPEC;
    }

    char LICENSE[] SEC("license") = "GPL";
    """

    /// The counter program as a generated unit.
    static func counterSource(extraComment: String = "") -> GeneratedSource {
        GeneratedSource(mainFile: "fgk.bpf.c",
                        files: ["fgk.bpf.c": counterProgram + extraComment, "fgk_shared.h": sharedHeader],
                        entryProgram: "fg_entry")
    }

    /// A fresh cache directory; removed by `removeCache`.
    static func scratchCache(_ name: String = #function) -> String {
        let safe = name.filter { $0.isLetter || $0.isNumber }
        return NSTemporaryDirectory() + "fgk-cache-\(getpid())-\(safe)-\(UInt32.random(in: 0...UInt32.max))"
    }

    /// Deletes a scratch cache directory.
    static func removeCache(_ path: String) {
        try? FileManager.default.removeItem(atPath: path)
    }

    /// Compiles and loads the counter program (into a scratch cache that is removed again).
    static func loadCounterProgram(rodata: [String: UInt64] = [:], mapSizes: [String: UInt32] = [:]) throws -> LoadedObject {
        let cache = scratchCache()
        defer { removeCache(cache) }
        let object = try ClangCompiler(cacheDirectory: cache).compile(counterSource(), version: "test")
        return try LoadedObject(objectPath: object.objectPath, entryProgram: "fg_entry", mapSizes: mapSizes, rodata: rodata)
    }

    /// A 60-byte Ethernet/IPv4/UDP frame, 198.18.0.1:5353 -> 198.18.0.2:9999, IP total length 46.
    static func udpPacket(sourcePort: UInt16 = 5353, destinationPort: UInt16 = 9999) -> [UInt8] {
        var frame: [UInt8] = []
        frame += [0x02, 0x00, 0x00, 0x00, 0x00, 0x02]           // destination MAC
        frame += [0x02, 0x00, 0x00, 0x00, 0x00, 0x01]           // source MAC
        frame += [0x08, 0x00]                                   // IPv4
        var ip: [UInt8] = [0x45, 0x00, 0x00, 46, 0x12, 0x34, 0x40, 0x00, 64, 17, 0x00, 0x00,
                           198, 18, 0, 1, 198, 18, 0, 2]
        let checksum = internetChecksum(ip)
        ip[10] = UInt8(checksum >> 8)
        ip[11] = UInt8(checksum & 0xFF)
        frame += ip
        frame += [UInt8(sourcePort >> 8), UInt8(sourcePort & 0xFF), UInt8(destinationPort >> 8), UInt8(destinationPort & 0xFF)]
        frame += [0x00, 26, 0x00, 0x00]                         // UDP length 26, checksum unset
        frame += [UInt8](repeating: 0xAB, count: 18)            // payload
        return frame
    }

    /// The flow key the counter program builds for `udpPacket` (host-order ports, network-order addresses).
    static func udpKey(sourcePort: UInt16 = 5353, destinationPort: UInt16 = 9999) -> [UInt8] {
        var key: [UInt8] = [198, 18, 0, 1, 198, 18, 0, 2]
        withUnsafeBytes(of: sourcePort) { key += $0 }
        withUnsafeBytes(of: destinationPort) { key += $0 }
        key += [17, 0, 0, 0]
        return key
    }

    /// Reads a native-endian u64 at `offset`.
    static func u64(_ bytes: some Collection<UInt8>, at offset: Int) -> UInt64 {
        let array = Array(bytes)
        return array.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: UInt64.self) }
    }

    static func internetChecksum(_ bytes: [UInt8]) -> UInt16 {
        var sum: UInt32 = 0
        for index in stride(from: 0, to: bytes.count, by: 2) {
            sum += UInt32(bytes[index]) << 8 | UInt32(index + 1 < bytes.count ? bytes[index + 1] : 0)
        }
        while sum >> 16 != 0 { sum = (sum & 0xFFFF) + (sum >> 16) }
        return ~UInt16(sum)
    }
}

@Suite("Kernel SHA-256")
struct KernelSHA256Tests {
    @Test func knownVectors() {
        #expect(SHA256.hex([UInt8]()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(SHA256.hex([UInt8](repeating: 0x61, count: 1_000_000))
                == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test func incrementalEqualsOneShot() {
        let bytes = (0..<1000).map { UInt8(truncatingIfNeeded: $0 * 7) }
        var hasher = SHA256()
        var offset = 0
        for size in [1, 63, 64, 65, 0, 200, 607] {
            hasher.update(Array(bytes[offset..<(offset + size)]))
            offset += size
        }
        #expect(offset == bytes.count)
        #expect(hasher.finalizeHex() == SHA256.hex(bytes))
    }
}
