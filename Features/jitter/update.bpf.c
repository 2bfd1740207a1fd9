/* Updated without a lock: two CPUs racing on one direction can each use the other's IAT once
 * (their packets arrive nanoseconds apart), the sum itself is an atomic add. */
__u64 prev_ns = rec->jitter_last_ns;
FG_SET(jitter_last_ns, pkt->now);
if (prev_ns) {
	__u64 iat = pkt->now > prev_ns ? pkt->now - prev_ns : 0;
	__u64 prev_iat = rec->jitter_iat_ns;
	FG_SET(jitter_iat_ns, iat);
	if (prev_iat != 0xffffffffffffffffULL && iat != prev_iat) /* no locked add for nothing */
		FG_SET(jitter, iat > prev_iat ? iat - prev_iat : prev_iat - iat);
}
