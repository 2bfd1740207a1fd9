// Shim over libbpf for Swift: C macros (LIBBPF_OPTS) and varargs become static inline functions.
#ifndef FLOWGEN_CLIBBPF_SHIM_H
#define FLOWGEN_CLIBBPF_SHIM_H

#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <net/if.h>
#include <time.h>
#include <errno.h>
#include <string.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/resource.h>
#include <spawn.h>

// glibc declares these only under _GNU_SOURCE, which Swift's Glibc module is built without;
// the launcher (ChildProcess) needs them to start clang in its folder with no inherited descriptors
// and pipes that are close-on-exec from the start.
extern int posix_spawn_file_actions_addchdir_np(posix_spawn_file_actions_t *__restrict actions, const char *__restrict path);
extern int posix_spawn_file_actions_addclosefrom_np(posix_spawn_file_actions_t *actions, int from);
extern int pipe2(int pipefd[2], int flags);

/// Opens an object file with a private verifier-log buffer (libbpf >= 1.0 names kernel_log_*).
static inline struct bpf_object *fg_object_open(const char *path, char *log_buf, size_t log_size) {
    LIBBPF_OPTS(bpf_object_open_opts, opts,
        .kernel_log_buf = log_buf,
        .kernel_log_size = log_size,
        .kernel_log_level = 0);
    return bpf_object__open_file(path, &opts);
}

/// Creates (or finds) the clsact qdisc on an interface; returns 0, -EEXIST or a negative errno.
static inline int fg_tc_hook_create(int ifindex) {
    LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);
    return bpf_tc_hook_create(&hook);
}

/// Destroys the clsact qdisc (only called when flowgen created it and nothing else is attached).
static inline int fg_tc_hook_destroy(int ifindex) {
    LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);
    return bpf_tc_hook_destroy(&hook);
}

/// Attaches a program fd at ingress (egress=0) or egress (egress=1) with a fixed handle and priority.
static inline int fg_tc_attach(int ifindex, int egress, int prog_fd, unsigned handle, unsigned priority) {
    LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
        .attach_point = egress ? BPF_TC_EGRESS : BPF_TC_INGRESS);
    LIBBPF_OPTS(bpf_tc_opts, opts, .handle = handle, .priority = priority, .prog_fd = prog_fd);
    return bpf_tc_attach(&hook, &opts);
}

/// Detaches exactly the filter with this handle and priority.
static inline int fg_tc_detach(int ifindex, int egress, unsigned handle, unsigned priority) {
    LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
        .attach_point = egress ? BPF_TC_EGRESS : BPF_TC_INGRESS);
    LIBBPF_OPTS(bpf_tc_opts, opts, .handle = handle, .priority = priority);
    return bpf_tc_detach(&hook, &opts);
}

/// Returns the program id attached with this handle/priority, 0 when none, or a negative errno.
static inline int fg_tc_query(int ifindex, int egress, unsigned handle, unsigned priority, unsigned *prog_id) {
    LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
        .attach_point = egress ? BPF_TC_EGRESS : BPF_TC_INGRESS);
    LIBBPF_OPTS(bpf_tc_opts, opts, .handle = handle, .priority = priority);
    int err = bpf_tc_query(&hook, &opts);
    if (err == 0 && prog_id) *prog_id = opts.prog_id;
    return err;
}

/// Runs a program once per packet (BPF_PROG_TEST_RUN); ctx may be NULL. Returns 0 or -errno.
static inline int fg_test_run(int prog_fd, const void *data, unsigned size, void *data_out, unsigned out_size,
                              void *ctx, unsigned ctx_size, unsigned repeat,
                              unsigned *retval, unsigned *duration) {
    LIBBPF_OPTS(bpf_test_run_opts, opts,
        .data_in = data, .data_size_in = size,
        .data_out = data_out, .data_size_out = out_size,
        .ctx_in = ctx, .ctx_size_in = ctx ? ctx_size : 0,
        .repeat = repeat);
    int err = bpf_prog_test_run_opts(prog_fd, &opts);
    if (retval) *retval = opts.retval;
    if (duration) *duration = opts.duration;
    return err;
}

