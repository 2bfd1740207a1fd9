/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Benchmark twin of the collector's kernel pass (Templates/pass.h), stripped to what the table's
 * layout makes it do, so `flowgen bench --only collector` can price the layout itself: the real
 * pass is set against the twin of its own layout (its floor) and against the twin of the layout
 * flowgen did not take.
 *
 * TWIN_BIFLOW 0: one entry per DIRECTION, flowgen's layout. The mark visits each direction, looks
 * up the reverse key and sets the closing bit in both packet words (the reverse's visit then finds
 * its word closing); the move visits each direction, looks the reverse up again, copies both into
 * one ring record, marks both moved and deletes both (the walk may still visit the deleted reverse:
 * the moved bits make that a no-op, as in pass.h).
 * TWIN_BIFLOW 1: one entry per BIFLOW, both directions' records in one value (under the key of
 * the direction the bench fills first, the client's; a packet path would put it in a canonical
 * order, as minimal.bpf.c's FLOOR_BIFLOW twin does). The mark sets the closing bit in both halves' packet words (each direction keeps its own
 * counter, so a packet's fetch-add still finds the cut); the move copies the key, its reverse and
 * both halves into the same ring record as above and deletes the one entry. No reverse lookup.
 *
 * Left out of both, as they cost the same whatever the layout: the end rules (every flow ends:
 * the bench's pass is at a time when all are idle), the successors, ICMP's reverse keys. The
 * run's parameters and results are laid out as struct fg_pass_cfg and the ring record as struct
 * fg_ended_pair, so KernelFlowPass drives a twin as it drives the real pass (mark run, RCU grace
 * period, move runs until the ring stops filling, the ring read in place).
 *
 * Built with TWIN_KEY_BYTES and TWIN_RECORD_BYTES defined as the preset's key and record sizes;
 * the table's and the ring's sizes are set before load. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

struct bpf_map; /* the callbacks of bpf_for_each_map_elem take one */

#ifndef TWIN_KEY_BYTES
#define TWIN_KEY_BYTES 40
#endif
#ifndef TWIN_RECORD_BYTES
#define TWIN_RECORD_BYTES 32
#endif
#ifndef TWIN_BIFLOW
#define TWIN_BIFLOW 0
#endif

/* struct fg_flow_key's first 40 bytes (Templates/flowgen.h), then whatever the preset adds (a
 * tunnel's id), compared and copied as any key byte. */
struct twin_key {
	__u8  src[16];
	__u8  dst[16];
	__u16 sport;
	__u16 dport;
	__u8  proto;
	__u8  ip_version;
	__u16 pad;
#if TWIN_KEY_BYTES > 40
	__u8  more[TWIN_KEY_BYTES - 40];
#endif
};
_Static_assert(sizeof(struct twin_key) == TWIN_KEY_BYTES, "keyed like the preset's struct fg_flow_key");

/* The packet word first, as in struct fg_record; the rest only takes room. */
struct twin_record {
	__u64 packets;
	__u8  rest[TWIN_RECORD_BYTES - 8];
};
_Static_assert(sizeof(struct twin_record) == TWIN_RECORD_BYTES, "the preset's record size (a multiple of 8)");

#if TWIN_BIFLOW
/* half[0] belongs to the packets from the key's src */
struct twin_value {
	struct twin_record half[2];
};
#else
#define twin_value twin_record
#endif

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096); /* the benchmark sets the table's capacity before load */
	__type(key, struct twin_key);
	__type(value, struct twin_value);
} twin_flows SEC(".maps");

/* struct fg_pass_cfg's layout (pass.h); KernelFlowPass checks its size. */
struct twin_cfg {
	__u64 now, idle_ns, active_ns, quiet_ns, evict_before;
	__u32 evict_max, phase, force_reason, skip_successors;
	__u64 entries, marked, closing, moved, successors, evicted, full;
	__u64 ages[64];
};
_Static_assert(sizeof(struct twin_cfg) == 112 + 64 * 8, "laid out as struct fg_pass_cfg");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct twin_cfg);
} twin_cfg SEC(".maps");

/* struct fg_ended and struct fg_ended_pair (pass.h): one ring record per flow. */
struct twin_ended {
	__u32 flags;
	__u32 reason;
	struct twin_key key;
	struct twin_record rec;
};
struct twin_ended_pair {
	struct twin_ended a, b;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 << 10); /* the benchmark sets the real pass's ring size before load */
} twin_ended SEC(".maps");

#define TWIN_PASS_MARK 1
#define TWIN_PASS_MOVE 2
#define TWIN_CLOSING (1ULL << 63)
#define TWIN_REASON_SHIFT 60
#define TWIN_PACKETS_MASK ((1ULL << TWIN_REASON_SHIFT) - 1)
#define TWIN_MOVED (TWIN_CLOSING | (7ULL << TWIN_REASON_SHIFT))
#define TWIN_ENDED_PAIR 1
#define TWIN_CUT (TWIN_CLOSING | (1ULL << TWIN_REASON_SHIFT)) /* idle timeout, IPFIX reason 1 */
#define TWIN_READ(x) (*(volatile __u64 *)&(x))

struct twin_walk {
	__u64 entries, marked, closing, moved, full;
};

