/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* flowgen's kernel collector pass: the programs the collector runs with BPF_PROG_TEST_RUN to end
 * flows in the kernel, so that no packet is lost between reading a flow and removing it.
 *
 * A flow ends in two phases (see docs/commands.md, "How a pass reads and removes flows"):
 *  1. fg_pass_mark walks fg_flows with the end rules the userland collector applies (idle, FIN/RST
 *     quiet for a while, active timeout, eviction of the idlest, a forced end at the flush) and
 *     sets the closing bit, with the end reason, in the packet word of both directions of each
 *     ended flow (one atomic fetch-or each). From then on every packet of such a direction finds the
 *     bit in the value its own fetch-add returns (fg_claim), takes its add back, and counts itself
 *     into the direction's successor instead (the same key with FG_KEY_SUCCESSOR in its padding).
 *  2. The collector waits until every packet program that started before the marks has returned
 *     (an RCU grace period: it updates a map-in-map, which the kernel answers only after one), so
 *     every update of a packet counted before the cut has landed and the word holds the exact count.
 *     fg_pass_move then copies each closing direction (key, record, reason; both directions of a
 *     flow together) into the ring buffer fg_ended and deletes it, and first moves the successors
 *     whose direction was deleted by an earlier run (a grace period has passed since, so no packet
 *     program still writes them; the collector skips that walk when the mark counted none). A
 *     full ring stops the walk; the next run goes on where the closing directions are left
 *     (nothing is dropped). A flow's two directions are one ring record (struct fg_ended_pair).
 * Only the collector runs these programs, one at a time. Not part of the native build. */
#ifndef FG_PASS_H
#define FG_PASS_H
#ifndef FG_NATIVE

#define FG_PASS_MARK  1
#define FG_PASS_MOVE  2
#define FG_PASS_AGES  3
#define FG_PASS_AGE_BUCKETS 64

/* The packet word of a direction the move has copied out, set just before its delete. A hash
 * map's walk goes on from an element's `next` as it was when the callback started; when the
 * callback deletes the flow's other direction too and that one came next in the bucket, the walk
 * still visits it after its deletion (measured: 18 to 21 directions of 1,280 flows moved twice
 * with 64 buckets). The mark makes that visit a no-op. A packet that still holds the element adds
 * and takes back only the low bits, so the mark stays whole. */
#define FG_MOVED (FG_CLOSING | (7ULL << FG_REASON_SHIFT))

static __always_inline int fg_moved(__u64 word)
{
	return (word & FG_MOVED) == FG_MOVED;
}

/* What the collector asks of a run, and what the run did. One entry of fg_pass; the collector
 * writes the first half, the program the second. */
struct fg_pass_cfg {
	__u64 now;            /* the pass's time (CLOCK_MONOTONIC ns) */
	__u64 idle_ns;
	__u64 active_ns;
	__u64 quiet_ns;       /* FIN/RST: quiet this long */
	__u64 evict_before;   /* mark: flows whose last packet is at or before this end as lack of resources... */
	__u32 evict_max;      /* ...at most this many (0: no eviction) */
	__u32 phase;          /* FG_PASS_* */
	__u32 force_reason;   /* mark: nonzero ends every flow (the flush), TCP ones that ended as end of flow */
	__u32 skip_successors; /* move: the successors are done (an earlier run of this move got through them) */
	/* results */
	__u64 entries;        /* directions walked */
	__u64 marked;         /* directions marked closing by this run */
	__u64 closing;        /* directions found closing (marked earlier) */
	__u64 moved;          /* directions copied to the ring and deleted */
	__u64 successors;     /* move: successor directions moved; mark: successors in the table */
	__u64 evicted;        /* flows marked as lack of resources */
	__u64 full;           /* the ring filled and the walk stopped: 1 among the successors, 2 after them */
	__u64 ages[FG_PASS_AGE_BUCKETS]; /* FG_PASS_AGES: flows by log2 of their quiet time in 2^20 ns */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fg_pass_cfg);
} fg_pass SEC(".maps");

