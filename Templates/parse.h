/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Packet parser of stage 0: Ethernet (or no link header on the devices fg_links marks), up to
 * FG_MAX_VLAN VLAN tags, unencrypted MACsec, NSH and Arista timestamp headers, IPv4/IPv6
 * (extension headers walked), TCP/UDP/UDP-Lite/SCTP ports, ICMP/ICMPv6
 * type/code/identifier. Returns FG_PARSED or the FG_CNT_* counter to bump.
 * Each header access is preceded by its bounds check against data_end. */
#ifndef FLOWGEN_PARSE_H
#define FLOWGEN_PARSE_H

#include "flowgen.h"

#define FG_PARSED (-1)

#define FG_ETH_P_MACSEC 0x88E5 /* IEEE 802.1AE */
#define FG_ETH_P_NSH    0x894F /* RFC 8300 Network Service Header */
#define FG_ETH_P_ARISTA 0xD28B /* Arista vendor-specific protocol (timestamp header) */
#define FG_MACSEC_ICV   16     /* the ICV after a MACsec frame's user data (default cipher suites) */

/* Devices whose packets start at the network header (tun, WireGuard, ipip, GRE, PPP: no Ethernet
 * header, skb->protocol names IPv4/IPv6), one bit per ifindex, set by flowgen when it attaches:
 * fg_links[ifindex / 64] bit ifindex % 64 for ifindex < FG_LINK_WORDS * 64 (an array lookup the
 * verifier inlines: a few instructions per packet), fg_links_far for the rare larger ifindex.
 * A device flowgen did not mark is read as Ethernet. */
#define FG_LINK_WORDS 1024
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FG_LINK_WORDS);
	__type(key, __u32);
	__type(value, __u64);
} fg_links SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u8);
} fg_links_far SEC(".maps");

/* Whether the packets of the device the program runs on start at the network header. */
static __always_inline int fg_link_is_l3(struct __sk_buff *skb)
{
	__u32 ifindex = skb->ifindex;
	if (ifindex < FG_LINK_WORDS * 64) {
		__u32 word = ifindex / 64;
		__u64 *bits = bpf_map_lookup_elem(&fg_links, &word);
		return bits && (*bits >> (ifindex % 64)) & 1;
	}
	__u8 *far = bpf_map_lookup_elem(&fg_links_far, &ifindex);
	return far && *far;
}

/* Length of the frame the program runs on: skb->len, or in replay the length the capture gave
 * before a kernel test run cut it (cb[0], set by flowgen when it cut the frame). The IP length of
 * a packet whose header says 0 (segmentation offload) is taken from it, as the kernel does. */
static __always_inline __u32 fg_frame_len(struct __sk_buff *skb)
{
	if (fg_cfg_replay && skb->cb[0] > skb->len)
		return skb->cb[0];
	return skb->len;
}

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