/// Batch lookup (optionally deleting) of a hash map. `in_batch` NULL starts at the beginning.
static inline int fg_map_lookup_batch(int fd, void *in_batch, void *out_batch, void *keys, void *values,
                                      unsigned *count, int and_delete) {
    LIBBPF_OPTS(bpf_map_batch_opts, opts);
    if (and_delete)
        return bpf_map_lookup_and_delete_batch(fd, in_batch, out_batch, keys, values, count, &opts);
    return bpf_map_lookup_batch(fd, in_batch, out_batch, keys, values, count, &opts);
}

/// Reads the program info (verified_insns and more) of a program fd.
static inline int fg_prog_info(int prog_fd, struct bpf_prog_info *info) {
    __u32 len = sizeof(*info);
    memset(info, 0, len);
    return bpf_obj_get_info_by_fd(prog_fd, info, &len);
}

/// Silences libbpf's default stderr printer (flowgen reports errors itself), or restores it.
static int fg_libbpf_quiet_print(enum libbpf_print_level level, const char *fmt, va_list args) {
    (void)level; (void)fmt; (void)args;
    return 0;
}
static int fg_libbpf_debug_print(enum libbpf_print_level level, const char *fmt, va_list args) {
    (void)level;
    return vfprintf(stderr, fmt, args);
}
/// Chooses libbpf's own messages: 0 quiet, 1 everything to stderr.
static inline void fg_libbpf_set_verbose(int verbose) {
    libbpf_set_print(verbose ? fg_libbpf_debug_print : fg_libbpf_quiet_print);
}

/// Kernel monotonic and realtime clocks in ns, read back to back (for monotonic->epoch conversion).
static inline void fg_clock_pair(long long *mono, long long *real) {
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    clock_gettime(CLOCK_REALTIME, &b);
    *mono = (long long)a.tv_sec * 1000000000LL + a.tv_nsec;
    *real = (long long)b.tv_sec * 1000000000LL + b.tv_nsec;
}

/* ---- Added for FlowgenKernel (loader, tc attachment listing, namespaces, test runs) ---- */
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <stdlib.h>

/// Raises RLIMIT_MEMLOCK to infinity (needed before kernel 5.11 memcg accounting; harmless after). 0 or -errno.
static inline int fg_raise_memlock(void) {
    struct rlimit limit = { RLIM_INFINITY, RLIM_INFINITY };
    return setrlimit(RLIMIT_MEMLOCK, &limit) ? -errno : 0;
}

/// Moves the calling thread into the network namespace behind fd (setns is hidden from Swift's Glibc). 0 or -errno.
static inline int fg_setns_net(int fd) {
    return syscall(SYS_setns, fd, 0x40000000 /* CLONE_NEWNET */) ? -errno : 0;
}

/// Like fg_test_run, but also returns the output sizes and the context the program left (ctx_out may be NULL).
static inline int fg_test_run_ex(int prog_fd, const void *data, unsigned size, void *data_out, unsigned *out_size,
                                 const void *ctx, unsigned ctx_size, void *ctx_out, unsigned repeat,
                                 unsigned *retval, unsigned *duration) {
    LIBBPF_OPTS(bpf_test_run_opts, opts,
        .data_in = data, .data_size_in = size,
        .data_out = data_out, .data_size_out = data_out ? *out_size : 0,
        .ctx_in = ctx, .ctx_size_in = ctx ? ctx_size : 0,
        .ctx_out = ctx_out, .ctx_size_out = ctx_out ? ctx_size : 0,
        .repeat = repeat);
    int err = bpf_prog_test_run_opts(prog_fd, &opts);
    if (retval) *retval = opts.retval;
    if (duration) *duration = opts.duration;
    if (out_size) *out_size = opts.data_size_out;
    return err;
}

/// One filter found by fg_tc_list.
struct fg_tc_filter {
    unsigned handle;
    unsigned priority;
    unsigned protocol;  /* host byte order, e.g. 3 = ETH_P_ALL */
    unsigned prog_id;   /* 0 when not a bpf filter */
    char kind[16];      /* "bpf", "u32", ... */
    char name[64];      /* TCA_BPF_NAME, e.g. "obj.o:[tc]" */
};

