/* Bins: 0 | 1 | 2-5 | 6-32 | then 32 wide from 33 (33-64 is bin 4, ..., 225-255 is bin 10).
 * A GSO skb adds its pkt->segs wire packets, which all carry this TTL. */
__u32 ttl = pkt->ttl;
FG_ADD_BIN(ttl_hist, ttl >= 33 ? 4 + ((ttl - 33) >> 5) : ttl >= 6 ? 3 : ttl >= 2 ? 2 : ttl, pkt->segs);
