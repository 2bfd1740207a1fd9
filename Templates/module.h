/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The module API: everything a module's update body and helpers file may use, for the BPF and
 * the native (replay) build alike. Nothing else of flowgen's C is promised to modules.
 *
 * `flowgen` enforces it when it loads a module (Sources/FlowgenCore/Features/ModuleSource.swift,
 * whose list of names must match this file): a body or helpers file that names an fg_/FG_
 * identifier not listed here, or reads `skb->` directly, is refused at its file and line with
 * what to use instead. Raw BPF helpers (bpf_*) stay allowed but are kernel-only unless
 * Templates/native.h implements them (the native build then fails naming the helper).
 *
 * What a body sees (it runs inside the update function of its stage, once per packet of a flow
 * direction its module applies to):
 *   skb  the packet (struct __sk_buff): pass it to FG_PTR, FG_LOAD, fg_segment_sizes, fg_pkt_len
 *   pkt  struct fg_pkt *: what the parser learnt about the packet (below)
 *   rec  struct fg_record *: this flow direction's record, the module fields as members
 * Generated per plan (flowgen_plan.h), also part of the API:
 *   struct fg_record           the record: read any member; change one only with FG_SET/FG_ADD_BIN
 *   FG_PARAM_<MODULE>_<NAME>   a parameter of the module as the selection set it (and _COUNT of a list)
 * Defined by the build:
 *   FG_NATIVE                  defined in the native (replay) build, for code that must differ
 * A module may also test the symbols its own `defines:` declares. */
#ifndef FLOWGEN_MODULE_H
#define FLOWGEN_MODULE_H

/* --- the packet view --- */

/* What the parser learnt about one packet (`pkt`); offsets are from the start of the packet. */
struct fg_pkt {
	struct fg_flow_key key; /* the flow key: src, dst (16 bytes, IPv4 v4-mapped), sport, dport, proto, ip_version */
	__u64 now;           /* ns, CLOCK_MONOTONIC, coarse (a tick) unless FG_PRECISE_TIME; capture time in replay */
	__u64 now_precise;   /* internal to fg_now_precise(): read that instead */
	__u32 ip_bytes;      /* IP bytes on the wire, all GSO segments together */
	__u32 segs;          /* wire packets: gso_segs for GSO skbs, else 1 */
	__u32 flow_label;    /* IPv6 flow label, 0 for IPv4 */
	__u32 tcp_seq;       /* TCP sequence number (host order), 0 for other protocols */
	__u32 tcp_ack;       /* TCP acknowledgment number (host order) */
	__u16 l3_off;        /* offset of the IP header */
	__u16 l4_off;        /* offset of the transport header; 0 when absent (non-first fragment) */
	__u16 payload_off;   /* first byte after the transport header, 0 if unknown */
	__u16 tcp_window;    /* raw, unscaled */
	__u8  l4_proto;      /* IP protocol of the transport header (IPPROTO_*) */
	__u8  ttl;           /* TTL or hop limit */
	__u8  tos;           /* TOS or traffic class */
	__u8  tcp_flags;     /* the TCP flags byte (0x01 FIN, 0x02 SYN, 0x04 RST, 0x10 ACK, ...) */
	__u8  icmp_type;     /* ICMP/ICMPv6 type */
	__u8  icmp_code;     /* ICMP/ICMPv6 code */
	__u8  fragment;      /* 1 for a non-first fragment */
	__u8  jumbo;         /* 1 when a hop-by-hop jumbo option (IPv6 BIG TCP) follows the IPv6
	                      * header: the kernel strips it from every wire segment of a GSO skb */
};

/* The packet's length in bytes from its link header on, all GSO segments together (skb->len):
 * for payload sizes of a GSO skb, whose ip_bytes the parser took from the headers. */
static __always_inline __u32 fg_pkt_len(const struct __sk_buff *skb)
{
	return skb->len;
}

/* --- the record's update macros (the per-field FG_AGG_ and FG_BIN_ macros are generated) --- */

/* FG_SET(field, v): apply the field's declared aggregation (and presence bit, time) to `rec`. */
#define FG_SET(field, v) FG_AGG_##field(rec, (v))
/* FG_ADD_BIN(field, bin, n): add n to one bin of a histogram field (the last bin takes larger bins). */
#define FG_ADD_BIN(field, b, n) FG_BIN_##field(rec, (b), (n))

/* --- clocks --- */

/* ns-precise time for a module that needs it on some packets only (when a TCP sequence hole
 * opens, for a DNS query or response, an RTT sample): the packet's own time when every packet
 * is stamped precisely (FG_PRECISE_TIME) or replayed, else bpf_ktime_get_ns() read on the first
 * call for this packet and kept in it. The other packets pay nothing for the precise clock
 * (~45 ns here): base+tcp_retrans no longer costs as much as base+precise_time. */
static __always_inline __u64 fg_now_precise(struct fg_pkt *pkt)
{
#ifdef FG_PRECISE_TIME
	return pkt->now;
#else
	if (fg_cfg_replay)
		return pkt->now;
	if (!pkt->now_precise)
		pkt->now_precise = bpf_ktime_get_ns();
	return pkt->now_precise;
#endif
}

