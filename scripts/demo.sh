#!/usr/bin/env bash
# Quick start: installs what is missing, builds flowgen, and monitors a throwaway veth pair between
# two network namespaces while ping, an HTTP fetch and a UDP exchange run across it. Prints the
# exported biflows, then removes everything it created. Run as root.
#   scripts/demo.sh [--format json|csv|text] [--features LIST]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
swift build -q 2>&1 | grep -v '^$' || true
bin="$(swift build --show-bin-path)/flowgen"

a="fgdemo-a-$$"; b="fgdemo-b-$$"
cleanup() { ip netns del "$a" 2>/dev/null || true; ip netns del "$b" 2>/dev/null || true; }
trap cleanup EXIT
ip netns add "$a"; ip netns add "$b"
ip link add fgd0 netns "$a" type veth peer name fgd1 netns "$b"
ip -n "$a" addr add 198.18.0.1/24 dev fgd0; ip -n "$b" addr add 198.18.0.2/24 dev fgd1
ip -n "$a" addr add fd00:f10e::1/64 dev fgd0 nodad; ip -n "$b" addr add fd00:f10e::2/64 dev fgd1 nodad
for ns in "$a" "$b"; do ip -n "$ns" link set lo up; done
ip -n "$a" link set fgd0 up; ip -n "$b" link set fgd1 up

ip netns exec "$b" python3 -m http.server --bind 198.18.0.2 8080 >/dev/null 2>&1 &
server=$!
ip netns exec "$a" "$bin" run -i fgd0 --features tcp,icmp --interval 1 --duration 6 --format text "$@" &
monitor=$!
sleep 1.5
ip netns exec "$a" ping -c 3 -i 0.2 198.18.0.2 >/dev/null
ip netns exec "$a" ping -6 -c 2 -i 0.2 fd00:f10e::2 >/dev/null
ip netns exec "$a" curl -s -o /dev/null http://198.18.0.2:8080/
ip netns exec "$a" python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); [s.sendto(b"hello", ("198.18.0.2", 5353)) for _ in range(4)]'
wait "$monitor"
kill "$server" 2>/dev/null || true
