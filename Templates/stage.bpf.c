/* Stage {{N}}: a tail-called program. It re-reads the packet context stage 0
 * left in fg_ctx (offsets only) and looks the flow up again by key; feature
 * bodies re-check packet bounds through FG_PTR as everywhere. */
static __always_inline void fg_update_{{N}}(struct __sk_buff *skb, struct fg_pkt *pkt, struct fg_record *rec)
{
	FG_REVERSE_CACHE; /* the entry's FG_FLOW_REVERSE answer is not passed on: looked up again here */
{{UPDATES}}
}

SEC("tc")
int {{PROGRAM}}(struct __sk_buff *skb)
{
	__u32 zero = 0;
	struct fg_pkt *pkt = bpf_map_lookup_elem(&fg_ctx, &zero);
	if (!pkt)
		return TC_ACT_UNSPEC;
	struct fg_record *rec = bpf_map_lookup_elem(&fg_flows, &pkt->key);
	if (!rec) {
		/* the flow went between the stages (deleted by the collector, evicted): counted, never silent */
		fg_count(FG_CNT_STAGE_FLOW_MISSING);
		return TC_ACT_UNSPEC;
	}
	fg_update_{{N}}(skb, pkt, rec);
	fg_dispatch_{{N}}(skb, pkt);
	return TC_ACT_UNSPEC;
}