/* An ended direction as the collector reads it from the ring. */
struct fg_ended {
	__u32 flags;          /* FG_ENDED_* */
	__u32 reason;         /* IPFIX flowEndReason */
	struct fg_flow_key key;
	struct fg_record rec;
};
#define FG_ENDED_PAIR      1 /* the next record is this flow's other direction */
#define FG_ENDED_SUCCESSOR 2 /* packets counted after their direction's cut */

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, FG_RING_BYTES);
} fg_ended SEC(".maps");

/* The walk's state, on the stack of the program that calls bpf_for_each_map_elem. */
struct fg_walk {
	__u64 now, idle_ns, active_ns, quiet_ns, evict_before;
	__u64 entries, marked, closing, moved, successors, evicted, full;
	__u32 evict_max, force_reason;
};

static __always_inline __u64 fg_tcp_flags_of(const struct fg_record *rec)
{
#ifdef FG_FIELD_tcp_flags
	return rec->tcp_flags;
#else
	return 0;
#endif
}

#ifdef FG_WITH_ICMP_KEY
/* The other half of an ICMP request/reply pair, as FlowKey.icmpPeerType; -1 for none. */
static __always_inline int fg_icmp_peer(__u8 type, int v6)
{
	if (v6) {
		if (type == 128 || type == 133 || type == 135)
			return type + 1;
		if (type == 129 || type == 134 || type == 136)
			return type - 1;
		return -1;
	}
	if (type == 8)
		return 0;
	if (type == 0)
		return 8;
	if (type == 13 || type == 15 || type == 17)
		return type + 1;
	if (type == 14 || type == 16 || type == 18)
		return type - 1;
	return -1;
}
#endif

/* The key of the opposite direction, as the userland pairing builds it (FlowKey.reversed);
 * 0 when a key is its own reverse. */
static __always_inline int fg_reverse_key(const struct fg_flow_key *k, struct fg_flow_key *r)
{
	*r = *k;
	__builtin_memcpy(r->src, k->dst, 16);
	__builtin_memcpy(r->dst, k->src, 16);
	r->sport = k->dport;
	r->dport = k->sport;
#ifdef FG_WITH_ICMP_KEY
	if (k->proto == 1 || k->proto == 58) {
		__u8 type = k->dport >> 8;
		int peer = fg_icmp_peer(type, k->proto == 58);
		r->dport = (__u16)(((peer < 0 ? type : peer) << 8) | (k->dport & 0xff));
		r->sport = k->sport;
	}
#endif
	const __u64 *a = (const __u64 *)k, *b = (const __u64 *)r;
	for (int i = 0; i < (int)(sizeof(*k) / 8); i++)
		if (a[i] != b[i])
			return 1;
	return 0;
}

static __always_inline int fg_tcp_ended(__u64 f, __u64 r)
{
	return ((f | r) & 0x04) || ((f & 0x01) && (r & 0x01));
}

/* A direction's earliest possible end (FlowDeadline.instant): a flow ends only once one of its
 * directions' has passed, so others need no look at their reverse. */
static __always_inline __u64 fg_deadline(const struct fg_walk *w, __u64 first, __u64 last, __u64 flags)
{
	if (w->idle_ns == 0 || ((flags & 0x05) && w->quiet_ns == 0))
		return 0;
	__u64 t = last + w->idle_ns < last ? ~0ULL : last + w->idle_ns;
	__u64 a = first + w->active_ns < first ? ~0ULL : first + w->active_ns;
	if (a < t)
		t = a;
	if (flags & 0x05) {
		__u64 q = last + w->quiet_ns < last ? ~0ULL : last + w->quiet_ns;
		if (q < t)
			t = q;
	}
	return t;
}

