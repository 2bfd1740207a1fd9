/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* flowgen's thin layer between generated C and the kernel: INTERNAL to flowgen.
 *
 * Module bodies and helpers files use only Templates/module.h (included at the end of this
 * file), which `flowgen` enforces when it loads a module; everything defined here (the flow key's
 * layout, the clock state, the fg_agg_* aggregation macros, atomics, the packet-word bits) is
 * flowgen's own and may change. Templates reach maps, time and atomics through this layer, which
 * is what lets the same generated C be compiled natively for offline replay.
 *
 * Parsing contract (written once, here): fg_parse() fills struct fg_pkt with
 * offsets, never pointers, so the context can cross tail calls; every reader
 * re-checks bounds against data_end before touching packet bytes.
 */
#ifndef FLOWGEN_H
#define FLOWGEN_H

#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#ifndef FG_MAX_VLAN
#define FG_MAX_VLAN 4          /* VLAN tags skipped before giving up (the reference skipped 4) */
#endif
#ifndef FG_MAX_IPV6_EXT
#define FG_MAX_IPV6_EXT 8      /* IPv6 extension headers walked to reach the transport header */
#endif
#define FG_MAX_L4_OFFSET 1024  /* bound that keeps variable packet offsets provable for the verifier */
#define FG_PULL_LEN 256        /* bytes made linear when a packet's headers are in paged data */

#ifndef EEXIST
#define E2BIG  7
#define ENOMEM 12
#define EEXIST 17
#endif
#ifndef IPPROTO_ICMPV6
#define IPPROTO_ICMPV6 58
#endif
#ifndef IPPROTO_SCTP
#define IPPROTO_SCTP 132
#endif
#ifndef IPPROTO_UDPLITE
#define IPPROTO_UDPLITE 136
#endif

/* Flow key: 16-byte addresses (IPv4 as v4-mapped ::ffff:a.b.c.d), host-order
 * ports, explicit zeroed padding because the kernel hashes the key as bytes.
 * ICMP: dport = type << 8 | code, sport = echo/timestamp/info identifier. */
struct fg_flow_key {
	__u8  src[16];
	__u8  dst[16];
	__u16 sport;
	__u16 dport;
	__u8  proto;
	__u8  ip_version;
	__u16 pad;
#ifdef FG_WITH_TUNNEL
	__u32 tunnel_id;      /* the `tunnel` feature: VNI or GRE key, 0 without one (tunnel.h) */
	__u8  tunnel_type;    /* FG_TUNNEL_*: 0 for a packet outside any tunnel */
	__u8  tunnel_pad[3];
#endif
};
#ifdef FG_WITH_TUNNEL
_Static_assert(sizeof(struct fg_flow_key) == 48, "flow key layout is shared with userland");
#else
_Static_assert(sizeof(struct fg_flow_key) == 40, "flow key layout is shared with userland");
#endif


/* --- maps, time and atomics: the only kernel-facing vocabulary of feature bodies --- */

/* Replay sets this before load: time then comes from skb->tstamp (capture time). */
const volatile __u8 fg_cfg_replay = 0;

#define FG_ATOMIC_ADD(ptr, v) __sync_fetch_and_add((ptr), (v))

/* The packet word of a record (the `packets` field) carries the collector's cut: the kernel pass
 * (pass.h) sets FG_CLOSING and the end reason with one fetch-or, and a packet whose own fetch-add
 * returns a word with FG_CLOSING set came after the cut (fg_claim in the entry program). Counts
 * stay below 2^60. */
#define FG_CLOSING       (1ULL << 63)
#define FG_REASON_SHIFT  60
#define FG_PACKETS_MASK  ((1ULL << FG_REASON_SHIFT) - 1)
#define READ_ONCE_U64(x) (*(volatile __u64 *)&(x))
/* The key's padding marks a successor: the entry of fg_flows under the same key with `pad` set
 * to this holds the packets that came after the direction's cut, until the pass moves it. In the
 * same table, so later stages find it by the packet's key (set to it by fg_divert) as any other,
 * and it takes no memory of its own. */
#define FG_KEY_SUCCESSOR 1
#define FG_ATOMIC_OR(ptr, v)  __sync_fetch_and_or((ptr), (v))

/* Aggregations (docs/modules.md has the table: per packet, across directions, no sample).
 * min/max are compare-and-exchange, so two CPUs updating one flow lose nothing: a failed exchange
 * means another CPU changed the value first, and the update is tried again until the stored value
 * is at least as good as this packet's. The compare is inline (a packet that changes nothing pays
 * one read); the exchanges run in a global function the verifier checks once, not once per field
 * and path (an inline first exchange for every field took `dns` past the verifier's 1M
 * instructions). FG_CAS_TRIES bounds the retries for the verifier: they run out only
 * if other CPUs change this one field that many times during one update (each change is a whole
 * packet of the same flow direction on another CPU). */
