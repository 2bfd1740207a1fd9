#!/usr/bin/env bash
# Installs what flowgen needs on Debian 12 (run as root): libbpf/libelf headers for the loader,
# iproute2/ping/curl/python3 for the end-to-end tests, bpftool (a second libbpf loader the tests load the object with), binutils/libc6-dev to link the native replay
# engine, groff/man-db (the install test reads the man page scripts/install.sh installs), Debian's
# clickhouse-server (18.16) that the ClickHouse tests start on their own, python3-prometheus-client
# (the reference scraper parser the metrics page is checked with), and a Python virtual
# environment in .build/venv with chdb (a current ClickHouse engine, for the modern types), and
# checks for a clang with the BPF target. It also sets up nfstream 6.6.0 (from PyPI, in
# .build/nfstream-venv) that the statistical features are tested against (scripts/nfstream-venv.sh).
# With --bench it also installs the replay benchmark's peers (softflowd, argus).
set -euo pipefail

need=()
want() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed" || need+=("$1"); }
for p in libbpf-dev libelf-dev zlib1g-dev pkg-config iproute2 iputils-ping curl python3 tcpdump linux-libc-dev nfdump tshark binutils libc6-dev bpftool groff-base man-db clickhouse-server python3-venv python3-prometheus-client; do want "$p"; done
if [ "${1:-}" = "--bench" ]; then
  for p in softflowd argus-server argus-client; do want "$p"; done
fi

if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing packages: ${need[*]}; run this script as root (sudo $0)" >&2
    exit 1
  fi
  echo "setup: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# --pin keeps programs and maps in the BPF filesystem; systemd mounts it on most systems, not on all
if [ "$(id -u)" -eq 0 ] && ! grep -q " /sys/fs/bpf bpf " /proc/self/mounts; then
  echo "setup: mounting the BPF filesystem at /sys/fs/bpf" >&2
  mount -t bpf bpf /sys/fs/bpf
fi

# chdb runs a current ClickHouse in-process: the tests check the modern types (IPv6, DateTime64) with it
venv="$(cd "$(dirname "$0")/.." && pwd)/.build/venv"
if ! "$venv/bin/python3" -c 'import chdb' 2>/dev/null; then
  echo "setup: installing chdb into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q chdb==4.4.0   # the version the modern-type tests were written against
fi

clang_bin="${FLOWGEN_CLANG:-$(command -v clang || true)}"
if [ -z "$clang_bin" ] || ! "$clang_bin" -print-targets 2>/dev/null | grep -q '\bbpf\b'; then
  echo "setup: no clang with the BPF target found: install clang (apt-get install clang) or set FLOWGEN_CLANG" >&2
  exit 1
fi
if ! command -v swift >/dev/null; then
  echo "setup: swift not found on PATH: install a Swift 6 toolchain" >&2
  exit 1
fi

# the reference for --features nfstream (NfstreamEqualityTests); the tests also run this themselves
"$(dirname "$0")/nfstream-venv.sh" >/dev/null
