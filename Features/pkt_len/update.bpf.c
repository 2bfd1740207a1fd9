/* Bin of an IP length: < 128, < 256, < 512, < 1024, < 1514, >= 1514 bytes. */
#define PKT_LEN_BIN(l) ((l) < 128 ? 0 : (l) < 256 ? 1 : (l) < 512 ? 2 : (l) < 1024 ? 3 : (l) < 1514 ? 4 : 5)
__u32 last_len = pkt->ip_bytes;
if (pkt->segs > 1) {
	/* A GSO skb leaves as segs packets: segs - 1 of headers + gso_size, then the rest. */
	__u32 hdrs = pkt->payload_off > pkt->l3_off ? pkt->payload_off - pkt->l3_off : 0;
	__u32 full = skb->gso_size ? hdrs + skb->gso_size : pkt->ip_bytes / pkt->segs;
	__u64 head = (__u64)(pkt->segs - 1) * full;
	if (head >= pkt->ip_bytes || pkt->ip_bytes - head > full) {
		/* sizes that do not add up (a test run without gso_size): equal shares */
		full = pkt->ip_bytes / pkt->segs;
		head = (__u64)(pkt->segs - 1) * full;
	}
	last_len = pkt->ip_bytes - (__u32)head;
	FG_SET(ip_len_min, full);
	FG_SET(ip_len_max, full);
	FG_ADD_BIN(ip_len_hist, PKT_LEN_BIN(full), pkt->segs - 1);
}
FG_SET(ip_len_min, last_len);
FG_SET(ip_len_max, last_len);
FG_ADD_BIN(ip_len_hist, PKT_LEN_BIN(last_len), 1);
#undef PKT_LEN_BIN