static __always_inline int fg_parse_ipv4(struct __sk_buff *skb, struct fg_pkt *pkt, __u32 off, __u32 trailer)
{
#ifndef FG_WITH_IPV4
	return FG_CNT_IP_VERSION_EXCLUDED;
#else
	struct iphdr *ip = FG_PTR(skb, off, sizeof(struct iphdr));
	if (!ip)
		return FG_CNT_TRUNCATED;
	__u32 ihl = ip->ihl * 4;
	__u32 tot = bpf_ntohs(ip->tot_len);
	if (tot == 0) {
		/* TSO/GSO as captured on the sender, BIG TCP above 64 KiB: the length is the frame's */
		__u32 frame = fg_frame_len(skb);
		tot = frame > off + trailer ? frame - off - trailer : 0;
	}
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

static __always_inline int fg_parse_ipv6(struct __sk_buff *skb, struct fg_pkt *pkt, __u32 off, __u32 trailer)
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
	if (!ip6->payload_len && ip6->nexthdr != 59 /* no next header: an empty payload indeed */) {
		/* BIG TCP (with or without a hop-by-hop jumbo option) or GSO as captured on the
		 * sender: the length is the frame's */
		__u32 frame = fg_frame_len(skb);
		if (frame > off + trailer + sizeof(struct ipv6hdr))
			pkt->ip_bytes = frame - off - trailer;
		/* RFC 2675's jumbo option alone in an 8-byte hop-by-hop header: type 0xC2 after
		 * the header's next-header and length bytes */
		__u8 *hbh = ip6->nexthdr == IPPROTO_HOPOPTS ? FG_PTR(skb, off + sizeof(struct ipv6hdr), 3) : 0;
		if (hbh && hbh[1] == 0 && hbh[2] == 0xC2)
			pkt->jumbo = 1;
	}

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

/* Where the IP header of an encapsulated frame starts (fg_parse_encap's result). */
struct fg_encap {
	__u32 off;     /* in: the encapsulation's header; out: the network header */
	__u32 trailer; /* out: bytes after the IP packet that belong to the link layer (MACsec ICV) */
	__u32 proto;   /* in: the ethertype naming the encapsulation; out: the network protocol (__be16) */
};

/* The headers between Ethernet (and its VLAN tags) and IP that a monitored link may carry: one
 * MACsec SecTAG (802.1AE, integrity only), NSH (RFC 8300) and Arista timestamp headers, and VLAN
 * tags after them. Returns FG_PARSED or the counter to bump.
 * A global function: verified once, not once per way the parser reaches it, and every read is a
 * copy (FG_LOAD) at an offset the verifier need not track exactly, so the paths through its loop
 * share states (read in place, the combinations of header kinds and lengths multiplied the
 * entry program's verified instructions by 40). */
__attribute__((noinline)) int fg_parse_encap(struct __sk_buff *skb, struct fg_encap *e)
{
	if (!e)
		return FG_CNT_TRUNCATED;
	__u32 off = e->off;
	__be16 proto = e->proto;
	__u32 trailer = 0;
	__u32 vlans = 0;
	for (int i = 0; i < FG_MAX_VLAN + 4; i++) {
		if (off > FG_MAX_PACKET_OFFSET)
			return FG_CNT_TRUNCATED;
		if (proto == bpf_htons(ETH_P_IP) || proto == bpf_htons(ETH_P_IPV6)) {
			e->off = off;
			e->trailer = trailer;
			e->proto = proto;
			return FG_PARSED;
		}
		if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD)) {
			if (++vlans > FG_MAX_VLAN)
				return FG_CNT_VLAN_TOO_DEEP;
			if (FG_LOAD(skb, off + 2, &proto, sizeof(proto)))
				return FG_CNT_TRUNCATED;
			off += sizeof(struct fg_vlan_hdr);
		} else if (proto == bpf_htons(FG_ETH_P_MACSEC)) {
			/* SecTAG after the ethertype: TCI/AN, short length, packet number, SCI if TCI.SC */
			__u8 tci;
			if (FG_LOAD(skb, off, &tci, sizeof(tci)))
				return FG_CNT_TRUNCATED;
			/* E (encrypted) or C (changed text): the user data is unreadable (and MACsec in
			 * MACsec would be inside the outer one's protection) */
			if (tci & 0x0c || trailer)
				return FG_CNT_MACSEC_ENCRYPTED;
			off += (tci & 0x20) ? 14 : 6;
			if (FG_LOAD(skb, off, &proto, sizeof(proto)))
				return FG_CNT_TRUNCATED;
			off += 2;
			trailer = FG_MACSEC_ICV;
		} else if (proto == bpf_htons(FG_ETH_P_ARISTA)) {
			/* subtype 1 (timestamp), version: format in bits 4-7 (1: 64-bit, 2: 48-bit time) */
			__u8 h[4];
			if (FG_LOAD(skb, off, h, sizeof(h)))
				return FG_CNT_TRUNCATED;
			__u8 format = h[3] >> 4;
			if (h[0] != 0 || h[1] != 1 || (format != 1 && format != 2))
				return FG_CNT_ARISTA_UNKNOWN;
			off += 4 + (format == 1 ? 8 : 6);
			if (FG_LOAD(skb, off, &proto, sizeof(proto)))
				return FG_CNT_TRUNCATED;
			off += 2;
		} else if (proto == bpf_htons(FG_ETH_P_NSH)) {
			/* base header: length (6 bits, 4-byte words, whole header) and next protocol */
			__u8 h[4];
			if (FG_LOAD(skb, off, h, sizeof(h)))
				return FG_CNT_TRUNCATED;
			__u32 len = (h[1] & 0x3f) * 4;
			if (len < 8)
				return FG_CNT_NSH_NOT_IP;
			off += len;
			if (h[3] == 1) {
				proto = bpf_htons(ETH_P_IP);
			} else if (h[3] == 2) {
				proto = bpf_htons(ETH_P_IPV6);
			} else if (h[3] == 3) { /* an Ethernet frame */
				if (FG_LOAD(skb, off + 12, &proto, sizeof(proto)))
					return FG_CNT_TRUNCATED;
				off += sizeof(struct ethhdr);
			} else if (h[3] == 4) {
				proto = bpf_htons(FG_ETH_P_NSH);
			} else {
				return FG_CNT_NSH_NOT_IP;
			}
		} else {
			return FG_CNT_NOT_IP;
		}
	}
	return FG_CNT_NOT_IP; /* more headers than a frame carries in practice */
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

	__be16 proto;
	__u32 off = 0;
	__u32 trailer = 0; /* bytes after the IP packet that belong to the link layer (MACsec ICV) */
	if (fg_link_is_l3(skb)) {
		proto = skb->protocol;
	} else {
		struct ethhdr *eth = FG_PTR(skb, 0, sizeof(struct ethhdr));
		if (!eth)
			return FG_CNT_TRUNCATED;
		proto = eth->h_proto;
		off = sizeof(struct ethhdr);

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
		if (proto == bpf_htons(FG_ETH_P_MACSEC) || proto == bpf_htons(FG_ETH_P_NSH) ||
		    proto == bpf_htons(FG_ETH_P_ARISTA)) {
			struct fg_encap e = { .off = off, .proto = proto };
			int ret = fg_parse_encap(skb, &e);
			if (ret != FG_PARSED)
				return ret;
			off = e.off;
			proto = e.proto;
			trailer = e.trailer;
		}
	}

	pkt->l3_off = off;
	pkt->segs = skb->gso_segs ? skb->gso_segs : 1;

	int ret;
	if (proto == bpf_htons(ETH_P_IP))
		ret = fg_parse_ipv4(skb, pkt, off, trailer);
	else if (proto == bpf_htons(ETH_P_IPV6))
		ret = fg_parse_ipv6(skb, pkt, off, trailer);
	else
		return FG_CNT_NOT_IP;
	if (ret != FG_PARSED)
		return ret;
#ifdef FG_WITH_TUNNEL
	ret = fg_tunnel_parse(skb, pkt, &off, trailer); /* the inner flow of a tunnel (tunnel.h) */
	if (ret != FG_PARSED)
		return ret;
#endif

	if (pkt->segs > 1) {
		/* A GSO skb leaves as segs packets, each with its own L3+L4 headers:
		 * count what the wire carries, as IPFIX octetDeltaCount does. */
		__u32 hdrs = pkt->payload_off > off ? pkt->payload_off - off : 0;
		/* a BIG TCP jumbo header is in the GSO skb only: segmentation removes it */
		__u32 jumbo = pkt->jumbo && hdrs > 8 ? 8 : 0;
		hdrs -= jumbo;
		pkt->ip_bytes = (skb->len - off - jumbo) + (pkt->segs - 1) * hdrs;
	}
	pkt->now = fg_now(skb);
	return FG_PARSED;
}

#endif /* FLOWGEN_PARSE_H */
