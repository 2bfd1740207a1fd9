/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* flowgen's host stand-in for <bpf/bpf_helpers.h>: the vocabulary the generated C reaches maps,
 * time and helpers through, implemented for a native (x86-64, arm64, ...) build of the very same
 * translation unit, so a capture can be replayed without the kernel (`replay --engine native`).
 *
 * How it gets in: a native build (-DFG_NATIVE) puts a directory first on the include path whose
 * bpf/bpf_helpers.h includes this file, so flowgen.h's `#include <bpf/bpf_helpers.h>` lands here.
 * The templates are not edited for it: the BPF object of a plan is byte for byte what it was.
 *
 * What changes natively, and only here:
 * - struct __sk_buff is renamed to struct fg_native_skb, the same fields with data, data_end and
 *   data_meta as real pointers (the uapi struct holds 32-bit offsets the verifier rewrites);
 * - fg_cfg_replay (a .rodata constant the loader sets) becomes a pointer the runtime points at 1:
 *   native code only replays, so time is always the capture time in skb->tstamp;
 * - maps are the same declarations (`struct { __uint(...); __type(...); } name SEC(".maps")`):
 *   their types carry type, key, value and size, which the helpers below read with sizeof;
 *   storage lives in a small registry keyed by the map's address (fg_native_map_of);
 * - helpers are macros over static functions: every bpf_* helper the templates and built-in
 *   features use. A helper missing here is a compile error naming it, never a wrong result.
 *
 * Differences from the kernel that C code can observe (none in the built-in features):
 * division by zero traps on the host (BPF defines x / 0 = 0); a deleted hash entry moves another
 * entry's value (record pointers stay valid between deletions: the collector deletes between
 * packets); there is one CPU, so per-CPU arrays are plain arrays and __sync_* builtins are plain
 * read-modify-writes. */
#ifndef FLOWGEN_NATIVE_H
#define FLOWGEN_NATIVE_H

#ifndef FG_NATIVE
#error "native.h is flowgen's host build of the generated C: compile with -DFG_NATIVE, or use <bpf/bpf_helpers.h>"
#endif

#include <linux/bpf.h>

#define __BPF_HELPERS__ 1 /* the real header must not follow: its helpers are calls to BPF addresses */

/* --- declarations (same spelling as libbpf's, so the map definitions compile unchanged) --- */
#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name
#define __array(name, val) typeof(val) *name[]
#define SEC(name)
/* as libbpf's bpf_helpers.h does: <linux/stddef.h> (through linux/bpf.h) defines it as a plain
 * `inline`, which left the map helpers below as calls with a run-time key size (a libc memcmp per
 * probe) */
#undef __always_inline
#define __always_inline inline __attribute__((always_inline))
#ifndef __noinline
#define __noinline __attribute__((noinline))
#endif
#ifndef __weak
#define __weak __attribute__((weak))
#endif
#define __hidden __attribute__((visibility("hidden")))
#ifndef NULL
#define NULL ((void *)0)
#endif
#ifndef barrier
#define barrier() asm volatile("" ::: "memory")
#endif
#ifndef barrier_var
#define barrier_var(var) asm volatile("" : "=r"(var) : "0"(var))
#endif

/* --- atomics: one thread runs a native library's packets --- */
/* A loaded copy of the library is one flow table, and one replay thread runs its packets (the
 * collector reads it only while none runs): the read-modify-writes the templates and modules make
 * atomic for the kernel's CPUs need no lock prefix here. Each locked instruction (six to eight a
 * packet with the nfstream preset's modules) is a full barrier that also keeps the processor from
 * starting the next lookup's cache misses early; the plain forms give the same values. */
#define fg_native_rmw_(p, v, op) ({ \
	__typeof__(p) _fg_p = (p); \
	__typeof__(*_fg_p) _fg_old = *_fg_p; \
	*_fg_p = (__typeof__(*_fg_p))(_fg_old op (v)); \
	_fg_old; })
