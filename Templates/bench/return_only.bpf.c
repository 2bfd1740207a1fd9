/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Benchmark floor (a): a TC program that returns at once.
 * Its BPF_PROG_TEST_RUN time is the harness itself (the kernel's test-run
 * loop and the program call), so it is the zero every other figure sits on. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

SEC("tc")
int bench_return_only(struct __sk_buff *skb)
{
	return TC_ACT_UNSPEC;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
