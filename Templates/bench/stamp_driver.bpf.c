/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Stamp driver for BPF_PROG_TEST_RUN. A test run's skb carries no CLOCK_MONOTONIC stamp: the
 * kernel takes __sk_buff.tstamp from the caller but refuses a tstamp_type (net/bpf/test_run.c,
 * convert___skb_to_skb), so the stamp TCP puts on every segment it sends cannot be passed in. This
 * program runs first on every repetition: it stamps the skb as TCP does (bpf_skb_set_tstamp, mono
 * delivery time) and tail-calls the program under test from slot 0 of bench_target. Each
 * repetition's stamp is BENCH_STAMP_STEP ns after the last one (0: all equal, as packets within one
 * ms; 1000000: every packet in a new ms). Its own cost (this body and the tail call) is measured by
 * pointing slot 0 at the return-only floor, and subtracted. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#ifndef BENCH_STAMP_STEP
#define BENCH_STAMP_STEP 0
#endif
/* BPF_SKB_TSTAMP_DELIVERY_MONO (5.18's uapi), BPF_SKB_CLOCK_MONOTONIC since 6.11 */
#define BENCH_CLOCK_MONOTONIC 1

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} bench_target SEC(".maps");

/* The next stamp (.data: read and written without a helper call; test runs of one program run on
 * one CPU at a time). A mono stamp of 0 means none, so it starts at 1 s. */
__u64 bench_stamp = 1000000000ULL;

SEC("tc")
int bench_stamp_driver(struct __sk_buff *skb)
{
	__u64 t = bench_stamp;
	bench_stamp = t + BENCH_STAMP_STEP;
	if (bpf_skb_set_tstamp(skb, t, BENCH_CLOCK_MONOTONIC))
		return TC_ACT_SHOT; /* shows up as a wrong return value */
	bpf_tail_call(skb, &bench_target, 0);
	return TC_ACT_SHOT; /* an empty slot too */
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
