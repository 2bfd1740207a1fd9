/* Packet inter-arrival times as nfstream stamps them: a packet's time in whole ms (its ns time /
 * 10^6, truncated), the gap to the previous packet of the same direction, and to the previous
 * packet of either direction, whose time the reverse record holds (one hash lookup of the reverse
 * key for a packet in a later ms than its direction's previous one: the only place the other
 * direction's latest packet is known). Stamps are kept
 * + 1, so that 0 means no packet yet and max() keeps the latest when two CPUs race. A GSO skb's
 * segs - 1 further segments leave with the first: gaps of 0. A gap that comes out negative (two
 * CPUs stamping one flow out of order) counts as 0. The sums of the gaps are not kept: they
 * telescope to the last stamp less the first (derived at export from first_seen). The reverse
 * record is looked up once per packet with splt (FG_FLOW_REVERSE). */
__u64 t1 = pkt->now / 1000000 + 1;
__u64 own = rec->piat_last1;
if (pkt->segs > 1) {
	FG_SET(piat_min_ms, 0);
	FG_SET(bpiat_min_ms, 0);
}
if (own == t1) {
	/* The same ms as this direction's previous packet (most packets of a busy flow): both gaps are
	 * 0, for the packet before of either direction came between the two. As the code below would
	 * find (any >= own = t1), without the reverse lookup; squares of 0 are not added. */
	FG_SET(piat_min_ms, 0);
	FG_SET(bpiat_min_ms, 0);
} else {
	FG_SET(piat_last1, t1);
	if (own) {
		__u64 d = t1 > own ? t1 - own : 0;
		FG_SET(piat_min_ms, d);
		FG_SET(piat_max_ms, d);
		if (d)
			FG_SET(piat_sumsq_ms, d * d);
	}
	__u64 any = own;
	struct fg_record *rev = FG_FLOW_REVERSE();
	if (rev && rev->piat_last1 > any)
		any = rev->piat_last1;
	if (any) {
		__u64 d = t1 > any ? t1 - any : 0;
		FG_SET(bpiat_min_ms, d);
		FG_SET(bpiat_max_ms, d);
		if (d)
			FG_SET(bpiat_sumsq_ms, d * d);
	}
}
