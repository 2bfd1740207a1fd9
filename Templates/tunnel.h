/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Tunnel decapsulation of the `tunnel` feature (FG_WITH_TUNNEL): after parse.h has parsed the
 * outer packet, a VXLAN, Geneve, GRE or IP-in-IP packet is parsed again from its inner IP header,
 * so the flow is the inner one, keyed also by the tunnel (key.tunnel_type, key.tunnel_id).
 *
 * One level only: an inner packet that is itself a tunnel is tracked as that inner (outer-most
 * but one) flow. What is not a tunnel this recognises stays the outer flow, tunnel type 0:
 *   VXLAN   UDP destination port 4789 (IANA) or 8472 (Linux's default), I flag set; id = VNI
 *   Geneve  UDP destination port 6081, version 0, Ethernet or IPv4/IPv6 payload; id = VNI
 *   GRE     protocol 47, version 0 without routing, carrying IPv4, IPv6 or Ethernet (0x6558,
 *           NVGRE); id = the key when the K bit is set, else 0
 *   IP-in-IP protocol 4 (IPv4) or 41 (IPv6) in IPv4 or IPv6; id = 0
 * An inner Ethernet header may carry one VLAN tag. A tunnel whose inner frame is not IPv4/IPv6
 * (ARP in VXLAN) counts as not_ip, and a malformed inner packet as the same counters an outer
 * one would bump: the packet has no inner flow to track. */
#ifndef FLOWGEN_TUNNEL_H
#define FLOWGEN_TUNNEL_H

/* key.tunnel_type values (exported as tunnel_type). */
#define FG_TUNNEL_NONE   0
#define FG_TUNNEL_VXLAN  1
#define FG_TUNNEL_GENEVE 2
#define FG_TUNNEL_GRE    3
#define FG_TUNNEL_IPIP   4

#define FG_VXLAN_PORT       4789
#define FG_VXLAN_LINUX_PORT 8472   /* what `ip link add ... type vxlan` uses without dstport */
#define FG_GENEVE_PORT      6081
#define FG_ETH_P_TEB        0x6558 /* transparent Ethernet bridging: an Ethernet frame follows */
#ifndef IPPROTO_GRE
#define IPPROTO_GRE 47
#endif

/* A recognised tunnel: where its inner header starts and what it is. */
struct fg_tunnel {
	__u32 off;    /* offset of the inner header */
	__u32 id;     /* VNI or GRE key */
	__u16 proto;  /* host order: ETH_P_IP, ETH_P_IPV6, or FG_ETH_P_TEB for an inner Ethernet frame */
	__u8  type;   /* FG_TUNNEL_* */
	__u32 trailer; /* link-layer bytes after the outer IP packet (MACsec ICV), after the inner one too */
};

/* Whether the parsed outer packet is a tunnel; fills t if so. */
static __always_inline int fg_tunnel_find(struct __sk_buff *skb, const struct fg_pkt *pkt, struct fg_tunnel *t)
{
	if (!pkt->l4_off) /* a later fragment: no tunnel header here */
		return 0;
	if (pkt->l4_proto == IPPROTO_UDP) {
		__u16 dport = pkt->key.dport;
		if (dport != FG_VXLAN_PORT && dport != FG_VXLAN_LINUX_PORT && dport != FG_GENEVE_PORT)
			return 0;
		__u8 *h = FG_PTR(skb, pkt->payload_off, 8);
		if (!h)
			return 0;
		t->id = ((__u32)h[4] << 16) | ((__u32)h[5] << 8) | h[6];
		if (dport == FG_GENEVE_PORT) {
			if (h[0] >> 6) /* only version 0 is defined */
				return 0;
			t->type = FG_TUNNEL_GENEVE;
			t->proto = ((__u16)h[2] << 8) | h[3];
			t->off = pkt->payload_off + 8 + (h[0] & 0x3f) * 4;
		} else {
			if (!(h[0] & 0x08)) /* the I flag says the VNI is valid */
				return 0;
			t->type = FG_TUNNEL_VXLAN;
			t->proto = FG_ETH_P_TEB;
			t->off = pkt->payload_off + 8;
		}
	} else if (pkt->l4_proto == IPPROTO_GRE) {
		__u8 *h = FG_PTR(skb, pkt->l4_off, 4);
		if (!h)
			return 0;
		/* version 0 (1 is PPTP's enhanced GRE), no routing (RFC 1701's, obsolete) */
		if ((h[1] & 0x07) || (h[0] & 0x40))
			return 0;
		__u32 off = pkt->l4_off + 4;
		if (h[0] & 0x80) /* checksum and reserved */
			off += 4;
		if (h[0] & 0x20) { /* key */
			__u8 *k = FG_PTR(skb, off, 4);
			if (!k)
				return 0;
			t->id = ((__u32)k[0] << 24) | ((__u32)k[1] << 16) | ((__u32)k[2] << 8) | k[3];
			off += 4;
		}
		if (h[0] & 0x10) /* sequence number */
			off += 4;
		t->type = FG_TUNNEL_GRE;
		t->proto = ((__u16)h[2] << 8) | h[3];
		t->off = off;
	} else if (pkt->l4_proto == IPPROTO_IPIP || pkt->l4_proto == IPPROTO_IPV6) {
		t->type = FG_TUNNEL_IPIP;
		t->proto = pkt->l4_proto == IPPROTO_IPIP ? ETH_P_IP : ETH_P_IPV6;
		t->off = pkt->l4_off;
	} else {
		return 0;
	}
	/* GRE and Geneve also carry ERSPAN, PPP, NSH, ...: those stay outer flows */
	return t->proto == ETH_P_IP || t->proto == ETH_P_IPV6 || t->proto == FG_ETH_P_TEB;
}

/* Parses the inner packet of tunnel t into pkt (cleared first); returns FG_PARSED or the counter
 * to bump. A global function, so the verifier checks it once rather than once per outer parse
 * outcome, and clang compiles the second copy of the IP parsers apart from the first (inlined,
 * it kept skb->data in a 32-bit register the verifier then saw as a scalar). */
__attribute__((noinline)) int fg_tunnel_inner(struct __sk_buff *skb, struct fg_pkt *pkt, const struct fg_tunnel *t)
{
	if (!pkt || !t)
		return FG_CNT_TRUNCATED;
	__u32 off = t->off;
	__u16 proto = t->proto;
	if (proto == FG_ETH_P_TEB) {
		struct ethhdr *eth = FG_PTR(skb, off, sizeof(struct ethhdr));
		if (!eth)
			return FG_CNT_TRUNCATED;
		proto = bpf_ntohs(eth->h_proto);
		off += sizeof(struct ethhdr);
		if (proto == ETH_P_8021Q || proto == ETH_P_8021AD) {
			struct fg_vlan_hdr *vh = FG_PTR(skb, off, sizeof(*vh));
			if (!vh)
				return FG_CNT_TRUNCATED;
			proto = bpf_ntohs(vh->proto);
			off += sizeof(*vh);
		}
	}
	if (off > FG_MAX_L4_OFFSET)
		return FG_CNT_TRUNCATED;

	/* start over from a clean packet: the inner header may be of another IP version, and the
	 * outer one's ports, flags and offsets must not leak into the inner flow */
	__u32 segs = pkt->segs;
	__builtin_memset(pkt, 0, sizeof(*pkt));
	pkt->segs = segs;
	pkt->l3_off = off;
	pkt->key.tunnel_id = t->id;
	pkt->key.tunnel_type = t->type;
	if (proto == ETH_P_IP)
		return fg_parse_ipv4(skb, pkt, off, t->trailer);
	if (proto == ETH_P_IPV6)
		return fg_parse_ipv6(skb, pkt, off, t->trailer);
	return FG_CNT_NOT_IP;
}

/* Replaces the outer packet parsed in pkt by the inner one when it is a tunnel, and moves *l3 to
 * the inner IP header (for the GSO byte count); returns FG_PARSED or the counter to bump. */
static __always_inline int fg_tunnel_parse(struct __sk_buff *skb, struct fg_pkt *pkt, __u32 *l3, __u32 trailer)
{
	struct fg_tunnel t = {};
	if (!fg_tunnel_find(skb, pkt, &t))
		return FG_PARSED;
	t.trailer = trailer;
	int ret = fg_tunnel_inner(skb, pkt, &t);
	*l3 = pkt->l3_off;
	return ret;
}

#endif /* FLOWGEN_TUNNEL_H */
