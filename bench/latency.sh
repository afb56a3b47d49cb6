#!/usr/bin/env bash
# Latency under a steady offered rate (issue 13, goal 2): how long after its
# 250 a trader's reply reaches the consumer through the smarthost.
#
#   bench/latency.sh                        # 400 msg/s for 20 s from 16 clients, 5 KB each
#   RATE=200 DURATION=30 bench/latency.sh
#   bench/latency.sh -json                  # the figures as JSON (other flags: -h)
#
# Builds the daemon and bench/latency into a temporary folder and runs the
# tool: `parley serve` with the default configuration (addresses, data folder,
# domain and the smarthost set; the smarthost is the tool's own SMTP sink),
# one case opened, then RATE trader replies a second into it for DURATION
# (open loop: each message is due at a fixed time, and one sent late because
# every client was busy is also measured from its due time), SIZE bytes each,
# over CLIENTS reused SMTP sessions. Prints the offered and accepted rates,
# p50/p90/p99/p99.9/max of accept-to-relay (from the 250 at the client to the
# relay at the sink), of due-to-relay and of DATA-to-250, and the acked
# replies never relayed (lost: still missing once the sink has been idle for
# -drain, 30 s) or relayed twice. Loopback only; needs go.
# Exit status 0 unless the tool itself fails: the figures are for reading.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
export RATE=${RATE:-400} DURATION=${DURATION:-20} CLIENTS=${CLIENTS:-16} SIZE=${SIZE:-5120}
TMP=$(mktemp -d /tmp/parley-latency.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
(cd "$REPO" && go build -o "$TMP/parley" ./cmd/parley && go build -o "$TMP/latency" ./bench/latency)
mkdir -p "$TMP/work"
if ! "$TMP/latency" -parley "$TMP/parley" -work "$TMP/work" "$@"; then
	echo "latency.sh: the tool failed; the daemon's log ends:" >&2
	tail -n 20 "$TMP/work/parley.log" >&2 || true
	exit 1
fi
