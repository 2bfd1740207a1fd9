/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Packet parser of stage 0: Ethernet, up to FG_MAX_VLAN VLAN tags, IPv4/IPv6
 * (extension headers walked), TCP/UDP/UDP-Lite/SCTP ports, ICMP/ICMPv6
 * type/code/identifier. Returns FG_PARSED or the FG_CNT_* counter to bump.
 * Each header access is preceded by its bounds check against data_end. */
#ifndef FLOWGEN_PARSE_H
#define FLOWGEN_PARSE_H

#include "flowgen.h"

#define FG_PARSED (-1)

struct fg_vlan_hdr {
	__be16 tci;
	__be16 proto;
};

struct fg_ext_hdr {
	__u8 nexthdr;
	__u8 len;
};

struct fg_frag_hdr {
	__u8   nexthdr;
	__u8   reserved;
	__be16 frag_off;
	__be32 id;
};

/* ICMP/ICMPv6 messages that carry an identifier and come as request/reply. */
static __always_inline int fg_icmp_has_id(__u8 version, __u8 type)
{
	if (version == 4)
		return type == 0 || type == 8 || type == 13 || type == 14 ||
		       type == 15 || type == 16 || type == 17 || type == 18;
	return type == 128 || type == 129;
}

static __always_inline int fg_parse_l4(struct __sk_buff *skb, struct fg_pkt *pkt, __u32 l4)
{
	if (l4 > FG_MAX_L4_OFFSET)
		return FG_CNT_TRUNCATED;
	pkt->l4_off = l4;

	switch (pkt->l4_proto) {
	case IPPROTO_TCP: {
		struct tcphdr *th = FG_PTR(skb, l4, sizeof(struct tcphdr));
		if (!th)
			return FG_CNT_TRUNCATED;
		if (th->doff < 5)
			return FG_CNT_BAD_TCP_HEADER;
		pkt->key.sport = bpf_ntohs(th->source);
		pkt->key.dport = bpf_ntohs(th->dest);
		pkt->tcp_flags = ((__u8 *)th)[13];
		pkt->tcp_seq = bpf_ntohl(th->seq);
		pkt->tcp_ack = bpf_ntohl(th->ack_seq);
		pkt->tcp_window = bpf_ntohs(th->window);
		pkt->payload_off = l4 + th->doff * 4;
		break;
	}
	case IPPROTO_UDP:
	case IPPROTO_UDPLITE: {
		struct udphdr *uh = FG_PTR(skb, l4, sizeof(struct udphdr));
		if (!uh)
			return FG_CNT_TRUNCATED;
		pkt->key.sport = bpf_ntohs(uh->source);
		pkt->key.dport = bpf_ntohs(uh->dest);
		pkt->payload_off = l4 + sizeof(struct udphdr);
		break;
	}
	case IPPROTO_SCTP: {
		__be16 *ports = FG_PTR(skb, l4, 4);
		if (!ports)
			return FG_CNT_TRUNCATED;
		pkt->key.sport = bpf_ntohs(ports[0]);
		pkt->key.dport = bpf_ntohs(ports[1]);
		break;
	}
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6: {
		__u8 *ih = FG_PTR(skb, l4, 4);
		if (!ih)
			return FG_CNT_TRUNCATED;
		pkt->icmp_type = ih[0];
		pkt->icmp_code = ih[1];
#ifdef FG_WITH_ICMP_KEY
		pkt->key.dport = ((__u16)ih[0] << 8) | ih[1];
		if (fg_icmp_has_id(pkt->key.ip_version, ih[0])) {
			__be16 *id = FG_PTR(skb, l4 + 4, 2);
			if (!id)
				return FG_CNT_TRUNCATED;
			pkt->key.sport = bpf_ntohs(*id);
		}
#endif
		break;
	}
	default:
		/* GRE, ESP, OSPF, ...: a flow of addresses and protocol, ports 0 */
		break;
	}
	return FG_PARSED;
}

static __always_inline int fg_parse_ipv4(struct __sk_buff *skb, struct fg_pkt *pkt, __u32 off)
{
#ifndef FG_WITH_IPV4
	return FG_CNT_IP_VERSION_EXCLUDED;
#else
	struct iphdr *ip = FG_PTR(skb, off, sizeof(struct iphdr));
	if (!ip)
		return FG_CNT_TRUNCATED;
	__u32 ihl = ip->ihl * 4;
	__u32 tot = bpf_ntohs(ip->tot_len);
	if (ip->version != 4 || ihl < sizeof(struct iphdr) || tot < ihl)
		return FG_CNT_BAD_IPV4_HEADER;

	pkt->key.ip_version = 4;
	pkt->key.src[10] = 0xff;
	pkt->key.src[11] = 0xff;
	pkt->key.dst[10] = 0xff;
	pkt->key.dst[11] = 0xff;
	__builtin_memcpy(&pkt->key.src[12], &ip->saddr, 4);
	__builtin_memcpy(&pkt->key.dst[12], &ip->daddr, 4);
	pkt->key.proto = ip->protocol;
	pkt->l4_proto = ip->protocol;
	pkt->ttl = ip->ttl;
	pkt->tos = ip->tos;
	pkt->ip_bytes = tot;

	if (ip->frag_off & bpf_htons(0x1fff)) {
		/* a later fragment has no transport header: keyed without ports */
		pkt->fragment = 1;
		return FG_PARSED;
	}
	return fg_parse_l4(skb, pkt, off + ihl);
#endif
}

