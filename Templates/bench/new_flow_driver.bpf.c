/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* New-flow driver for BPF_PROG_TEST_RUN. A test run repeats one packet, so on
 * its own it only ever measures the existing-flow path. This program runs
 * first on every repetition: it writes a running number into the low bits of
 * the source address (IPv4: 198.18.0.0/15, 2^17 sources; IPv6: the last 32
 * bits), then tail-calls the program under test from slot 0 of bench_target.
 * The test run keeps the same skb across repetitions, so every repetition
 * reaches the program as a flow it has never seen. The driver's own cost
 * (this body and the tail call) is measured by pointing slot 0 at the
 * return-only floor, and subtracted. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} bench_target SEC(".maps");

/* A global in .bss: read and written without a helper call. Test runs of one
 * program execute on one CPU at a time, so a plain increment is enough. */
__u32 bench_sequence = 0;

SEC("tc")
int bench_new_flow_driver(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > data_end)
		return TC_ACT_SHOT;

	__u32 n = bench_sequence++;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);
		if ((void *)(ip + 1) > data_end)
			return TC_ACT_SHOT;
		ip->saddr = bpf_htonl(0xC6120000 | (n & 0x1FFFF)); /* 198.18.0.0/15 */
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);
		if ((void *)(ip6 + 1) > data_end)
			return TC_ACT_SHOT;
		ip6->saddr.in6_u.u6_addr32[3] = bpf_htonl(n);
	}
	bpf_tail_call(skb, &bench_target, 0);
	return TC_ACT_SHOT; /* an empty slot shows up as a wrong return value */
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