#define __sync_fetch_and_add(p, v) fg_native_rmw_((p), (v), +)
#define __sync_fetch_and_sub(p, v) fg_native_rmw_((p), (v), -)
#define __sync_fetch_and_or(p, v)  fg_native_rmw_((p), (v), |)
#define __sync_fetch_and_and(p, v) fg_native_rmw_((p), (v), &)
#define __sync_val_compare_and_swap(p, expected, desired) ({ \
	__typeof__(p) _fg_p = (p); \
	__typeof__(*_fg_p) _fg_cur = *_fg_p; \
	if (_fg_cur == (expected)) \
		*_fg_p = (desired); \
	_fg_cur; })
#define __sync_bool_compare_and_swap(p, expected, desired) ({ \
	__typeof__(p) _fg_p = (p); \
	int _fg_same = *_fg_p == (expected); \
	if (_fg_same) \
		*_fg_p = (desired); \
	_fg_same; })

/* errno values the helpers return (flowgen.h defines E2BIG, ENOMEM and EEXIST only when missing) */
#ifndef EEXIST
#define ENOENT 2
#define E2BIG  7
#define ENOMEM 12
#define EFAULT 14
#define EEXIST 17
#define EINVAL 22
#endif

/* --- the packet: struct __sk_buff with real pointers --- */
struct fg_native_skb {
	__u32 len;
	__u32 pkt_type;
	__u32 mark;
	__u32 queue_mapping;
	__u32 protocol;
	__u32 vlan_present;
	__u32 vlan_tci;
	__u32 vlan_proto;
	__u32 priority;
	__u32 ingress_ifindex;
	__u32 ifindex;
	__u32 tc_index;
	__u32 cb[5];
	__u32 hash;
	__u32 tc_classid;
	void *data;
	void *data_end;
	__u32 napi_id;
	__u32 family;
	__u32 remote_ip4;
	__u32 local_ip4;
	__u32 remote_ip6[4];
	__u32 local_ip6[4];
	__u32 remote_port;
	__u32 local_port;
	void *data_meta;
	void *flow_keys;
	__u64 tstamp;
	__u32 wire_len;
	__u32 gso_segs;
	void *sk;
	__u32 gso_size;
	__u8  tstamp_type;
	__u64 hwtstamp;
};
#define __sk_buff fg_native_skb

/* flowgen.h declares `const volatile __u8 fg_cfg_replay = 0;`: natively that declares a pointer,
 * set by fg_native_init() to a 1, so fg_now() always takes the capture time. */
#define fg_cfg_replay (*fg_native_cfg_replay)

/* Capture time of the packet being run: what the clock helpers return natively. */
static __u64 fg_native_now;

/* --- maps --- */
#define FG_NATIVE_MAX_MAPS 16
#define FG_NATIVE_ENTRIES(m) ((__u32)(sizeof(*(m)->max_entries) / sizeof(int)))
#define FG_NATIVE_MAP(m) fg_native_map_of((const void *)(m), sizeof(*(m)->type) / sizeof(int), \
	sizeof(*(m)->key), sizeof(*(m)->value), FG_NATIVE_ENTRIES(m))

/* Open-addressing hash table with the kernel hash map's contract: at most `capacity` entries
 * (an insert into a full table fails with -E2BIG), BPF_NOEXIST / BPF_EXIST / BPF_ANY. Entries are
 * dense (keys[0..count), values[0..count)), so a snapshot is two copies; the index (linear
 * probing, at most half full, backward-shift deletion: no tombstones) holds the low 32 bits of
 * the hash and entry + 1 (0 = empty slot). */
struct fg_native_htab {
	__u64 *index;
	__u8 *keys;
	__u8 *values;
	__u32 mask;
	__u32 count;
	__u32 capacity;
	__u32 key_size;
	__u32 value_stride;
};