/* The end reason of a flow (FlowCollector.endReason), 0 while it goes on. */
static __always_inline __u32 fg_end_reason(const struct fg_walk *w, int tcp, __u64 first, __u64 last, __u64 ff, __u64 rf, int paired)
{
	__u64 quiet = w->now > last ? w->now - last : 0;
	if (tcp && fg_tcp_ended(ff, paired ? rf : 0) && quiet >= w->quiet_ns)
		return 3;
	if (quiet >= w->idle_ns)
		return 1;
	if (w->now > first && w->now - first >= w->active_ns)
		return 2;
	return 0;
}

static long fg_mark_one(struct bpf_map *map, struct fg_flow_key *key, struct fg_record *rec, struct fg_walk *w)
{
	w->entries++;
	if (key->pad) { /* a successor: moved once its direction is gone */
		w->successors++;
		return 0;
	}
	__u64 word = READ_ONCE_U64(rec->packets);
	if (word & FG_CLOSING) {
		w->closing++;
		return 0;
	}
	__u64 first = rec->first_seen, last = rec->last_seen, flags = fg_tcp_flags_of(rec);
	if (!w->force_reason && !w->evict_max && fg_deadline(w, first, last, flags) > w->now)
		return 0;
	struct fg_flow_key rk;
	struct fg_record *rev = 0;
	if (fg_reverse_key(key, &rk)) {
		rev = bpf_map_lookup_elem(&fg_flows, &rk);
		/* a reverse that closes already is an older flow's, deleted by the next move */
		if (rev && (READ_ONCE_U64(rev->packets) & FG_CLOSING))
			rev = 0;
	}
	__u64 rfirst = rev ? rev->first_seen : ~0ULL, rlast = rev ? rev->last_seen : 0, rflags = rev ? fg_tcp_flags_of(rev) : 0;
	__u64 ffirst = first < rfirst ? first : rfirst, flast = last > rlast ? last : rlast;
	int tcp = key->proto == IPPROTO_TCP;
	__u32 reason;
	if (w->force_reason)
		reason = tcp && fg_tcp_ended(flags, rflags) ? 3 : w->force_reason;
	else
		reason = fg_end_reason(w, tcp, ffirst, flast, flags, rflags, rev != 0);
	if (!reason && w->evict_max && w->evicted < w->evict_max && flast <= w->evict_before) {
		reason = 5;
		w->evicted++;
	}
	if (!reason)
		return 0;
	__u64 cut = FG_CLOSING | ((__u64)reason << FG_REASON_SHIFT);
	__sync_fetch_and_or(&rec->packets, cut);
	w->marked++;
	if (rev) {
		__sync_fetch_and_or(&rev->packets, cut);
		w->marked++;
	}
	return 0;
}

/* FG_PASS_AGES: each active flow once (the direction whose key is lower, or the only one), by the
 * log2 of its quiet time, so the collector can pick the age that evicts enough of the idlest. */
static long fg_age_one(struct bpf_map *map, struct fg_flow_key *key, struct fg_record *rec, struct fg_walk *w)
{
	w->entries++;
	if (key->pad)
		return 0;
	if (READ_ONCE_U64(rec->packets) & FG_CLOSING)
		return 0;
	__u64 last = rec->last_seen;
	struct fg_flow_key rk;
	if (fg_reverse_key(key, &rk)) {
		struct fg_record *rev = bpf_map_lookup_elem(&fg_flows, &rk);
		if (rev && !(READ_ONCE_U64(rev->packets) & FG_CLOSING)) {
			const __u64 *a = (const __u64 *)key, *b = (const __u64 *)&rk;
			int lower = 0;
			for (int i = 0; i < (int)(sizeof(*key) / 8); i++) {
				if (a[i] != b[i]) {
					lower = a[i] < b[i];
					break;
				}
			}
			if (!lower)
				return 0;
			if (rev->last_seen > last)
				last = rev->last_seen;
		}
	}
	__u64 q = w->now > last ? (w->now - last) >> 20 : 0;
	__u32 b = 0;
	for (int i = 0; i < 63 && q; i++) {
		q >>= 1;
		b++;
	}
	__u32 zero = 0;
	struct fg_pass_cfg *cfg = bpf_map_lookup_elem(&fg_pass, &zero);
	if (cfg && b < FG_PASS_AGE_BUCKETS)
		cfg->ages[b]++;
	return 0;
}

