/* The classification state (tcpseq_*) is updated without a lock: two CPUs racing on one
 * direction can misjudge one segment; the counters themselves are atomic adds. */
const __u64 ooo_window_ns = 3000000; /* a gap filled sooner than this after it opened: reordering */
__u32 hdrs = pkt->payload_off - pkt->l3_off;
__u32 data;
if (pkt->segs > 1)
	data = fg_pkt_len(skb) > pkt->payload_off ? fg_pkt_len(skb) - pkt->payload_off : 0;
else
	data = pkt->ip_bytes > hdrs ? pkt->ip_bytes - hdrs : 0;
__u32 seq = pkt->tcp_seq;
__u32 seq_len = data + ((pkt->tcp_flags & 0x02) ? 1 : 0) + (pkt->tcp_flags & 0x01);
__u32 seq_end = seq + seq_len;
if (!rec->tcpseq_valid) {
	FG_SET(tcpseq_valid, 1);
	FG_SET(tcpseq_hi, seq_end);
} else {
	__u32 hi = rec->tcpseq_hi;
	/* below the highest seen, occupies sequence space, and not a keep-alive */
	if (seq_len && (__s32)(seq - hi) < 0 &&
	    !(data <= 1 && seq == hi - 1 && !(pkt->tcp_flags & 0x07))) {
		if ((__s32)(seq - rec->tcpseq_hole_lo) >= 0 && (__s32)(seq - rec->tcpseq_hole_hi) < 0 &&
		    fg_now_precise(pkt) - rec->tcpseq_hole_ns < ooo_window_ns) {
			FG_SET(tcp_ooo_pkts, pkt->segs);
			FG_SET(tcp_ooo_bytes, data);
		} else {
			FG_SET(tcp_retrans_pkts, pkt->segs);
			FG_SET(tcp_retrans_bytes, data);
		}
	}
	if ((__s32)(seq_end - hi) > 0) {
		if ((__s32)(seq - hi) > 0) {
			/* the sequence jumps over [hi, seq): bytes this monitor has not seen */
			FG_SET(tcpseq_hole_lo, hi);
			FG_SET(tcpseq_hole_hi, seq);
			FG_SET(tcpseq_hole_ns, fg_now_precise(pkt));
		}
		FG_SET(tcpseq_hi, seq_end);
	}
}
