#!/usr/bin/env bash
# Soak: Parley killed with SIGKILL again and again under load, with the
# smarthost going away now and then (issue "faults that heal by themselves").
#
#   bench/soak.sh            # 30 kill -9 cycles
#   RUNS=10 SENDERS=4 bench/soak.sh
#   WORKERS=1 bench/soak.sh  # one procedure worker: the case shares it with the intake load
#
# Builds the daemon and bench/soak, then runs RUNS cycles: start, 8 senders
# posting trader replies to one case (each waits for its 250 before the
# next), smtp-source background load into the intake address when installed
# (apt-get install postfix), the smarthost stopped during every fifth run,
# SIGKILL after 1.5-4 s, restart. At the end every acked reply must reach the
# consumer; printed per run: acked, lost, duplicated relays, and replies
# relayed out of the order they were acked in (read from the consumer's
# thread, In-Reply-To). Exit status 1 if anything acked was lost.
# Loopback only.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
RUNS=${RUNS:-30}
SENDERS=${SENDERS:-8}
TMP=$(mktemp -d /tmp/parley-soak.XXXXXX)
[ -n "${KEEP:-}" ] && echo "keeping $TMP" >&2 || trap 'rm -rf "$TMP"' EXIT
(cd "$REPO" && go build -o "$TMP/parley" ./cmd/parley && go build -o "$TMP/soak" ./bench/soak)
mkdir -p "$TMP/work"
"$TMP/soak" -parley "$TMP/parley" -runs "$RUNS" -senders "$SENDERS" -work "$TMP/work" ${WORKERS:+-workers "$WORKERS"}