/// Lists the filters on the clsact ingress (egress=0) or egress hook of ifindex with an RTM_GETTFILTER dump
/// (libbpf's bpf_tc_query needs a handle and priority, so it cannot tell whether a hook is empty).
/// Stores up to max entries and returns how many exist (0 without a clsact qdisc), or -errno.
static inline int fg_tc_list(int ifindex, int egress, struct fg_tc_filter *out, int max) {
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0) return -errno;
    struct { struct nlmsghdr nh; struct tcmsg tc; } req;
    memset(&req, 0, sizeof(req));
    req.nh.nlmsg_len = NLMSG_LENGTH(sizeof(struct tcmsg));
    req.nh.nlmsg_type = RTM_GETTFILTER;
    req.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    req.nh.nlmsg_seq = 1;
    req.tc.tcm_family = AF_UNSPEC;
    req.tc.tcm_ifindex = ifindex;
    req.tc.tcm_parent = TC_H_MAKE(TC_H_CLSACT, egress ? TC_H_MIN_EGRESS : TC_H_MIN_INGRESS);
    struct sockaddr_nl kernel;
    memset(&kernel, 0, sizeof(kernel));
    kernel.nl_family = AF_NETLINK;
    if (sendto(fd, &req, req.nh.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    const size_t buffer_size = 65536;
    char *buffer = malloc(buffer_size);
    if (!buffer) { close(fd); return -ENOMEM; }
    int count = 0, result = 0, done = 0;
    while (!done) {
        ssize_t received = recv(fd, buffer, buffer_size, 0);
        if (received < 0) {
            if (errno == EINTR) continue;
            result = -errno;
            break;
        }
        if (received == 0) break;
        int remaining = (int)received;
        for (struct nlmsghdr *nh = (struct nlmsghdr *)buffer; NLMSG_OK(nh, remaining); nh = NLMSG_NEXT(nh, remaining)) {
            if (nh->nlmsg_type == NLMSG_DONE) { done = 1; break; }
            if (nh->nlmsg_type == NLMSG_ERROR) {
                struct nlmsgerr *error = (struct nlmsgerr *)NLMSG_DATA(nh);
                result = error->error;
                done = 1;
                break;
            }
            if (nh->nlmsg_type != RTM_NEWTFILTER) continue;
            struct tcmsg *tc = (struct tcmsg *)NLMSG_DATA(nh);
            /* The dump also reports each priority's classifier head with handle 0: not a filter. */
            if (tc->tcm_handle == 0) continue;
            struct fg_tc_filter entry;
            memset(&entry, 0, sizeof(entry));
            entry.handle = tc->tcm_handle;
            entry.priority = TC_H_MAJ(tc->tcm_info) >> 16;
            entry.protocol = ntohs((unsigned short)TC_H_MIN(tc->tcm_info));
            int attributes_length = (int)nh->nlmsg_len - (int)NLMSG_LENGTH(sizeof(struct tcmsg));
            for (struct rtattr *attribute = (struct rtattr *)((char *)tc + NLMSG_ALIGN(sizeof(struct tcmsg)));
                 RTA_OK(attribute, attributes_length); attribute = RTA_NEXT(attribute, attributes_length)) {
                if (attribute->rta_type == TCA_KIND) {
                    strncpy(entry.kind, (const char *)RTA_DATA(attribute), sizeof(entry.kind) - 1);
                } else if (attribute->rta_type == TCA_OPTIONS) {
                    int options_length = (int)RTA_PAYLOAD(attribute);
                    for (struct rtattr *option = (struct rtattr *)RTA_DATA(attribute); RTA_OK(option, options_length);
                         option = RTA_NEXT(option, options_length)) {
                        if (option->rta_type == TCA_BPF_ID && RTA_PAYLOAD(option) >= 4)
                            memcpy(&entry.prog_id, RTA_DATA(option), 4);
                        else if (option->rta_type == TCA_BPF_NAME)
                            strncpy(entry.name, (const char *)RTA_DATA(option), sizeof(entry.name) - 1);
                    }
                }
            }
            if (count < max && out) out[count] = entry;
            count++;
        }
    }
    free(buffer);
    close(fd);
    return result < 0 ? result : count;
}


#include <sched.h>
/// Pins the calling thread to one CPU (tests and benchmarks that race CPUs on one flow); 0 or -errno.
static inline int fg_pin_thread_to_cpu(int cpu) {
    cpu_set_t set;
    /* CPU_ZERO/CPU_SET need _GNU_SOURCE before the first libc header; set the bit by hand. */
    memset(&set, 0, sizeof(set));
    ((unsigned long *)&set)[cpu / (8 * sizeof(unsigned long))] |= 1UL << (cpu % (8 * sizeof(unsigned long)));
    return sched_setaffinity(0, sizeof(set), &set) ? -errno : 0;
}

#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
/// The ARPHRD_* link type of an interface in the calling thread's network namespace (a socket is
/// of the namespace its creator was in, unlike /sys/class/net, which follows the sysfs mount);
/// a negative errno when it cannot be read.
static inline int fg_link_type(const char *ifname) {
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -errno;
    struct ifreq req;
    memset(&req, 0, sizeof(req));
    strncpy(req.ifr_name, ifname, IFNAMSIZ - 1);
    int rc = ioctl(fd, SIOCGIFHWADDR, &req) < 0 ? -errno : req.ifr_hwaddr.sa_family;
    close(fd);
    return rc;
}

/// Marks (l3 = 1) or unmarks the device `ifindex` in a monitor's fg_links bitmap (one bit per
/// ifindex below 64 * the array's entries, in 64-bit words) or, above, in fg_links_far; 0 or -errno.
static inline int fg_links_mark(int words_fd, unsigned words, int far_fd, unsigned ifindex, int l3) {
    if (ifindex < 64 * words) {
        unsigned key = ifindex / 64;
        unsigned long long bits = 0;
        if (bpf_map_lookup_elem(words_fd, &key, &bits)) return -errno;
        if (l3) bits |= 1ULL << (ifindex % 64);
        else bits &= ~(1ULL << (ifindex % 64));
        return bpf_map_update_elem(words_fd, &key, &bits, BPF_ANY) ? -errno : 0;
    }
    if (!l3) return bpf_map_delete_elem(far_fd, &ifindex) && errno != ENOENT ? -errno : 0;
    unsigned char one = 1;
    return bpf_map_update_elem(far_fd, &ifindex, &one, BPF_ANY) ? -errno : 0;
}

#endif

/// An array-of-maps with one slot and the array map that fills it: updating the slot returns only
/// after an RCU grace period (the kernel waits for every running program, so that userland knows
/// none still sees the old inner map), which the kernel collector pass uses as its barrier.
/// Returns the outer map's fd and puts the inner's in *inner_fd, or -errno.
static inline int fg_barrier_create(int *inner_fd) {
    int inner = bpf_map_create(BPF_MAP_TYPE_ARRAY, "fg_barrier_in", 4, 4, 1, NULL);
    if (inner < 0) return inner;
    LIBBPF_OPTS(bpf_map_create_opts, opts, .inner_map_fd = inner);
    int outer = bpf_map_create(BPF_MAP_TYPE_ARRAY_OF_MAPS, "fg_barrier", 4, 4, 1, &opts);
    if (outer < 0) { close(inner); return outer; }
    *inner_fd = inner;
    return outer;
}

/// Waits for an RCU grace period (see fg_barrier_create); 0 or -errno.
static inline int fg_barrier_wait(int outer_fd, int inner_fd) {
    unsigned zero = 0;
    return bpf_map_update_elem(outer_fd, &zero, &inner_fd, BPF_ANY);
}

/// Whether the kernel has what the kernel collector pass needs: BPF ring buffers (5.8) and
/// bpf_for_each_map_elem for TC programs (5.13).
static inline int fg_kernel_pass_supported(void) {
    return libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, NULL) == 1
        && libbpf_probe_bpf_helper(BPF_PROG_TYPE_SCHED_CLS, BPF_FUNC_for_each_map_elem, NULL) == 1;
}

/// A 64-bit load with acquire order (a BPF ring buffer's producer position).
static inline unsigned long long fg_load_acquire_u64(const void *p) {
    return __atomic_load_n((const unsigned long long *)p, __ATOMIC_ACQUIRE);
}

/// A 32-bit load with acquire order (a BPF ring buffer record's header).
static inline unsigned fg_load_acquire_u32(const void *p) {
    return __atomic_load_n((const unsigned *)p, __ATOMIC_ACQUIRE);
}

/// A 64-bit store with release order (a BPF ring buffer's consumer position).
static inline void fg_store_release_u64(void *p, unsigned long long v) {
    __atomic_store_n((unsigned long long *)p, v, __ATOMIC_RELEASE);
}