struct fg_native_map {
	const void *def;
	__u32 type;
	__u32 key_size;
	__u32 value_size;
	__u32 max_entries;
	__u8 *array;                 /* array maps: max_entries * value_stride bytes */
	__u32 value_stride;
	struct fg_native_htab htab;  /* hash maps */
};

void *calloc(unsigned long count, unsigned long size);
void free(void *p);

static struct fg_native_map fg_native_maps[FG_NATIVE_MAX_MAPS];
static __u32 fg_native_map_count;
/* Set when a map could not be created (unsupported type, no memory): fg_native_status() reports it. */
static int fg_native_failure;
static __u32 fg_native_failed_type;

static __always_inline __u64 fg_native_mix(__u64 a, __u64 b)
{
	unsigned __int128 r = (unsigned __int128)a * b;
	return (__u64)r ^ (__u64)(r >> 64);
}

static __always_inline __u64 fg_native_hash(const void *key, __u32 size)
{
	const __u8 *p = key;
	__u64 h = 0x243f6a8885a308d3ULL ^ size;
	__u32 i = 0;
	for (; i + 16 <= size; i += 16) {
		__u64 a, b;
		__builtin_memcpy(&a, p + i, 8);
		__builtin_memcpy(&b, p + i + 8, 8);
		h = fg_native_mix(a ^ 0xa0761d6478bd642fULL ^ h, b ^ 0xe7037ed1a0b428dbULL);
	}
	if (i + 8 <= size) {
		__u64 a;
		__builtin_memcpy(&a, p + i, 8);
		h = fg_native_mix(a ^ 0x8ebc6af09c88c6e3ULL, h ^ 0x589965cc75374cc3ULL);
		i += 8;
	}
	if (i < size) {
		__u64 a = 0;
		__builtin_memcpy(&a, p + i, size - i);
		h = fg_native_mix(a ^ 0x1d8e4e27c47d124fULL, h ^ 0xa0761d6478bd642fULL);
	}
	return fg_native_mix(h, 0x9e3779b97f4a7c15ULL);
}

static int fg_native_htab_init(struct fg_native_htab *t, __u32 key_size, __u32 value_size, __u32 capacity)
{
	__u64 slots = 16;
	while (slots < 2 * (__u64)capacity)
		slots <<= 1;
	t->key_size = key_size;
	t->value_stride = (value_size + 7) & ~7u;
	t->capacity = capacity;
	t->count = 0;
	t->mask = (__u32)(slots - 1);
	/* calloc of large sizes maps fresh zero pages: a table costs memory only as it fills */
	t->index = calloc(slots, sizeof(__u64));
	t->keys = calloc(capacity ? capacity : 1, key_size);
	t->values = calloc(capacity ? capacity : 1, t->value_stride);
	if (!t->index || !t->keys || !t->values) {
		free(t->index);
		free(t->keys);
		free(t->values);
		t->index = 0;
		t->keys = t->values = 0;
		return -ENOMEM;
	}
	return 0;
}

/* Whether two keys of `size` bytes are equal: flow keys are 40 or 48 bytes, compared as 64-bit
 * words without a call (clang keeps a memcmp of that size a libc call, which was a fifth of a
 * replay's time); other sizes through memcmp. */
static __always_inline int fg_native_key_equal(const void *a, const void *b, __u32 size)
{
	if (size != 40 && size != 48)
		return __builtin_memcmp(a, b, size) == 0;
	__u64 diff = 0;
	for (__u32 i = 0; i < size; i += 8) {
		__u64 x, y;
		__builtin_memcpy(&x, (const __u8 *)a + i, 8);
		__builtin_memcpy(&y, (const __u8 *)b + i, 8);
		diff |= x ^ y;
	}
	return diff == 0;
}