#define FG_CAS_TRIES 16
#define fg_agg_sum(p, v)   FG_ATOMIC_ADD((p), (v))
/* or: a plain read first skips the locked instruction once the bits are set (most packets) */
#define fg_agg_or(p, v)    do { __typeof__(*(p)) _v = (v); if ((*(p) & _v) != _v) FG_ATOMIC_OR((p), _v); } while (0)

__attribute__((noinline)) int fg_minmax_retry_u64(__u64 *p, __u64 v, int is_max)
{
	if (!p)
		return 0;
	__u64 cur = *(volatile __u64 *)p;
	for (int i = 0; i < FG_CAS_TRIES; i++) {
		if (is_max ? v <= cur : v >= cur)
			break;
		__u64 seen = __sync_val_compare_and_swap(p, cur, v);
		if (seen == cur)
			break;
		cur = seen;
	}
	return 0;
}

__attribute__((noinline)) int fg_minmax_retry_u32(__u32 *p, __u32 v, int is_max)
{
	if (!p)
		return 0;
	__u32 cur = *(volatile __u32 *)p;
	for (int i = 0; i < FG_CAS_TRIES; i++) {
		if (is_max ? v <= cur : v >= cur)
			break;
		__u32 seen = __sync_val_compare_and_swap(p, cur, v);
		if (seen == cur)
			break;
		cur = seen;
	}
	return 0;
}

/* The same for a u8 or u16 field inside the aligned 32-bit word `w`, at `shift` under `mask`:
 * BPF has no 8- or 16-bit exchange, so the whole word is exchanged (a neighbour's change to the
 * word only costs one more round). */
__attribute__((noinline)) int fg_minmax_retry_word(__u32 *w, __u32 shift, __u32 mask, __u32 v, int is_max)
{
	if (!w || shift > 24)
		return 0;
	__u32 cur = *(volatile __u32 *)w;
	for (int i = 0; i < FG_CAS_TRIES; i++) {
		__u32 f = (cur >> shift) & mask;
		if (is_max ? v <= f : v >= f)
			break;
		__u32 seen = __sync_val_compare_and_swap(w, cur, (cur & ~(mask << shift)) | (v << shift));
		if (seen == cur)
			break;
		cur = seen;
	}
	return 0;
}

#define fg_agg_minmax_(p, v, is_max) do { \
	__typeof__(*(p)) _v = (v); \
	if ((is_max) ? _v > *(volatile __typeof__(*(p)) *)(p) : _v < *(volatile __typeof__(*(p)) *)(p)) \
		_Generic(*(p), __u32: fg_minmax_retry_u32, __u64: fg_minmax_retry_u64)((p), _v, (is_max)); \
	} while (0)
#define fg_agg_min(p, v)   fg_agg_minmax_((p), (v), 0)
#define fg_agg_max(p, v)   fg_agg_minmax_((p), (v), 1)
/* min/max of a u8 or u16 field at the constant offset `off` of the record */
static __always_inline void fg_agg_minmax_sub(void *rec, __u32 off, __u32 size, __u32 v, int is_max)
{
	__u32 *w = (__u32 *)((__u8 *)rec + (off & ~3u));
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	__u32 shift = (off & 3) * 8;
#else
	__u32 shift = (4 - (off & 3) - size) * 8;
#endif
	__u32 mask = size == 1 ? 0xffu : 0xffffu;
	v &= mask;
	__u32 f = (*(volatile __u32 *)w >> shift) & mask;
	if (is_max ? v > f : v < f)
		fg_minmax_retry_word(w, shift, mask, v, is_max);
}
#define fg_agg_last(p, v)  do { *(p) = (v); } while (0)
#define fg_agg_first(p, v) do { (void)(v); } while (0) /* set when the record is created */
/* Presence bits (the "no sample" state, FieldSampling in flowgen): fg_mark sets a bit after a value
 * is stored, with a plain read first so only a direction's first sample pays the locked or;
 * fg_claim_first sets it and says whether this packet was the first to, so only one CPU stores a `first`. */
#define fg_mark(r, w, m)   do { if (!((r)->fg__seen[w] & (m))) FG_ATOMIC_OR(&(r)->fg__seen[w], (m)); } while (0)
#define fg_claim_first(r, w, m)  (!((r)->fg__seen[w] & (m)) && !(__sync_fetch_and_or(&(r)->fg__seen[w], (m)) & (m)))
#define fg_agg_histogram_add(arr, bin, n, nbins) \
	do { __u32 _b = (bin); __u64 _n = (n); if (_b >= (nbins)) _b = (nbins) - 1; if (_n) FG_ATOMIC_ADD(&(arr)[_b], _n); } while (0)