static __always_inline void fg_ended_fill(struct fg_ended *e, __u32 flags, __u32 reason, const struct fg_flow_key *key,
                                          const struct fg_record *rec, __u64 packets)
{
	e->flags = flags;
	e->reason = reason;
	e->key = *key;
	e->key.pad = 0; /* a successor's key is its direction's */
	__builtin_memcpy(&e->rec, rec, sizeof(struct fg_record));
	e->rec.packets = packets;
}

/* Both directions of a flow in one ring record: one reservation and one submit per flow (the
 * ring's lock is taken once), and one 8-byte record header less. */
struct fg_ended_pair {
	struct fg_ended a, b;
};

/* Copies one or two directions into the ring as one flow (one record); 0 when the ring has no room. */
static __always_inline int fg_ended_out(__u32 flags, __u32 reason, const struct fg_flow_key *key, const struct fg_record *rec, __u64 packets,
                                        const struct fg_flow_key *rkey, const struct fg_record *rev, __u64 rpackets)
{
	if (rev && rkey) {
		struct fg_ended_pair *p = bpf_ringbuf_reserve(&fg_ended, sizeof(struct fg_ended_pair), 0);
		if (!p)
			return 0;
		fg_ended_fill(&p->a, flags | FG_ENDED_PAIR, reason, key, rec, packets);
		fg_ended_fill(&p->b, flags, reason, rkey, rev, rpackets);
		bpf_ringbuf_submit(p, BPF_RB_NO_WAKEUP);
		return 1;
	}
	struct fg_ended *a = bpf_ringbuf_reserve(&fg_ended, sizeof(struct fg_ended), 0);
	if (!a)
		return 0;
	fg_ended_fill(a, flags, reason, key, rec, packets);
	bpf_ringbuf_submit(a, BPF_RB_NO_WAKEUP);
	return 1;
}

/* Deletes a direction the move has copied out, and its pair when there is one; returns how many.
 * Each is marked moved first (FG_MOVED): the walk may still visit a pair it deleted. */
static __always_inline __u64 fg_delete_moved(struct fg_flow_key *k, struct fg_record *rec, struct fg_flow_key *rk, struct fg_record *rev)
{
	__sync_fetch_and_or(&rec->packets, FG_MOVED);
	bpf_map_delete_elem(&fg_flows, k);
	if (!rev)
		return 1;
	__sync_fetch_and_or(&rev->packets, FG_MOVED);
	bpf_map_delete_elem(&fg_flows, rk);
	return 2;
}

static long fg_move_one(struct bpf_map *map, struct fg_flow_key *key, struct fg_record *rec, struct fg_walk *w)
{
	w->entries++;
	if (key->pad)
		return 0;
	__u64 word = READ_ONCE_U64(rec->packets);
	if (!(word & FG_CLOSING) || fg_moved(word))
		return 0;
	__u32 reason = (word >> FG_REASON_SHIFT) & 7;
	struct fg_flow_key rk;
	struct fg_record *rev = 0;
	__u64 rword = 0;
	if (fg_reverse_key(key, &rk)) {
		rev = bpf_map_lookup_elem(&fg_flows, &rk);
		if (rev) {
			rword = READ_ONCE_U64(rev->packets);
			if (!(rword & FG_CLOSING))
				rev = 0;
		}
	}
	/* a key is copied before it is deleted: the callback's pointer dies with the element */
	struct fg_flow_key k = *key;
	if (!fg_ended_out(0, reason, &k, rec, word & FG_PACKETS_MASK, &rk, rev, rword & FG_PACKETS_MASK)) {
		w->full = 1;
		return 1;
	}
	w->moved += fg_delete_moved(&k, rec, &rk, rev);
	return 0;
}

