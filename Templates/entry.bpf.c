/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Entry stage of a flowgen monitor: parse, find or create the flow, update it
 * in place. The double-brace markers are filled by flowgen's code generator. */
#include "flowgen_plan.h"
#include "parse.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, FG_MAX_FLOWS);
	__type(key, struct fg_flow_key);
	__type(value, struct fg_record);
} fg_flows SEC(".maps");

/* Failures are counted, never silent (index: FG_CNT_*). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FG_CNT__COUNT);
	__type(key, __u32);
	__type(value, __u64);
} fg_counters SEC(".maps");

/* Room to build a new record off the 512-byte stack before inserting it. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fg_record);
} fg_scratch SEC(".maps");

{{STAGE_MAPS}}
static __always_inline void fg_count(__u32 counter)
{
	__u64 *c = bpf_map_lookup_elem(&fg_counters, &counter);
	if (c)
		*c += 1; /* per-CPU: no atomic needed */
}

{{FEATURE_HELPERS}}
static __always_inline void fg_record_init(struct fg_record *rec, struct __sk_buff *skb, struct fg_pkt *pkt)
{
#if FG_RECORD_SIZE > 640
	/* clang's BPF target inlines memset only up to a size (a record of 792 bytes failed): larger
	 * records (a long splt, `splt:n=20` with every module) are zeroed by a bounded loop, its
	 * stores volatile so that clang does not turn it back into memset */
	#pragma clang loop unroll(disable)
	for (__u32 i = 0; i < FG_RECORD_SIZE / 8; i++)
		((volatile __u64 *)rec)[i] = 0;
#else
	__builtin_memset(rec, 0, sizeof(*rec));
#endif
{{RECORD_INIT}}
}

/* A new flow's record, initialised in the per-CPU scratch record (the first packet is applied to
 * it before it is inserted, see the entry program). */
static __always_inline struct fg_record *fg_flow_new(struct __sk_buff *skb, struct fg_pkt *pkt)
{
	__u32 zero = 0;
	struct fg_record *rec = bpf_map_lookup_elem(&fg_scratch, &zero);
	if (rec)
		fg_record_init(rec, skb, pkt);
	return rec;
}

/* The update's cache of FG_FLOW_REVERSE() (Templates/module.h): kept in the update's locals, not
 * in struct fg_pkt: the verifier follows a map value's pointer through registers and the stack
 * only, and fg_pkt reaches global functions and later stages as plain memory, where a stored
 * pointer reads back as a number. */
#define FG_REVERSE_CACHE struct fg_record *fg_rev __attribute__((unused)) = 0; int fg_rev_looked __attribute__((unused)) = 0

static __always_inline void fg_update(struct __sk_buff *skb, struct fg_pkt *pkt, struct fg_record *rec)
{
	FG_REVERSE_CACHE;
{{FEATURE_UPDATES}}
}

/* fg_update for a new flow's first packet, out of line: on the scratch record before the insert,
 * or on the record another CPU inserted first. A global function, so the verifier checks these
 * updates once more in all, not once more for every parse outcome of the entry program (which
 * multiplied seed's verified instructions by five when inlined). */
__attribute__((noinline)) int fg_update_first(struct __sk_buff *skb, struct fg_pkt *pkt, struct fg_record *rec)
{
	asm volatile("" : : "r"(skb)); /* a use of skb: else clang may not pass it when no body reads it */
	if (!pkt || !rec)
		return 0;
	fg_update(skb, pkt, rec);
	return 0;
}

/* Counts the packet into the record's packet word with a fetch-add. False when the word it
 * returns carries the collector's cut (FG_CLOSING): the add is taken back and the packet belongs
 * to the direction's successor (fg_divert), so the count the pass reads once every earlier
 * packet has finished is exact. */
static __always_inline int fg_claim(struct fg_record *rec, const struct fg_pkt *pkt)
{
	__u64 old = __sync_fetch_and_add(&rec->packets, (__u64)pkt->segs);
	if (!(old & FG_CLOSING))
		return 1;
	__sync_fetch_and_sub(&rec->packets, (__u64)pkt->segs);
	return 0;
}

