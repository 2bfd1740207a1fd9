/* One sample per wire packet: a GSO skb leaves as segs packets, segs - 1 of headers + gso_size and
 * a shorter last one (the same split as Features/pkt_len). The sum of the sizes is the base
 * module's `bytes` (pkt->ip_bytes covers every segment's headers), so only the squares are kept. */
__u32 last_len = pkt->ip_bytes;
if (pkt->segs > 1) {
	__u32 hdrs = pkt->payload_off > pkt->l3_off ? pkt->payload_off - pkt->l3_off : 0;
	__u32 full = skb->gso_size ? hdrs + skb->gso_size : pkt->ip_bytes / pkt->segs;
	__u64 head = (__u64)(pkt->segs - 1) * full;
	if (head >= pkt->ip_bytes || pkt->ip_bytes - head > full) {
		/* sizes that do not add up (a test run without gso_size): equal shares */
		full = pkt->ip_bytes / pkt->segs;
		head = (__u64)(pkt->segs - 1) * full;
	}
	last_len = pkt->ip_bytes - (__u32)head;
	FG_SET(ps_min, full);
	FG_SET(ps_max, full);
	FG_SET(ps_sumsq, (__u64)(pkt->segs - 1) * full * full + (__u64)last_len * last_len);
} else {
	FG_SET(ps_sumsq, (__u64)last_len * last_len);
}
FG_SET(ps_min, last_len);
FG_SET(ps_max, last_len);
