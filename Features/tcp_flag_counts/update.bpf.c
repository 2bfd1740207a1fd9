/* Counts per wire segment: a GSO skb leaves as segs segments, of which only the first keeps CWR
 * and only the last keeps PSH and FIN (tcp_gso_segment); the other flags are on every segment.
 * No add for a flag that is not set (each is a locked instruction). */
__u32 f = pkt->tcp_flags;
__u64 n = pkt->segs;
if (f & 0x02) FG_SET(syn_n, n);
if (f & 0x80) FG_SET(cwr_n, 1);
if (f & 0x40) FG_SET(ece_n, n);
if (f & 0x20) FG_SET(urg_n, n);
if (f & 0x10) FG_SET(ack_n, n);
if (f & 0x08) FG_SET(psh_n, 1);
if (f & 0x04) FG_SET(rst_n, n);
if (f & 0x01) FG_SET(fin_n, 1);