static __always_inline void twin_reverse(const struct twin_key *k, struct twin_key *r)
{
	*r = *k;
	__builtin_memcpy(r->src, k->dst, 16);
	__builtin_memcpy(r->dst, k->src, 16);
	r->sport = k->dport;
	r->dport = k->sport;
}

static __always_inline void twin_fill(struct twin_ended *e, __u32 flags, const struct twin_key *key, const struct twin_record *rec, __u64 word)
{
	e->flags = flags;
	e->reason = (word >> TWIN_REASON_SHIFT) & 7;
	e->key = *key;
	__builtin_memcpy(&e->rec, rec, sizeof(struct twin_record));
	e->rec.packets = word & TWIN_PACKETS_MASK;
}

/* entries, marked and closing count directions, as the real pass's do */
static long twin_mark(struct bpf_map *map, struct twin_key *key, struct twin_value *v, struct twin_walk *w)
{
#if TWIN_BIFLOW
	w->entries += 2;
	if (TWIN_READ(v->half[0].packets) & TWIN_CLOSING) {
		w->closing += 2;
		return 0;
	}
	__sync_fetch_and_or(&v->half[0].packets, TWIN_CUT);
	__sync_fetch_and_or(&v->half[1].packets, TWIN_CUT);
	w->marked += 2;
#else
	w->entries++;
	if (TWIN_READ(v->packets) & TWIN_CLOSING) {
		w->closing++;
		return 0;
	}
	struct twin_key rk;
	twin_reverse(key, &rk);
	struct twin_record *rev = bpf_map_lookup_elem(&twin_flows, &rk);
	if (rev && (TWIN_READ(rev->packets) & TWIN_CLOSING))
		rev = 0;
	__sync_fetch_and_or(&v->packets, TWIN_CUT);
	w->marked++;
	if (rev) {
		__sync_fetch_and_or(&rev->packets, TWIN_CUT);
		w->marked++;
	}
#endif
	return 0;
}

static long twin_move(struct bpf_map *map, struct twin_key *key, struct twin_value *v, struct twin_walk *w)
{
	w->entries++;
#if TWIN_BIFLOW
	__u64 word = TWIN_READ(v->half[0].packets), rword = TWIN_READ(v->half[1].packets);
	if (!(word & TWIN_CLOSING))
		return 0;
	struct twin_key k = *key, rk;
	twin_reverse(&k, &rk);
	struct twin_ended_pair *p = bpf_ringbuf_reserve(&twin_ended, sizeof(*p), 0);
	if (!p) {
		w->full = 2;
		return 1;
	}
	twin_fill(&p->a, TWIN_ENDED_PAIR, &k, &v->half[0], word);
	twin_fill(&p->b, 0, &rk, &v->half[1], rword);
	bpf_ringbuf_submit(p, BPF_RB_NO_WAKEUP);
	bpf_map_delete_elem(&twin_flows, &k);
	w->moved += 2;
#else
	__u64 word = TWIN_READ(v->packets);
	if (!(word & TWIN_CLOSING) || (word & TWIN_MOVED) == TWIN_MOVED)
		return 0;
	struct twin_key k = *key, rk;
	twin_reverse(&k, &rk);
	struct twin_record *rev = bpf_map_lookup_elem(&twin_flows, &rk);
	__u64 rword = rev ? TWIN_READ(rev->packets) : 0;
	if (!(rword & TWIN_CLOSING))
		rev = 0;
	if (rev) {
		struct twin_ended_pair *p = bpf_ringbuf_reserve(&twin_ended, sizeof(*p), 0);
		if (!p) {
			w->full = 2;
			return 1;
		}
		twin_fill(&p->a, TWIN_ENDED_PAIR, &k, v, word);
		twin_fill(&p->b, 0, &rk, rev, rword);
		bpf_ringbuf_submit(p, BPF_RB_NO_WAKEUP);
	} else {
		struct twin_ended *e = bpf_ringbuf_reserve(&twin_ended, sizeof(*e), 0);
		if (!e) {
			w->full = 2;
			return 1;
		}
		twin_fill(e, 0, &k, v, word);
		bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	}
	__sync_fetch_and_or(&v->packets, TWIN_MOVED);
	bpf_map_delete_elem(&twin_flows, &k);
	w->moved++;
	if (rev) {
		__sync_fetch_and_or(&rev->packets, TWIN_MOVED);
		bpf_map_delete_elem(&twin_flows, &rk);
		w->moved++;
	}
#endif
	return 0;
}

SEC("tc")
int bench_pass_twin(struct __sk_buff *skb)
{
	__u32 zero = 0;
	struct twin_cfg *cfg = bpf_map_lookup_elem(&twin_cfg, &zero);
	if (!cfg)
		return TC_ACT_UNSPEC;
	struct twin_walk w = {};
	if (cfg->phase == TWIN_PASS_MARK)
		bpf_for_each_map_elem(&twin_flows, twin_mark, &w, 0);
	else if (cfg->phase == TWIN_PASS_MOVE)
		bpf_for_each_map_elem(&twin_flows, twin_move, &w, 0);
	cfg->entries = w.entries;
	cfg->marked = w.marked;
	cfg->closing = w.closing;
	cfg->moved = w.moved;
	cfg->successors = 0;
	cfg->evicted = 0;
	cfg->full = w.full;
	return TC_ACT_UNSPEC;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