/* Index slot holding `key`, or the empty slot where it would go (its content is then 0). */
static __always_inline __u32 fg_native_htab_slot(const struct fg_native_htab *t, const void *key, __u32 key_size, __u32 tag)
{
	__u32 i = tag & t->mask;
	for (;;) {
		__u64 s = t->index[i];
		if (!s)
			return i;
		if ((__u32)(s >> 32) == tag &&
		    fg_native_key_equal(t->keys + (__u64)((__u32)s - 1) * key_size, key, key_size))
			return i;
		i = (i + 1) & t->mask;
	}
}

static __always_inline void *fg_native_htab_lookup(const struct fg_native_htab *t, const void *key, __u32 key_size)
{
	__u32 tag = (__u32)fg_native_hash(key, key_size);
	__u64 s = t->index[fg_native_htab_slot(t, key, key_size, tag)];
	return s ? t->values + (__u64)((__u32)s - 1) * t->value_stride : 0;
}

static __always_inline long fg_native_htab_update(struct fg_native_htab *t, const void *key, const void *value,
						   __u32 key_size, __u32 value_size, __u64 flags)
{
	if (flags > BPF_EXIST)
		return -EINVAL;
	__u32 tag = (__u32)fg_native_hash(key, key_size);
	__u32 i = fg_native_htab_slot(t, key, key_size, tag);
	__u64 s = t->index[i];
	if (s) {
		if (flags == BPF_NOEXIST)
			return -EEXIST;
		__builtin_memcpy(t->values + (__u64)((__u32)s - 1) * t->value_stride, value, value_size);
		return 0;
	}
	if (flags == BPF_EXIST)
		return -ENOENT;
	if (t->count >= t->capacity)
		return -E2BIG; /* what the kernel's preallocated hash map answers when full */
	__u32 e = t->count++;
	__builtin_memcpy(t->keys + (__u64)e * key_size, key, key_size);
	__builtin_memcpy(t->values + (__u64)e * t->value_stride, value, value_size);
	t->index[i] = ((__u64)tag << 32) | (e + 1);
	return 0;
}

/* Removes the entry at index slot i: backward-shift the probe chain, then move the last dense
 * entry into the hole. */
static void fg_native_htab_remove_slot(struct fg_native_htab *t, __u32 i)
{
	__u32 e = (__u32)t->index[i] - 1;
	__u32 j = i;
	for (;;) {
		j = (j + 1) & t->mask;
		__u64 s = t->index[j];
		if (!s)
			break;
		__u32 home = (__u32)(s >> 32) & t->mask;
		/* s may move to i when its home is not cyclically inside (i, j] */
		if (((j - home) & t->mask) >= ((j - i) & t->mask)) {
			t->index[i] = s;
			i = j;
		}
	}
	t->index[i] = 0;

	__u32 last = --t->count;
	if (e == last)
		return;
	const __u8 *lk = t->keys + (__u64)last * t->key_size;
	__u32 tag = (__u32)fg_native_hash(lk, t->key_size);
	__u32 k = tag & t->mask;
	while ((__u32)t->index[k] != last + 1)
		k = (k + 1) & t->mask;
	t->index[k] = ((__u64)tag << 32) | (e + 1);
	__builtin_memcpy(t->keys + (__u64)e * t->key_size, lk, t->key_size);
	__builtin_memcpy(t->values + (__u64)e * t->value_stride, t->values + (__u64)last * t->value_stride, t->value_stride);
}

static long fg_native_htab_delete(struct fg_native_htab *t, const void *key, void *value_out, __u32 value_size)
{
	__u32 tag = (__u32)fg_native_hash(key, t->key_size);
	__u32 i = fg_native_htab_slot(t, key, t->key_size, tag);
	__u64 s = t->index[i];
	if (!s)
		return -ENOENT;
	if (value_out)
		__builtin_memcpy(value_out, t->values + (__u64)((__u32)s - 1) * t->value_stride, value_size);
	fg_native_htab_remove_slot(t, i);
	return 0;
}