/* A packet that came after its direction's cut: counted, with all its fields, into the
 * direction's successor (its key with FG_KEY_SUCCESSOR in the padding), which the pass exports as
 * a record of its own once the cut direction is gone. The packet keeps that key, so later stages
 * update the successor too. Out of line (global), so the entry program verifies it once. */
__attribute__((noinline)) int fg_divert(struct __sk_buff *skb, struct fg_pkt *pkt)
{
	if (!pkt)
		return 0;
	pkt->key.pad = FG_KEY_SUCCESSOR;
	struct fg_record *rec = bpf_map_lookup_elem(&fg_flows, &pkt->key);
	if (rec) {
		__sync_fetch_and_add(&rec->packets, (__u64)pkt->segs);
		fg_update_first(skb, pkt, rec);
		return 0;
	}
	struct fg_record *fresh = fg_flow_new(skb, pkt);
	if (!fresh)
		return 0;
	fresh->packets = pkt->segs;
	fg_update_first(skb, pkt, fresh);
	long err = bpf_map_update_elem(&fg_flows, &pkt->key, fresh, BPF_NOEXIST);
	if (err == -EEXIST) {
		rec = bpf_map_lookup_elem(&fg_flows, &pkt->key);
		if (rec) {
			/* another CPU inserted the successor first: this packet goes on that one */
			__sync_fetch_and_add(&rec->packets, (__u64)pkt->segs);
			fg_update_first(skb, pkt, rec);
			err = 0;
		}
	}
	if (err)
		fg_count(err == -E2BIG || err == -ENOMEM ? FG_CNT_TABLE_FULL : FG_CNT_UPDATE_FAILED);
	return 0;
}
{{STAGE_FUNCTIONS}}
SEC("tc")
int {{ENTRY}}(struct __sk_buff *skb)
{
	struct fg_pkt pkt = {};
	int ret = fg_parse(skb, &pkt);
	if (ret != FG_PARSED) {
		fg_count(ret);
		return TC_ACT_UNSPEC;
	}
	if (pkt.fragment)
		fg_count(FG_CNT_FRAGMENTS);

	/* Lookup first, and update in place. On a miss the first packet is applied to a new record
	 * before it is inserted with BPF_NOEXIST, so a new flow costs no second lookup; on -EEXIST
	 * (another CPU inserted the flow since our lookup) the packet goes to that CPU's record. */
	struct fg_record *rec = bpf_map_lookup_elem(&fg_flows, &pkt.key);
	if (rec) {
		if (fg_claim(rec, &pkt))
			fg_update(skb, &pkt, rec);
		else
			fg_divert(skb, &pkt);
	} else {
		/* A new flow's first packet is stamped with the precise clock (once per flow): the
		 * collector names the direction seen first the initiator, and two directions that begin
		 * within one tick of the coarse clock (a neighbour advertisement 5 us before the echo
		 * request) would otherwise tie. */
		pkt.now = fg_now_precise(&pkt);
		struct fg_record *fresh = fg_flow_new(skb, &pkt);
		if (!fresh)
			return TC_ACT_UNSPEC;
		fresh->packets = pkt.segs;
		fg_update_first(skb, &pkt, fresh);
		long err = bpf_map_update_elem(&fg_flows, &pkt.key, fresh, BPF_NOEXIST);
		if (err == -EEXIST) {
			rec = bpf_map_lookup_elem(&fg_flows, &pkt.key);
			if (rec) {
				if (fg_claim(rec, &pkt))
					fg_update_first(skb, &pkt, rec);
				else
					fg_divert(skb, &pkt);
				err = 0;
			} else {
				/* The other CPU's entry was removed (collector) between our insert and this
				 * lookup. The scratch record still holds just this packet: it starts the flow
				 * again, and a second failure is counted below rather than the packet lost unseen. */
				err = bpf_map_update_elem(&fg_flows, &pkt.key, fresh, BPF_NOEXIST);
			}
		}
		if (err) {
			fg_count(err == -E2BIG || err == -ENOMEM ? FG_CNT_TABLE_FULL : FG_CNT_UPDATE_FAILED);
			return TC_ACT_UNSPEC;
		}
	}
{{STAGE_DISPATCH}}
	return TC_ACT_UNSPEC; /* a passive monitor lets every other filter run */
}
{{STAGE_PROGRAMS}}
#include "pass.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";
