#!/usr/bin/env bash
# Quick start: installs what is missing, builds flowgen, and monitors a throwaway veth pair between
# two network namespaces while ping, ping -6, an HTTP fetch and a UDP echo exchange run across it.
# Says what it does, prints the exported biflows and what their columns mean, then removes
# everything it created. Run as root.
#   scripts/demo.sh [--format json|csv|text] [--features LIST]    (options of `flowgen run`)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# quiet unless the compiler has something to say; a failed build stops the demo
if ! built="$(swift build -q --product flowgen 2>&1)"; then
  echo "$built" >&2
  echo "demo: the build failed (above)" >&2
  exit 1
fi
[ -z "$built" ] || echo "$built" >&2
bin="$(swift build --show-bin-path)/flowgen"

features=tcp,icmp
format=text
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[i]}" in
    --features) features="${args[i + 1]:-}" ;;
    --features=*) features="${args[i]#*=}" ;;
    --format) format="${args[i + 1]:-}" ;;
    --format=*) format="${args[i]#*=}" ;;
  esac
done

a="fgdemo-a-$$"; b="fgdemo-b-$$"
cleanup() { ip netns del "$a" 2>/dev/null || true; ip netns del "$b" 2>/dev/null || true; }
trap cleanup EXIT
ip netns add "$a"; ip netns add "$b"
ip link add fgd0 netns "$a" type veth peer name fgd1 netns "$b"
# no link-local addresses or router solicitations, and the multicast listener reports of the new
# addresses sent within 10 ms instead of a second: the table shows the demo's traffic, not the
# kernel's IPv6 start-up chatter
for end in "$a fgd0" "$b fgd1"; do
  set -- $end
  ip netns exec "$1" sysctl -qw "net.ipv6.conf.$2.addr_gen_mode=1" "net.ipv6.conf.$2.router_solicitations=0" \
    "net.ipv6.conf.$2.mldv2_unsolicited_report_interval=10" "net.ipv6.conf.$2.mldv1_unsolicited_report_interval=10"
done
ip -n "$a" addr add 198.18.0.1/24 dev fgd0; ip -n "$b" addr add 198.18.0.2/24 dev fgd1
ip -n "$a" addr add fd00:f10e::1/64 dev fgd0 nodad; ip -n "$b" addr add fd00:f10e::2/64 dev fgd1 nodad
for ns in "$a" "$b"; do ip -n "$ns" link set lo up; done
ip -n "$a" link set fgd0 up; ip -n "$b" link set fgd1 up

# B answers: an HTTP server on 8080 and a UDP echo responder on port 7 (the echo service's port)
ip netns exec "$b" python3 -m http.server --bind 198.18.0.2 8080 >/dev/null 2>&1 &
http_server=$!
ip netns exec "$b" python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("198.18.0.2", 7))
while True:
    data, peer = s.recvfrom(2048)
    s.sendto(data, peer)
' &
echo_server=$!
trap 'kill "$http_server" "$echo_server" 2>/dev/null || true; cleanup' EXIT
for _ in $(seq 50); do
  ip netns exec "$b" ss -Hlnu 'sport = :7' | grep -q . && ip netns exec "$b" ss -Hlnt 'sport = :8080' | grep -q . && break
  sleep 0.1
done
sleep 1   # the multicast reports of the new addresses are over before monitoring starts

cat <<EOF

== flowgen demo ==
Two network namespaces joined by a veth pair: A (198.18.0.1, fd00:f10e::1, interface fgd0) and
B (198.18.0.2, fd00:f10e::2). flowgen generates the C of a TC program from the feature modules
Features/{base,ipv4,ipv6,${features}} and the C templates in Templates/, compiles it with clang
and has the kernel verifier check it:
EOF
ip netns exec "$a" "$bin" build --features "$features" | sed 's/^/  /'
cat <<EOF
Now 'flowgen run' attaches that program to fgd0's ingress and egress hooks in A for 6 seconds,
while A sends to B:
  ping      3 ICMP echo requests, answered
  ping -6   2 ICMPv6 echo requests, answered (after an IPv6 neighbor solicitation)
  curl      an HTTP GET to B:8080 (python3 -m http.server)
  UDP       4 datagrams to B:7, each echoed back by a responder on B
When it stops, flowgen exports every flow still in its table (end reason 'forced').

EOF
ip netns exec "$a" "$bin" run -i fgd0 --features "$features" --interval 1 --duration 6 --format text "${args[@]}" &
monitor=$!
sleep 1.5
ip netns exec "$a" ping -c 3 -i 0.2 198.18.0.2 >/dev/null
ip netns exec "$a" ping -6 -c 2 -i 0.2 fd00:f10e::2 >/dev/null
ip netns exec "$a" curl -s -o /dev/null http://198.18.0.2:8080/
answered="$(ip netns exec "$a" python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(1)
answered = 0
for i in range(4):
    message = b"hello %d" % i
    s.sendto(message, ("198.18.0.2", 7))
    try:
        answered += s.recv(2048) == message
    except socket.timeout:
        pass
print(answered)
')"
[ "$answered" = 4 ] || echo "demo: only $answered of 4 UDP datagrams were echoed" >&2
wait "$monitor"

echo
if [ "$format" = text ]; then
  cat <<'EOF'
One row per biflow: both directions of a conversation merged (RFC 5103), SRC being the side that
sent first. The columns, with the field names nProbe uses:
  PROTOCOL         IP protocol number: 6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6
  SRC, DST         address:port, or the address alone for ICMP, whose type/code is in ICMP_TYPE
                   (the echo identifier, which keys a ping's flow, is in the JSON's L4_SRC_PORT)
  IN_PKTS/BYTES    packets and IP bytes from SRC to DST; OUT_PKTS/BYTES the other way (the answers)
  TCP_FLAGS        every TCP flag seen, as CEUAPRSF with '.' for unset (...AP.SF: ACK PSH SYN FIN)
  ICMP_TYPE        type/code of SRC's ICMP messages: 8/0 echo request, 128/0 ICMPv6 echo request;
                   135/0 and 136/0 are the neighbor solicitation and advertisement IPv6 sends before
                   the first ping -6 (the solicitation goes to a multicast address, so its answer
                   is a flow of its own)
  DURATION_US      first to last packet, in microseconds: the first packet is stamped precisely, the
                   later ones at the kernel tick's resolution (1-4 ms)
  FLOW_END_REASON  'end of flow': the TCP connection closed; 'forced': still open when flowgen stopped
The exit summary's kernel counters count what the program skipped: not_ip are ARP frames.
EOF
  echo "The same as JSON lines: scripts/demo.sh --format json; with every module: --features all."
else
  echo "Each record is one biflow; docs/output-fields.md says what every field means."
fi
