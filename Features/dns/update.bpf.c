/* A do/while(0) so early exits skip only this feature (a body must never
 * return: later features of the same stage follow it). Over TCP the message
 * starts after a 2-byte length; only segments that start a message parse. */
do {
	if (pkt->key.sport != 53 && pkt->key.dport != 53)
		break;
	__u32 off = pkt->payload_off;
	if (pkt->l4_proto == IPPROTO_TCP)
		off += 2;
	__u8 *h = FG_PTR(skb, off, 12);
	if (!h)
		break;
	__u32 id = ((__u32)h[0] << 8) | h[1];
	__u32 response = h[2] >> 7;
	__u32 rcode = h[3] & 0x0f;
	__u32 qdcount = ((__u32)h[4] << 8) | h[5];
	__u32 ancount = ((__u32)h[6] << 8) | h[7];
	/* read once, before the name walk: a clock read after it doubled the verifier's work */
	__u64 now = fg_now_precise(pkt);

	__u32 p = off + 12, hash = 2166136261U, name_len = 0, labels = 0, qtype = 0;
	int complete = 0;
	#pragma clang loop unroll(disable)
	for (int i = 0; i < 32 && qdcount; i++) {
		__u8 *l = FG_PTR(skb, p, 1);
		if (!l)
			break;
		__u32 len = *l;
		p++;
		if (len == 0) {
			complete = 1;
			break;
		}
		if (len > 63)
			break;           /* compression pointer or bad label */
		#pragma clang loop unroll(disable)
		for (int j = 0; j < 63; j++) {
			if (j >= len)
				break;
			__u8 *c = FG_PTR(skb, p + j, 1);
			if (!c)
				break;
			__u8 ch = *c;
			if (ch >= 'A' && ch <= 'Z')
				ch += 'a' - 'A';
			hash = (hash ^ ch) * 16777619U;
		}
		hash = (hash ^ '.') * 16777619U;
		p += len;
		name_len += len + (labels ? 1 : 0);
		labels++;
	}
	if (complete) {
		__u8 *t = FG_PTR(skb, p, 2);
		if (t)
			qtype = ((__u32)t[0] << 8) | t[1];
	}
	if (!response) {
		FG_SET(dns_queries, 1);
		FG_SET(dns_query_id, id);
		FG_SET(dns_query_time, now);
		if (complete) {
			FG_SET(dns_qname_hash, hash);
			FG_SET(dns_qname_len, name_len);
			FG_SET(dns_qname_labels, labels);
			FG_SET(dns_qtype, qtype);
		}
	} else {
		FG_SET(dns_responses, 1);
		FG_SET(dns_rcode, rcode);
		FG_SET(dns_answers, ancount);
		if (complete) {
			FG_SET(dns_qname_hash, hash);
			FG_SET(dns_qname_len, name_len);
			FG_SET(dns_qname_labels, labels);
			FG_SET(dns_qtype, qtype);
		}
		struct fg_record *rev = fg_flow_reverse(pkt);
		if (rev && rev->dns_query_id == id && rev->dns_query_time && now >= rev->dns_query_time) {
			__u64 latency = now - rev->dns_query_time;
			FG_SET(dns_latency_sum_ns, latency);
			FG_SET(dns_latency_samples, 1);
			FG_SET(dns_latency_min_ns, latency);
		}
	}
} while (0);
