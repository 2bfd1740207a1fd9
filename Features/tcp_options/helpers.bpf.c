/* The TCP option walk as a bpf_loop callback, one byte position per step: the
 * verifier checks one step instead of every possible option sequence (an
 * open-coded walk over 40 bytes does not fit its 1M-instruction budget). */
struct tcpopt_walk {
	__u8 opt[40];
	__u32 optlen;
	__u32 next;        /* where the next option starts */
	__u32 count;
	__u32 unknown;
	__u32 sack_blocks;
	__u32 seen;        /* 1 MSS, 2 window scale, 4 SACK permitted, 8 SACK, 16 timestamps */
	__u32 mss;
	__u32 wscale;
	__u32 tsval;
	__u32 tsecr;
};

static __always_inline __u32 tcpopt_u32(const __u8 *b)
{
	return ((__u32)b[0] << 24) | ((__u32)b[1] << 16) | ((__u32)b[2] << 8) | b[3];
}

static long tcpopt_step(__u64 index, void *ctx)
{
	struct tcpopt_walk *w = ctx;
	__u32 p = index;
	if (p >= 40 || p >= w->optlen)
		return 1;
	if (p != w->next)
		return 0;
	__u8 kind = w->opt[p];
	if (kind == 0)
		return 1;                  /* end of option list */
	if (kind == 1) {
		w->next = p + 1;           /* NOP */
		return 0;
	}
	if (p + 1 >= w->optlen || p >= 39)
		return 1;
	__u32 len = w->opt[p + 1];
	if (len < 2 || p + len > w->optlen)
		return 1;                  /* malformed: stop, the segment still counts */
	w->count++;
	if (kind == 2 && len == 4 && p <= 36) {
		w->mss = ((__u32)w->opt[p + 2] << 8) | w->opt[p + 3];
		w->seen |= 1;
	} else if (kind == 3 && len == 3 && p <= 37) {
		w->wscale = w->opt[p + 2];
		w->seen |= 2;
	} else if (kind == 4) {
		w->seen |= 4;
	} else if (kind == 5) {
		w->sack_blocks += (len - 2) / 8;
		w->seen |= 8;
	} else if (kind == 8 && len == 10 && p <= 30) {
		w->tsval = tcpopt_u32(&w->opt[p + 2]);
		w->tsecr = tcpopt_u32(&w->opt[p + 6]);
		w->seen |= 16;
	} else {
		w->unknown++;
	}
	w->next = p + len;
	return 0;
}
