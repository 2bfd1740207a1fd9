/* The first N packets of each direction (N = FG_PARAM_SPLT_N, the parameter n of feature.yaml): slots are claimed
 * with one atomic fetch-and-add on splt_n, so two CPUs adding packets to one direction at once get
 * different slots and none is lost or written twice; once N are claimed a plain read skips all of
 * it. Each slot keeps the packet's ns time, its IP size and how many packets the other direction
 * had claimed before it (its record, one lookup for the first N packets only): the collector
 * merges both directions by time, and by that count at equal times (a capture's µs). A GSO skb
 * claims a slot per wire segment (gso_segs - 1 full ones and the rest: fg_segment_sizes). */
if (rec->splt_n < FG_PARAM_SPLT_N) {
	__u32 n = pkt->segs > 1 ? pkt->segs : 1;
	__u32 first = __sync_fetch_and_add(&rec->splt_n, n);
	if (first < FG_PARAM_SPLT_N) {
		struct fg_record *rev = FG_FLOW_REVERSE(); /* piat_stats may have looked it up already */
		__u32 seen = rev ? rev->splt_n : 0;
		__u32 full, last;
		fg_segment_sizes(skb, pkt, &full, &last);
		for (__u32 k = 0; k < FG_PARAM_SPLT_N; k++) {
			__u32 i = first + k;
			/* opaque to clang, so the slots are addressed with the very i checked below, not with
			 * pointers stepped by k that the verifier cannot bound (it refused n = 20 so) */
			asm volatile("" : "+r"(i));
			if (k >= n || i >= FG_PARAM_SPLT_N)
				break;
			rec->splt_t[i] = pkt->now;
			rec->splt_size[i] = k == n - 1 ? last : full;
			rec->splt_rc[i] = seen;
		}
	}
}