/* --- the other direction --- */

/* The reverse direction's key of a TCP/UDP packet (addresses and ports swapped). Internal to
 * fg_flow_reverse: a macro, so that it can name the flow table, declared after this header. */
static __always_inline void fg__flow_key_reverse(const struct fg_flow_key *k, struct fg_flow_key *rev)
{
	__builtin_memset(rev, 0, sizeof(*rev));
	__builtin_memcpy(rev->src, k->dst, 16);
	__builtin_memcpy(rev->dst, k->src, 16);
	rev->sport = k->dport;
	rev->dport = k->sport;
	rev->proto = k->proto;
	rev->ip_version = k->ip_version;
#ifdef FG_WITH_TUNNEL
	rev->tunnel_id = k->tunnel_id;
	rev->tunnel_type = k->tunnel_type;
#endif
}

/* fg_flow_reverse(pkt): the record of the opposite direction of this packet's flow (TCP/UDP port
 * swap), or NULL. For metrics that pair the directions in the kernel: RTT, DNS latency. */
#define fg_flow_reverse(pkt) ({ \
	struct fg_flow_key _fg_rev; \
	fg__flow_key_reverse(&(pkt)->key, &_fg_rev); \
	(struct fg_record *)bpf_map_lookup_elem(&fg_flows, &_fg_rev); })

/* FG_FLOW_REVERSE(): fg_flow_reverse(pkt) looked up at most once per packet and stage, however
 * many bodies ask (piat_stats and splt both do): the first call looks, the others reuse its answer. */
#define FG_FLOW_REVERSE() (fg_rev_looked ? fg_rev : (fg_rev_looked = 1, fg_rev = fg_flow_reverse(pkt)))

/* --- packet access --- */

/* The wire sizes of a GSO skb's segments: segs - 1 of `*full` bytes (headers + gso_size) and a
 * last one of `*last` (the rest); for a plain packet both are its IP bytes. The headers are the
 * ones every segment repeats: a BIG TCP jumbo header (pkt->jumbo) is in the skb only. Sizes that
 * do not add up (a test run without gso_size) are split in equal shares. */
static __always_inline void fg_segment_sizes(struct __sk_buff *skb, const struct fg_pkt *pkt, __u32 *full, __u32 *last)
{
	*full = *last = pkt->ip_bytes;
	if (pkt->segs <= 1)
		return;
	__u32 hdrs = pkt->payload_off > pkt->l3_off ? pkt->payload_off - pkt->l3_off : 0;
	if (pkt->jumbo && hdrs > 8)
		hdrs -= 8;
	__u32 f = skb->gso_size ? hdrs + skb->gso_size : pkt->ip_bytes / pkt->segs;
	__u64 head = (__u64)(pkt->segs - 1) * f;
	if (head >= pkt->ip_bytes || pkt->ip_bytes - head > f) {
		f = pkt->ip_bytes / pkt->segs;
		head = (__u64)(pkt->segs - 1) * f;
	}
	*full = f;
	*last = pkt->ip_bytes - (__u32)head;
}

/* FG_PTR(skb, off, len): the packet bytes [off, off+len) if they are inside the packet, else NULL. */
#ifdef FG_NATIVE
/* Native build: C defines a pointer only up to one past its buffer, so the bounds are compared as
 * offsets and the pointer is formed once it is known to be inside the packet (the BPF form below
 * would form data + off + len past the end first: undefined behaviour the compiler may exploit). */
#define FG_PTR(skb, off, len) ({ \
	void *_d = FG_PKT_DATA(skb); \
	__u64 _size = (__u64)((char *)(skb)->data_end - (char *)_d); \
	__u32 _o = (off); \
	void *_p = (void *)0; \
	if (_o <= FG_MAX_PACKET_OFFSET && (__u64)_o + (__u64)(len) <= _size) \
		_p = (char *)_d + _o; \
	_p; })
#else
/* BPF: the verifier proves packet accesses from a packet pointer compared with data_end, so the
 * pointer is formed first and compared after (it is never dereferenced unless inside). */
#define FG_PTR(skb, off, len) ({ \
	void *_d = FG_PKT_DATA(skb); \
	void *_e = (void *)(long)(skb)->data_end; \
	__u32 _o = (off); \
	void *_p = (void *)0; \
	if (_o <= FG_MAX_PACKET_OFFSET) { \
		_p = _d + _o; \
		if (_p + (len) > _e) \
			_p = (void *)0; \
	} \
	_p; })
#endif

/* FG_LOAD(skb, off, dst, len): copies the packet bytes [off, off+len) to dst; 0 if they are all in
 * the packet. len must be a constant or provably between 1 and the size of dst.
 * For walks over variable offsets (TCP options), where clang may re-derive a packet pointer
 * that the verifier did not see checked; FG_PTR stays the way to read fixed headers. */
#define FG_LOAD(skb, off, dst, len) bpf_skb_load_bytes((skb), (off), (dst), (len))

#endif /* FLOWGEN_MODULE_H */
