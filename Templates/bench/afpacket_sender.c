/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* flowgen bench's traffic source: sends prebuilt Ethernet frames out of one
 * interface through an AF_PACKET socket, round robin, as fast as it can, for
 * a fixed time, pinned to one CPU.
 *
 *   afpacket_sender IFNAME FRAMES_FILE SECONDS CPU
 *
 * FRAMES_FILE: u32 count, u32 frame length (host order), then count frames.
 * Prints "sent N frames in S seconds" on stdout.
 *
 * Why this shape: tcpreplay's own per-packet cost hides the program's; this
 * loop hands the kernel 64 frames per sendmmsg() and bypasses the qdisc, so
 * the sender costs little beyond the stack itself. It does not use
 * PACKET_TX_RING: ring frames reach the stack as page fragments with only the
 * Ethernet header linear, which no NIC driver produces and which would make
 * every TC program pay bpf_skb_pull_data. sendmmsg() builds linear skbs.
 * On a veth pair the receiving side processes each frame in the sender's own
 * softirq context, so the rate measures the whole path, TC program included. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: %s IFNAME FRAMES_FILE SECONDS CPU\n", argv[0]);
		return 2;
	}
	const char *ifname = argv[1];
	double seconds = atof(argv[3]);
	int cpu = atoi(argv[4]);

	FILE *f = fopen(argv[2], "rb");
	uint32_t header[2];
	if (!f || fread(header, sizeof(header), 1, f) != 1) {
		fprintf(stderr, "cannot read %s\n", argv[2]);
		return 1;
	}
	uint32_t count = header[0], length = header[1];
	if (count == 0 || length < ETH_HLEN || length > 9000) {
		fprintf(stderr, "bad frames file: %u frames of %u bytes\n", count, length);
		return 1;
	}
	unsigned char *frames = malloc((size_t)count * length);
	if (!frames || fread(frames, length, count, f) != count) {
		fprintf(stderr, "short frames file %s\n", argv[2]);
		return 1;
	}
	fclose(f);

	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof(set), &set) != 0)
		perror("sched_setaffinity (continuing unpinned)");

	/* Protocol 0: a send-only socket, so the sender never receives its own frames. */
	int fd = socket(AF_PACKET, SOCK_RAW, 0);
	if (fd < 0) {
		perror("socket(AF_PACKET)");
		return 1;
	}
	int one = 1;
	if (setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one)) != 0)
		perror("PACKET_QDISC_BYPASS (continuing through the qdisc)");
	struct sockaddr_ll addr = {
		.sll_family = AF_PACKET,
		.sll_ifindex = (int)if_nametoindex(ifname),
		.sll_halen = ETH_ALEN,
	};
	if (addr.sll_ifindex == 0) {
		fprintf(stderr, "no interface %s\n", ifname);
		return 1;
	}
	memcpy(addr.sll_addr, frames, ETH_ALEN);

	struct iovec iov[BATCH];
	struct mmsghdr msgs[BATCH];
	memset(msgs, 0, sizeof(msgs));
	for (int i = 0; i < BATCH; i++) {
		iov[i].iov_len = length;
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
		msgs[i].msg_hdr.msg_name = &addr;
		msgs[i].msg_hdr.msg_namelen = sizeof(addr);
	}

	uint64_t sent = 0, next = 0;
	unsigned long errors = 0;
	double start = now_seconds(), end = start + seconds, t = start;
	while (t < end) {
		for (int i = 0; i < BATCH; i++) {
			iov[i].iov_base = frames + (size_t)((next + i) % count) * length;
		}
		int n = sendmmsg(fd, msgs, BATCH, 0);
		if (n > 0) {
			sent += (uint64_t)n;
			next += (uint64_t)n;
		} else if (n < 0 && errno != ENOBUFS && errno != EAGAIN && errno != EINTR) {
			if (++errors > 1000) {
				perror("sendmmsg");
				return 1;
			}
		}
		t = now_seconds();
	}
	printf("sent %llu frames in %.6f seconds\n", (unsigned long long)sent, t - start);
	return 0;
}
