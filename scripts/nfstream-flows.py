#!/usr/bin/env python3
"""Runs nfstream over a capture and prints one JSON object per flow: the reference that the
`nfstream` feature set is compared with. Run it with the venv's python (scripts/nfstream-venv.sh).

Usage: nfstream-flows.py FILE [--idle S] [--active S] [--splt N] [--count]
(--count prints only the number of flows: what the replay benchmark times, without JSON)
Settings: accounting_mode=1 (IP-layer sizes), statistical_analysis=True, n_dissections=0, one meter
(so flows leave in a fixed order), the idle and active timeouts in seconds as flowgen's."""
import argparse
import json
import sys

from nfstream import NFStreamer

COLUMNS = ["src_ip", "dst_ip", "src_port", "dst_port", "protocol", "ip_version",
           "bidirectional_first_seen_ms", "bidirectional_packets", "src2dst_packets", "dst2src_packets",
           "bidirectional_bytes", "src2dst_bytes", "dst2src_bytes"]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("file")
    p.add_argument("--idle", type=int, default=120)
    p.add_argument("--active", type=int, default=1800)
    p.add_argument("--splt", type=int, default=0)
    p.add_argument("--count", action="store_true")
    a = p.parse_args()
    streamer = NFStreamer(source=a.file, decode_tunnels=False, bpf_filter=None, promiscuous_mode=True,
                          snapshot_length=65535, idle_timeout=a.idle, active_timeout=a.active,
                          accounting_mode=1, udps=None, n_dissections=0, statistical_analysis=True,
                          splt_analysis=a.splt, n_meters=1, performance_report=0)
    if a.count:
        print(sum(1 for _ in streamer))
        return
    for flow in streamer:
        row = {k: getattr(flow, k) for k in flow.keys() if k in COLUMNS or k.endswith(("_ps", "_piat_ms", "_packets"))
               or k.startswith("splt_")}
        json.dump(row, sys.stdout, separators=(",", ":"))
        sys.stdout.write("\n")


if __name__ == "__main__":
    main()
