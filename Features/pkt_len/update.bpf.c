/* Bin of an IP length: < 128, < 256, < 512, < 1024, < 1514, >= 1514 bytes. */
#define PKT_LEN_BIN(l) ((l) < 128 ? 0 : (l) < 256 ? 1 : (l) < 512 ? 2 : (l) < 1024 ? 3 : (l) < 1514 ? 4 : 5)
/* A GSO skb leaves as segs packets: segs - 1 of headers + gso_size, then the rest. */
__u32 full, last_len;
fg_segment_sizes(skb, pkt, &full, &last_len);
if (pkt->segs > 1) {
	FG_SET(ip_len_min, full);
	FG_SET(ip_len_max, full);
	FG_ADD_BIN(ip_len_hist, PKT_LEN_BIN(full), pkt->segs - 1);
}
FG_SET(ip_len_min, last_len);
FG_SET(ip_len_max, last_len);
FG_ADD_BIN(ip_len_hist, PKT_LEN_BIN(last_len), 1);
#undef PKT_LEN_BIN
