/* Every option of the segment: options area [l4_off + 20, l4_off + doff*4),
 * copied to the stack and walked by tcpopt_step (helpers.bpf.c). */
struct tcpopt_walk w = {};
w.optlen = pkt->payload_off > pkt->l4_off + 20 ? pkt->payload_off - pkt->l4_off - 20 : 0;
if (w.optlen > 40)
	w.optlen = 40;
if (w.optlen && FG_LOAD(skb, pkt->l4_off + 20, w.opt, w.optlen) == 0)
	bpf_loop(40, tcpopt_step, &w, 0);
__u32 count = w.count, unknown = w.unknown, sack_blocks = w.sack_blocks, seen = w.seen;
__u32 mss = w.mss, wscale = w.wscale, tsval = w.tsval, tsecr = w.tsecr;
FG_SET(tcpopt_options, count);
if (unknown)
	FG_SET(tcpopt_unknown, unknown);
if (seen)
	FG_SET(tcpopt_seen, seen);
if (seen & 1)
	FG_SET(tcpopt_mss, mss);
if (seen & 2)
	FG_SET(tcpopt_wscale, wscale);
if (sack_blocks)
	FG_SET(tcpopt_sack_blocks, sack_blocks);
if (seen & 16) {
	FG_SET(tcpopt_ts_pkts, 1);
	if (rec->ts_last_val != tsval || rec->ts_last_time == 0) {
		/* remember when this TSval first appeared, for the other side's echo */
		FG_SET(ts_last_val, tsval);
		FG_SET(ts_last_time, fg_now_precise(pkt));
	}
	if (tsecr && tsecr != rec->ts_last_echo) {
		struct fg_record *rev = fg_flow_reverse(pkt);
		if (rev && rev->ts_last_val == tsecr && rev->ts_last_time && fg_now_precise(pkt) >= rev->ts_last_time) {
			__u64 rtt = fg_now_precise(pkt) - rev->ts_last_time;
			FG_SET(ts_last_echo, tsecr);
			FG_SET(rtt_sum_ns, rtt);
			FG_SET(rtt_samples, 1);
			FG_SET(rtt_min_ns, rtt);
			FG_SET(rtt_max_ns, rtt);
		}
	}
}
