/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Host build of a flowgen monitor: the generated translation unit, unchanged, compiled for the
 * machine flowgen runs on (-DFG_NATIVE, Templates/native.h standing in for bpf_helpers.h), plus
 * the entry points `flowgen replay --engine native` calls through dlopen: run one frame, read
 * and delete flow table entries, read the failure counters. The double-brace markers are filled
 * by flowgen's code generator. One loaded copy is one flow table: flowgen dlopens a private copy
 * of the library per replay. */
#include "{{MAIN}}"

#define FG_NATIVE_API __attribute__((visibility("default")))

/* Bumped when an entry point below changes; flowgen refuses a library of another version. */
#define FG_NATIVE_ABI 2

static const volatile __u8 fg_native_replay_on = 1;

FG_NATIVE_API __u32 fg_native_abi(void)
{
	return FG_NATIVE_ABI;
}

/* Creates the maps the collector reads (the others are created on first use); 0 or -errno. */
FG_NATIVE_API int fg_native_init(void)
{
	fg_native_cfg_replay = &fg_native_replay_on;
	if (!FG_NATIVE_MAP(&fg_flows) || !FG_NATIVE_MAP(&fg_counters) || !FG_NATIVE_MAP(&fg_scratch))
		return fg_native_failure ? fg_native_failure : -ENOMEM;
	return 0;
}

/* 0, or why a map could not be created (-ENOMEM, -E2BIG: too many maps, -EINVAL: a map type
 * with no native implementation, named by fg_native_failed_map_type). */
FG_NATIVE_API int fg_native_status(void)
{
	return fg_native_failure;
}

FG_NATIVE_API __u32 fg_native_failed_map_type(void)
{
	return fg_native_failed_type;
}

/* Frees every map (before dlclose: the library's memory is not freed by unloading it). */
FG_NATIVE_API void fg_native_free(void)
{
	fg_native_maps_free();
}

/* Runs the entry program over one Ethernet frame stamped `tstamp_ns` (capture time), as
 * BPF_PROG_TEST_RUN does: a fresh skb whose data is the whole frame, gso_segs 0, on the
 * loopback device. `full_len` is the frame's length before replay cut it to `len` bytes (in
 * cb[0] when longer, as the kernel engine passes it). Returns the program's return value. The
 * frame is only read. */
FG_NATIVE_API int fg_native_run(const void *frame, __u32 len, __u32 full_len, __u64 tstamp_ns)
{
	struct fg_native_skb skb;
	__builtin_memset(&skb, 0, sizeof(skb));
	skb.data = (void *)frame;
	skb.data_end = (__u8 *)frame + len;
	skb.data_meta = skb.data;
	skb.len = len;
	skb.wire_len = len;
	skb.tstamp = tstamp_ns;
	skb.ifindex = 1;
	if (full_len > len)
		skb.cb[0] = full_len;
	if (len >= 14) {
		__u16 proto = ((const __u8 *)frame)[12] << 8 | ((const __u8 *)frame)[13];
		/* eth_type_trans: a length field below 0x600 means 802.3/802.2 */
		skb.protocol = bpf_htons(proto >= 0x600 ? proto : 0x0004 /* ETH_P_802_2 */);
	}
	fg_native_now = tstamp_ns;
	return {{ENTRY}}(&skb);
}

static __always_inline struct fg_native_htab *fg_native_flows(void)
{
	struct fg_native_map *m = FG_NATIVE_MAP(&fg_flows);
	return m ? &m->htab : 0;
}

FG_NATIVE_API __u32 fg_native_key_size(void)
{
	return sizeof(struct fg_flow_key);
}

FG_NATIVE_API __u32 fg_native_value_size(void)
{
	return sizeof(struct fg_record);
}

FG_NATIVE_API __u32 fg_native_capacity(void)
{
	return FG_NATIVE_ENTRIES(&fg_flows);
}

/* Entries in the flow table; they are keys()[0..count) and values()[0..count), packed. */
FG_NATIVE_API __u32 fg_native_count(void)
{
	struct fg_native_htab *t = fg_native_flows();
	return t ? t->count : 0;
}

FG_NATIVE_API const void *fg_native_keys(void)
{
	struct fg_native_htab *t = fg_native_flows();
	return t ? t->keys : 0;
}

FG_NATIVE_API const void *fg_native_values(void)
{
	struct fg_native_htab *t = fg_native_flows();
	return t ? t->values : 0;
}

/* Copies the value of `key` to `value`, and removes the entry when `remove` is set; 0 or -ENOENT. */
FG_NATIVE_API int fg_native_lookup(const void *key, void *value, int remove)
{
	struct fg_native_htab *t = fg_native_flows();
	if (!t)
		return -ENOMEM;
	if (remove)
		return (int)fg_native_htab_delete(t, key, value, sizeof(struct fg_record));
	void *v = fg_native_htab_lookup(t, key, sizeof(struct fg_flow_key));
	if (!v)
		return -ENOENT;
	__builtin_memcpy(value, v, sizeof(struct fg_record));
	return 0;
}

/* Removes `count` packed keys; keys already gone are skipped. Returns the number removed. */
FG_NATIVE_API __u32 fg_native_delete(const void *keys, __u32 count)
{
	struct fg_native_htab *t = fg_native_flows();
	__u32 removed = 0;
	if (!t)
		return 0;
	for (__u32 i = 0; i < count; i++)
		removed += fg_native_htab_delete(t, (const __u8 *)keys + (__u64)i * sizeof(struct fg_flow_key), 0, 0) == 0;
	return removed;
}

/* Inserts or replaces an entry with the kernel's flags (BPF_ANY, BPF_NOEXIST, BPF_EXIST); 0 or -errno. */
FG_NATIVE_API int fg_native_update(const void *key, const void *value, __u64 flags)
{
	struct fg_native_htab *t = fg_native_flows();
	if (!t)
		return -ENOMEM;
	return (int)fg_native_htab_update(t, key, value, sizeof(struct fg_flow_key), sizeof(struct fg_record), flags);
}

/* Empties the flow table. */
FG_NATIVE_API void fg_native_clear(void)
{
	struct fg_native_htab *t = fg_native_flows();
	if (t)
		fg_native_htab_clear(t);
}

/* Copies up to `n` failure counters (index FG_CNT_*) to `out`; returns how many there are. */
FG_NATIVE_API __u32 fg_native_counters(__u64 *out, __u32 n)
{
	for (__u32 i = 0; i < n && i < FG_CNT__COUNT; i++) {
		__u64 *c = bpf_map_lookup_elem(&fg_counters, &i);
		out[i] = c ? *c : 0;
	}
	return FG_CNT__COUNT;
}
