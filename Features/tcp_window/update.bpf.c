if (pkt->tcp_flags & 0x02) {
	/* SYN or SYN-ACK: its window is never scaled. Walk the options (at most 40 bytes) for MSS
	 * (kind 2) and window scale (kind 3), stepping over NOPs and any other kind by its length;
	 * stop at end-of-list or a malformed length. Only SYNs come here. */
	__u32 base = pkt->l4_off + 20;
	__u32 opt_len = pkt->payload_off > base ? pkt->payload_off - base : 0;
	__u8 opt[64] = {};
	FG_SET(tcpwin_syn, pkt->tcp_window);
	FG_SET(tcpwin_flags, 1);
	/* opaque to clang, so the tests below are made on the very register passed as length */
	asm volatile("" : "+r"(opt_len));
	if (opt_len > 0 && opt_len <= 40 && FG_LOAD(skb, base, opt, opt_len) == 0) {
		__u32 o = 0;
		for (int i = 0; i < 40; i++) {
			if (o >= opt_len || o >= 40)
				break;
			__u8 kind = opt[o & 63];
			if (kind == 0)
				break;
			if (kind == 1) {
				/* The step is read again through a volatile access: the verifier then
				 * does not know it is 1, o keeps one range for every path, and the
				 * loop costs it one pass per iteration instead of one per path. */
				o += *(volatile __u8 *)&opt[o & 63];
				continue;
			}
			__u32 len = opt[(o + 1) & 63];
			if (o + 1 >= opt_len || len < 2 || o + len > opt_len)
				break;
			if (kind == 2 && len == 4) {
				FG_SET(tcpwin_mss, ((__u16)opt[(o + 2) & 63] << 8) | opt[(o + 3) & 63]);
				FG_SET(tcpwin_flags, 4);
			} else if (kind == 3 && len == 3) {
				FG_SET(tcpwin_wscale, opt[(o + 2) & 63]);
				FG_SET(tcpwin_flags, 2);
			}
			o += *(volatile __u8 *)&opt[(o + 1) & 63]; /* len, re-read for the same reason */
		}
	}
} else if (!(pkt->tcp_flags & 0x04)) {
	/* the window of a RST means nothing */
	FG_SET(tcpwin_min_raw, pkt->tcp_window);
	FG_SET(tcpwin_max_raw, pkt->tcp_window);
	FG_SET(tcpwin_flags, 8);
}