/* The successors' end reason: their own times' (a flow still busy goes on in fg_flows: active timeout). */
static __always_inline __u32 fg_successor_reason(const struct fg_walk *w, int tcp, const struct fg_record *a, const struct fg_record *b)
{
	if (w->force_reason)
		return tcp && fg_tcp_ended(fg_tcp_flags_of(a), b ? fg_tcp_flags_of(b) : 0) ? 3 : w->force_reason;
	__u64 first = a->first_seen, last = a->last_seen;
	if (b) {
		if (b->first_seen < first)
			first = b->first_seen;
		if (b->last_seen > last)
			last = b->last_seen;
	}
	__u32 r = fg_end_reason(w, tcp, first, last, fg_tcp_flags_of(a), b ? fg_tcp_flags_of(b) : 0, b != 0);
	return r ? r : 2;
}

static long fg_move_successor(struct bpf_map *map, struct fg_flow_key *key, struct fg_record *rec, struct fg_walk *w)
{
	if (!key->pad || fg_moved(READ_ONCE_U64(rec->packets)))
		return 0;
	/* packet programs may still write a successor whose direction closes but is not yet deleted */
	struct fg_flow_key main = *key;
	main.pad = 0;
	struct fg_record *m = bpf_map_lookup_elem(&fg_flows, &main);
	if (m && (READ_ONCE_U64(m->packets) & FG_CLOSING))
		return 0;
	struct fg_flow_key rk;
	struct fg_record *rev = 0;
	if (fg_reverse_key(key, &rk)) {
		rev = bpf_map_lookup_elem(&fg_flows, &rk);
		if (rev) {
			struct fg_flow_key rmain = rk;
			rmain.pad = 0;
			struct fg_record *rm = bpf_map_lookup_elem(&fg_flows, &rmain);
			if (rm && (READ_ONCE_U64(rm->packets) & FG_CLOSING))
				rev = 0;
		}
	}
	struct fg_flow_key k = *key;
	__u32 reason = fg_successor_reason(w, k.proto == IPPROTO_TCP, rec, rev);
	if (!fg_ended_out(FG_ENDED_SUCCESSOR, reason, &k, rec, rec->packets, &rk, rev, rev ? rev->packets : 0)) {
		w->full = 1;
		return 1;
	}
	w->successors += fg_delete_moved(&k, rec, &rk, rev);
	return 0;
}

SEC("tc")
int fg_pass_run(struct __sk_buff *skb)
{
	__u32 zero = 0;
	struct fg_pass_cfg *cfg = bpf_map_lookup_elem(&fg_pass, &zero);
	if (!cfg)
		return 0;
	struct fg_walk w = {
		.now = cfg->now, .idle_ns = cfg->idle_ns, .active_ns = cfg->active_ns, .quiet_ns = cfg->quiet_ns,
		.evict_before = cfg->evict_before, .evict_max = cfg->evict_max, .force_reason = cfg->force_reason,
	};
	__u32 phase = cfg->phase;
	if (phase == FG_PASS_MARK) {
		bpf_for_each_map_elem(&fg_flows, fg_mark_one, &w, 0);
	} else if (phase == FG_PASS_AGES) {
		for (int i = 0; i < FG_PASS_AGE_BUCKETS; i++)
			cfg->ages[i] = 0;
		bpf_for_each_map_elem(&fg_flows, fg_age_one, &w, 0);
	} else if (phase == FG_PASS_MOVE) {
		/* successors first, in a walk of their own: one whose direction this run deletes may
		 * still be written by a packet program until the next grace period */
		if (!cfg->skip_successors)
			bpf_for_each_map_elem(&fg_flows, fg_move_successor, &w, 0);
		if (!w.full) {
			w.entries = 0;
			bpf_for_each_map_elem(&fg_flows, fg_move_one, &w, 0);
			if (w.full)
				w.full = 2;
		}
	}
	cfg->entries = w.entries;
	cfg->marked = w.marked;
	cfg->closing = w.closing;
	cfg->moved = w.moved;
	cfg->successors = w.successors;
	cfg->evicted = w.evicted;
	cfg->full = w.full;
	return 0;
}

#endif /* FG_NATIVE */
#endif /* FG_PASS_H */