static void fg_native_htab_clear(struct fg_native_htab *t)
{
	__builtin_memset(t->index, 0, ((__u64)t->mask + 1) * sizeof(__u64));
	t->count = 0;
}

static void fg_native_htab_free(struct fg_native_htab *t)
{
	free(t->index);
	free(t->keys);
	free(t->values);
	t->index = 0;
	t->keys = t->values = 0;
	t->count = 0;
}

/* The storage of the map declared at `def`, created on first use; 0 when it cannot be. */
static __attribute__((noinline)) struct fg_native_map *fg_native_map_create(const void *def, __u32 type, __u32 key_size,
									     __u32 value_size, __u32 max_entries)
{
	for (__u32 i = 0; i < fg_native_map_count; i++)
		if (fg_native_maps[i].def == def)
			return &fg_native_maps[i];
	if (fg_native_map_count >= FG_NATIVE_MAX_MAPS) {
		fg_native_failure = -E2BIG;
		return 0;
	}
	struct fg_native_map *m = &fg_native_maps[fg_native_map_count];
	__builtin_memset(m, 0, sizeof(*m));
	m->def = def;
	m->type = type;
	m->key_size = key_size;
	m->value_size = value_size;
	m->max_entries = max_entries;
	m->value_stride = (value_size + 7) & ~7u;
	switch (type) {
	case BPF_MAP_TYPE_ARRAY:
	case BPF_MAP_TYPE_PERCPU_ARRAY: /* one CPU */
		m->array = calloc(max_entries ? max_entries : 1, m->value_stride);
		if (!m->array) {
			fg_native_failure = -ENOMEM;
			return 0;
		}
		break;
	case BPF_MAP_TYPE_HASH:
		if (fg_native_htab_init(&m->htab, key_size, value_size, max_entries)) {
			fg_native_failure = -ENOMEM;
			return 0;
		}
		break;
	default:
		fg_native_failure = -EINVAL;
		fg_native_failed_type = type;
		return 0;
	}
	fg_native_map_count++;
	return m;
}

static __always_inline struct fg_native_map *fg_native_map_of(const void *def, __u32 type, __u32 key_size,
							       __u32 value_size, __u32 max_entries)
{
	for (__u32 i = 0; i < fg_native_map_count; i++)
		if (fg_native_maps[i].def == def)
			return &fg_native_maps[i];
	return fg_native_map_create(def, type, key_size, value_size, max_entries);
}

static __always_inline void *fg_native_map_lookup(struct fg_native_map *m, const void *key, __u32 key_size)
{
	if (!m)
		return 0;
	if (m->array) {
		__u32 k;
		__builtin_memcpy(&k, key, sizeof(k));
		return k < m->max_entries ? m->array + (__u64)k * m->value_stride : 0;
	}
	return fg_native_htab_lookup(&m->htab, key, key_size);
}

static __always_inline long fg_native_map_update(struct fg_native_map *m, const void *key, const void *value,
						  __u32 key_size, __u32 value_size, __u64 flags)
{
	if (!m)
		return -ENOMEM;
	if (m->array) {
		__u32 k;
		__builtin_memcpy(&k, key, sizeof(k));
		if (flags > BPF_EXIST)
			return -EINVAL;
		if (k >= m->max_entries)
			return -E2BIG;
		if (flags == BPF_NOEXIST)
			return -EEXIST; /* array elements always exist */
		__builtin_memcpy(m->array + (__u64)k * m->value_stride, value, value_size);
		return 0;
	}
	return fg_native_htab_update(&m->htab, key, value, key_size, value_size, flags);
}

static __always_inline long fg_native_map_delete(struct fg_native_map *m, const void *key)
{
	if (!m)
		return -ENOMEM;
	if (m->array)
		return -EINVAL; /* array elements cannot be deleted */
	return fg_native_htab_delete(&m->htab, key, 0, 0);
}