static __always_inline int fg_parse_ipv6(struct __sk_buff *skb, struct fg_pkt *pkt, __u32 off)
{
#ifndef FG_WITH_IPV6
	return FG_CNT_IP_VERSION_EXCLUDED;
#else
	struct ipv6hdr *ip6 = FG_PTR(skb, off, sizeof(struct ipv6hdr));
	if (!ip6)
		return FG_CNT_TRUNCATED;
	if (ip6->version != 6)
		return FG_CNT_TRUNCATED;

	pkt->key.ip_version = 6;
	__builtin_memcpy(pkt->key.src, &ip6->saddr, 16);
	__builtin_memcpy(pkt->key.dst, &ip6->daddr, 16);
	pkt->ttl = ip6->hop_limit;
	pkt->tos = (ip6->priority << 4) | (ip6->flow_lbl[0] >> 4);
	pkt->flow_label = ((__u32)(ip6->flow_lbl[0] & 0x0f) << 16) |
			  ((__u32)ip6->flow_lbl[1] << 8) | ip6->flow_lbl[2];
	pkt->ip_bytes = bpf_ntohs(ip6->payload_len) + sizeof(struct ipv6hdr);

	__u8 nh = ip6->nexthdr;
	__u32 l4 = off + sizeof(struct ipv6hdr);
#pragma unroll
	for (int i = 0; i < FG_MAX_IPV6_EXT; i++) {
		if (l4 > FG_MAX_L4_OFFSET)
			return FG_CNT_TRUNCATED;
		if (nh == IPPROTO_HOPOPTS || nh == IPPROTO_ROUTING || nh == IPPROTO_DSTOPTS ||
		    nh == 135 /* mobility */ || nh == 139 /* HIP */ || nh == 140 /* shim6 */) {
			struct fg_ext_hdr *eh = FG_PTR(skb, l4, sizeof(*eh));
			if (!eh)
				return FG_CNT_TRUNCATED;
			nh = eh->nexthdr;
			l4 += (eh->len + 1) * 8;
		} else if (nh == IPPROTO_AH) {
			struct fg_ext_hdr *eh = FG_PTR(skb, l4, sizeof(*eh));
			if (!eh)
				return FG_CNT_TRUNCATED;
			nh = eh->nexthdr;
			l4 += (eh->len + 2) * 4;
		} else if (nh == IPPROTO_FRAGMENT) {
			struct fg_frag_hdr *fh = FG_PTR(skb, l4, sizeof(*fh));
			if (!fh)
				return FG_CNT_TRUNCATED;
			nh = fh->nexthdr;
			l4 += sizeof(*fh);
			if (fh->frag_off & bpf_htons(0xfff8)) {
				pkt->key.proto = nh;
				pkt->l4_proto = nh;
				pkt->fragment = 1;
				return FG_PARSED;
			}
		} else {
			pkt->key.proto = nh;
			pkt->l4_proto = nh;
			return fg_parse_l4(skb, pkt, l4);
		}
	}
	return FG_CNT_IPV6_EXT_CHAIN_TOO_LONG;
#endif
}

#ifdef FG_WITH_TUNNEL
#include "tunnel.h"
#endif

/* Fills pkt from the packet; returns FG_PARSED or the counter to bump. */
static __always_inline int fg_parse(struct __sk_buff *skb, struct fg_pkt *pkt)
{
	/* Headers of GSO or forwarded skbs can sit in paged data: make them linear. */
	if (skb->data_end - skb->data < FG_PULL_LEN && skb->data_end - skb->data < skb->len)
		bpf_skb_pull_data(skb, skb->len < FG_PULL_LEN ? skb->len : FG_PULL_LEN);

	struct ethhdr *eth = FG_PTR(skb, 0, sizeof(struct ethhdr));
	if (!eth)
		return FG_CNT_TRUNCATED;
	__be16 proto = eth->h_proto;
	__u32 off = sizeof(struct ethhdr);

#pragma unroll
	for (int i = 0; i < FG_MAX_VLAN; i++) {
		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		struct fg_vlan_hdr *vh = FG_PTR(skb, off, sizeof(*vh));
		if (!vh)
			return FG_CNT_TRUNCATED;
		proto = vh->proto;
		off += sizeof(*vh);
	}
	if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD))
		return FG_CNT_VLAN_TOO_DEEP;

	pkt->l3_off = off;
	pkt->segs = skb->gso_segs ? skb->gso_segs : 1;

	int ret;
	if (proto == bpf_htons(ETH_P_IP))
		ret = fg_parse_ipv4(skb, pkt, off);
	else if (proto == bpf_htons(ETH_P_IPV6))
		ret = fg_parse_ipv6(skb, pkt, off);
	else
		return FG_CNT_NOT_IP;
	if (ret != FG_PARSED)
		return ret;
#ifdef FG_WITH_TUNNEL
	ret = fg_tunnel_parse(skb, pkt, &off); /* the inner flow of a tunnel (tunnel.h) */
	if (ret != FG_PARSED)
		return ret;
#endif

	if (pkt->segs > 1) {
		/* A GSO skb leaves as segs packets, each with its own L3+L4 headers:
		 * count what the wire carries, as IPFIX octetDeltaCount does. */
		__u32 hdrs = pkt->payload_off > off ? pkt->payload_off - off : 0;
		pkt->ip_bytes = (skb->len - off) + (pkt->segs - 1) * hdrs;
	}
	pkt->now = fg_now(skb);
	return FG_PARSED;
}

#endif /* FLOWGEN_PARSE_H */