#define fg_agg_histogram(arr, bin, nbins) \
	do { __u32 _b = (bin); if (_b >= (nbins)) _b = (nbins) - 1; FG_ATOMIC_ADD(&(arr)[_b], 1); } while (0)

/* Packet time. bpf_ktime_get_ns() costs ~45 ns per packet here (measured with
 * `flowgen bench`: base 1.6x the minimal program with it, 1.15x without), so
 * unless a selected module needs ns-precise time for every packet (declares
 * FG_PRECISE_TIME: jitter) or the user asks (--features ...,precise_time), flows are stamped
 * with the coarse monotonic clock: the same time base, a kernel tick's
 * resolution (1-4 ms). Replay uses the capture's time.
 *
 * Even bpf_ktime_get_coarse_ns() is a helper call (~15 ns here, where every kernel
 * return pays for the SRSO mitigation), and its value only changes once a tick. So the
 * coarse time is kept with the jiffies it was read at, and read again only when
 * bpf_jiffies64() (inlined by the verifier into one load) has moved on: one call per tick
 * and CPU instead of one per packet (base 1.10x the minimal program instead of 1.30x).
 * Shared by all CPUs: stores come once a tick. A reader that races with a refresh, or
 * that refreshes between the jiffies increment and the timekeeping update of one tick,
 * keeps a value at most one more tick old, within the clock's resolution. */
__u64 fg_clock_jiffies = 0;
__u64 fg_clock_coarse_ns = 0;

/* The loader sets this on kernels whose programs can read skb->tstamp_type (5.18+); older ones
 * would refuse the read, which the verifier then never sees (a branch on a constant is dead code). */
const volatile __u8 fg_cfg_stamps = 0;
/* skb->tstamp_type of a CLOCK_MONOTONIC delivery time: BPF_SKB_TSTAMP_DELIVERY_MONO in 5.18's uapi,
 * BPF_SKB_CLOCK_MONOTONIC since 6.11 (the same value; REALTIME is 0 and TAI 2). */
#define FG_SKB_CLOCK_MONOTONIC 1

static __always_inline __u64 fg_now(struct __sk_buff *skb)
{
	if (fg_cfg_replay)
		return skb->tstamp;
#ifdef FG_PRECISE_TIME
	/* The stamp the kernel already put on the packet, when it is a CLOCK_MONOTONIC time (the clock
	 * bpf_ktime_get_ns reads): TCP stamps every segment it sends with its departure time (on egress,
	 * and still on a veth peer's ingress), within microseconds of the helper unless a pacing qdisc
	 * holds the segment back until then. Reading it costs a few instructions; the helper (~30 ns
	 * here) is left for the other packets: UDP, and a physical NIC's ingress, which clears it. */
	if (fg_cfg_stamps && skb->tstamp_type == FG_SKB_CLOCK_MONOTONIC && skb->tstamp)
		return skb->tstamp;
	return bpf_ktime_get_ns();
#else
	__u64 jiffies = bpf_jiffies64();
	if (jiffies == fg_clock_jiffies)
		return fg_clock_coarse_ns;
	__u64 now = bpf_ktime_get_coarse_ns();
	fg_clock_coarse_ns = now;
	asm volatile("" ::: "memory"); /* the time is stored before the jiffies that validate it */
	fg_clock_jiffies = jiffies;
	return now;
#endif
}

/* Largest offset FG_PTR accepts: keeps variable offsets provably below the
 * verifier's 64 KiB packet-pointer limit, even after adding a length. */
#define FG_MAX_PACKET_OFFSET 0x7fff

#ifdef FG_WITH_TUNNEL
/* skb->data as a pointer clang cannot see is a zero-extended u32: with the tunnel parser's second
 * pass over the IP parsers, clang re-derived it with a 32-bit move, which the verifier takes for a
 * scalar ("invalid mem access 'scalar'"). Other plans keep the plain load (the same program as
 * before the tunnel feature). */
#define FG_PKT_DATA(skb) ({ void *_pd = (void *)(long)(skb)->data; asm volatile("" : "+r"(_pd)); _pd; })
#else
#define FG_PKT_DATA(skb) ((void *)(long)(skb)->data)
#endif

/* The module API (what bodies and helpers files may use) builds on the internals above. */
#include "module.h"

#endif /* FLOWGEN_H */