static void fg_native_maps_free(void)
{
	for (__u32 i = 0; i < fg_native_map_count; i++) {
		free(fg_native_maps[i].array);
		fg_native_maps[i].array = 0;
		if (fg_native_maps[i].type == BPF_MAP_TYPE_HASH)
			fg_native_htab_free(&fg_native_maps[i].htab);
	}
	fg_native_map_count = 0;
}

/* (the parameters are not called key/value: the macros read the map's members of those names) */
#define bpf_map_lookup_elem(map_, key_) \
	((void *)fg_native_map_lookup(FG_NATIVE_MAP(map_), (key_), sizeof(*(map_)->key)))
#define bpf_map_update_elem(map_, key_, value_, flags_) \
	fg_native_map_update(FG_NATIVE_MAP(map_), (key_), (value_), sizeof(*(map_)->key), sizeof(*(map_)->value), (flags_))
#define bpf_map_delete_elem(map_, key_) fg_native_map_delete(FG_NATIVE_MAP(map_), (key_))

/* A tail call runs the program in the slot and ends the caller: natively, a call and a return.
 * (flowgen's dispatch functions return void and their callers return right after them, as a
 * program ends after a successful tail call.) An empty or out-of-range slot falls through, as
 * a failed tail call does. */
#define bpf_tail_call(ctx, map, index) do { \
	__u32 _fg_slot = (index); \
	if (_fg_slot < FG_NATIVE_ENTRIES(map) && (map)->values[_fg_slot]) { \
		((int (*)(struct fg_native_skb *))(map)->values[_fg_slot])(ctx); \
		return; \
	} \
} while (0)

/* --- time: replay time is the capture time, whichever clock a module asks for --- */
#define bpf_ktime_get_ns() (fg_native_now)
#define bpf_ktime_get_coarse_ns() (fg_native_now)
#define bpf_ktime_get_boot_ns() (fg_native_now)
/* a tick count of the same clock (4 ms ticks); replay reads skb->tstamp before it matters */
#define bpf_jiffies64() (fg_native_now / 4000000ULL)

/* --- packet access: the whole frame is linear --- */
static __always_inline long fg_native_skb_load_bytes(const struct fg_native_skb *skb, __u32 offset, void *to, __u32 len)
{
	if (offset > 0x7fffffff || len == 0 || (__u64)offset + len > skb->len) {
		__builtin_memset(to, 0, len);
		return -EFAULT;
	}
	__builtin_memcpy(to, (const __u8 *)skb->data + offset, len);
	return 0;
}
#define bpf_skb_load_bytes(skb, offset, to, len) fg_native_skb_load_bytes((skb), (offset), (to), (len))
#define bpf_skb_pull_data(skb, len) ((void)(skb), (void)(len), 0L)

/* --- bpf_loop: a plain loop; the callback's non-zero return stops it --- */
static __always_inline long fg_native_loop(__u32 nr_loops, long (*callback)(__u64 index, void *ctx), void *ctx, __u64 flags)
{
	if (flags)
		return -EINVAL;
	if (nr_loops > (1u << 23))
		return -E2BIG;
	for (__u32 i = 0; i < nr_loops; i++)
		if (callback(i, ctx))
			return i + 1;
	return nr_loops;
}
#define bpf_loop(nr_loops, callback, ctx, flags) \
	fg_native_loop((nr_loops), (long (*)(__u64, void *))(callback), (ctx), (flags))

/* --- misc helpers a module may reach for: one CPU, a fixed random sequence --- */
static __u64 fg_native_prandom = 0x853c49e6748fea9bULL;
static __always_inline __u32 fg_native_prandom_u32(void)
{
	fg_native_prandom = fg_native_prandom * 6364136223846793005ULL + 1442695040888963407ULL;
	return (__u32)(fg_native_prandom >> 32);
}
#define bpf_get_prandom_u32() fg_native_prandom_u32()
#define bpf_get_smp_processor_id() 0u

#endif /* FLOWGEN_NATIVE_H */
