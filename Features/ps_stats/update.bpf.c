/* One sample per wire packet: a GSO skb leaves as segs packets, segs - 1 of headers + gso_size and
 * a shorter last one (fg_segment_sizes). The sum of the sizes is the base
 * module's `bytes` (pkt->ip_bytes covers every segment's headers), so only the squares are kept. */
__u32 full, last_len;
fg_segment_sizes(skb, pkt, &full, &last_len);
/* segs - 1 full segments and the last (for a plain packet segs is 1 and full the same size) */
FG_SET(ps_sumsq, (__u64)(pkt->segs - 1) * full * full + (__u64)last_len * last_len);
if (pkt->segs > 1) {
	FG_SET(ps_min, full);
	FG_SET(ps_max, full);
}
FG_SET(ps_min, last_len);
FG_SET(ps_max, last_len);
