#!/usr/bin/env bash
# Ingest benchmark: Parley against a stock Postfix relay, same load, same sink.
#
#   bench/ingest.sh
#
# Parley: builds the daemon, runs it on a loopback port with smtp-sink as its
# smarthost, registers a trader, opens one case (complaint sent with swaks),
# then pushes MSGS messages of SIZE bytes over SESSIONS parallel sessions
# (smtp-source) from the trader to its case address. Every one is a trader
# message Parley must store and relay to the consumer.
# Postfix: a throwaway instance (../shared/tools/postfix-relay.sh) relaying
# everything to a fresh smtp-sink; the same smtp-source load goes into it.
#
# Reported per system: accepted msg/s (MSGS / wall time of smtp-source) and
# relayed end-to-end msg/s (MSGS / time from the start of smtp-source until the
# sink has received every relayed message).
#
# Needs root (Postfix; smtp-sink drops to nobody), smtp-source, smtp-sink,
# swaks, postfix, python3, go. Listens on loopback only.
#
# Environment knobs (defaults in brackets):
#   MSGS [5000]  SESSIONS [10]  SIZE [5120]  WAIT_MAX [300] seconds per wait
#   CONCURRENCY [20] Parley [outbound] concurrency (Postfix's default
#                    per-destination concurrency is also 20)
#   KEEP [0]     1 keeps the work folder (logs, data) after a successful run
#   DKIM [auto]  on makes Parley DKIM-sign every relay (Ed25519 and RSA-2048), which
#                auto leaves off on disputes.localhost
#   METRICS [on] off turns Parley's metrics listener off (on: a free loopback port)
#   PROFILE []   a file: a CPU profile of Parley over the first PROFILE_S [8] seconds
#                of the load, from its pprof (needs METRICS on); read with go tool pprof.
#                PROFILE.allocs gets the allocations since start, taken after the load
set -euo pipefail

MSGS=${MSGS:-5000}
SESSIONS=${SESSIONS:-10}
SIZE=${SIZE:-5120}
WAIT_MAX=${WAIT_MAX:-300}
CONCURRENCY=${CONCURRENCY:-20}
KEEP=${KEEP:-0}
OPENING=2 # notices Parley sends when the case opens: acknowledgement to the consumer, complaint to the trader

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
PFRELAY=${PFRELAY:-"$REPO/../shared/tools/postfix-relay.sh"} # a worktree elsewhere: set PFRELAY

die() { echo "ingest.sh: FAIL: $*" >&2; exit 1; }
note() { echo "--- $*" >&2; }

for cmd in go smtp-source smtp-sink swaks postfix postconf python3; do
	command -v "$cmd" >/dev/null || die "$cmd not found (apt-get install postfix swaks; golang)"
done
[ -x "$PFRELAY" ] || [ -f "$PFRELAY" ] || die "$PFRELAY not found"
[ "$(id -u)" = 0 ] || die "run as root (Postfix instance, smtp-sink -u nobody)"

TMP=$(mktemp -d /tmp/parley-bench.XXXXXX)
chmod 755 "$TMP" # Postfix daemons (user postfix) must reach $TMP/pf
PF_DIR="$TMP/pf"
PIDS=()
SOURCE_PID=
PF_UP=0

pf_stop() {
	[ "$PF_UP" = 1 ] || return 0
	local mpid=""
	[ -f "$PF_DIR/spool/pid/master.pid" ] && mpid=$(tr -d ' \n' <"$PF_DIR/spool/pid/master.pid")
	PF_DIR="$PF_DIR" sh "$PFRELAY" stop >/dev/null 2>&1 || true
	PF_UP=0
	if [ -n "$mpid" ]; then # wait (bounded) until master and its children are gone
		for _ in $(seq 100); do kill -0 "$mpid" 2>/dev/null || break; sleep 0.1; done
	fi
}

# cpu_s prints the CPU seconds (user + system) process $1 has used.
cpu_s() {
	awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$1/stat"
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	local p
	if [ -n "$SOURCE_PID" ]; then kill "$SOURCE_PID" 2>/dev/null || true; fi
	pf_stop
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do
		for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$p" 2>/dev/null || true
	done
	wait 2>/dev/null || true
	if [ "$rc" != 0 ] || [ "$KEEP" = 1 ]; then
		echo "work folder kept: $TMP (parley.log, sink-*.out, pf/maillog)" >&2
	else
		rm -rf "$TMP"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# smtp_ping PORT: an SMTP server answers 220 on 127.0.0.1:PORT. Reads the
# greeting and says QUIT, so the server logs no reset connection.
smtp_ping() {
	(
		exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
		IFS= read -r -t 5 line <&3 || exit 1
		[[ $line == 220* ]] || exit 1
		printf 'QUIT\r\n' >&3
		IFS= read -r -t 5 line <&3 || true
	) 2>/dev/null
}

# wait_port PORT SECONDS: until an SMTP server answers on 127.0.0.1:PORT.
wait_port() {
	local end=$((SECONDS + $2))
	until smtp_ping "$1"; do
		[ $SECONDS -lt $end ] || die "nothing listens on 127.0.0.1:$1 after $2 s"
		sleep 0.1
	done
}

# sink_count FILE: messages received so far by the smtp-sink writing -c
# counters to FILE ("sess=N quit=N mesg=N\r" after every session end, QUIT and
# "."). Counters only grow, so the largest value in the tail is the current one
# even if the tail window or the last write cut a record short.
sink_count() {
	local n
	n=$(tail -c 256 "$1" 2>/dev/null | tr '\r' '\n' | sed -n 's/.*mesg=\([0-9][0-9]*\).*/\1/p' | sort -n | tail -n 1)
	echo "${n:-0}"
}

# wait_count FILE TARGET SECONDS: poll until the sink has TARGET messages;
# sets SEEN_AT to the time (EPOCHREALTIME) at which it saw them. (Runs in this
# shell, not in $(...), so a signal's trap runs within one poll interval.)
wait_count() {
	local end=$((SECONDS + $3)) n
	while :; do
		n=$(sink_count "$1")
		if [ "$n" -ge "$2" ]; then
			SEEN_AT=$EPOCHREALTIME
			return 0
		fi
		[ $SECONDS -lt $end ] || die "sink $1 has $n of $2 messages after $3 s"
		sleep 0.1
	done
}

# start_sink NAME: smtp-sink on a free loopback port; sets SINK_PORT and SINK_OUT.
start_sink() {
	SINK_PORT=$(free_port)
	SINK_OUT="$TMP/sink-$1.out"
	smtp-sink -u nobody -c "127.0.0.1:$SINK_PORT" 1024 >"$SINK_OUT" 2>"$TMP/sink-$1.err" &
	PIDS+=($!)
	wait_port "$SINK_PORT" 10
}

fdiv() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1f", a / b; else print "inf" }'; }
fsub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a - b }'; }

# load NAME PORT RCPT SINKFILE BASE: the smtp-source run plus the wait for the
# relays; sets ACC (accepted msg/s), REL (relayed msg/s), T_SRC, T_REL (seconds).
load() {
	local name=$1 port=$2 rcpt=$3 sinkfile=$4 base=$5 t0 t1 t2
	note "$name: smtp-source -s $SESSIONS -m $MSGS -l $SIZE -f support@acme.example -t $rcpt 127.0.0.1:$port"
	t0=$EPOCHREALTIME
	# In the background and waited for, so that a signal's trap runs at once.
	timeout "$WAIT_MAX" smtp-source -s "$SESSIONS" -m "$MSGS" -l "$SIZE" \
		-f support@acme.example -t "$rcpt" "127.0.0.1:$port" >"$TMP/source-$name.log" 2>&1 &
	SOURCE_PID=$!
	if ! wait "$SOURCE_PID"; then
		SOURCE_PID=
		cat "$TMP/source-$name.log" >&2
		die "$name: smtp-source failed or took over $WAIT_MAX s (it stops at the first refused message)"
	fi
	SOURCE_PID=
	t1=$EPOCHREALTIME
	note "$name: all $MSGS accepted in $(fsub "$t1" "$t0") s, $(( $(sink_count "$sinkfile") - base )) relayed by then; waiting for $((base + MSGS)) at the sink"
	wait_count "$sinkfile" $((base + MSGS)) "$WAIT_MAX"
	t2=$SEEN_AT
	T_SRC=$(fsub "$t1" "$t0")
	T_REL=$(fsub "$t2" "$t0")
	ACC=$(fdiv "$MSGS" "$T_SRC")
	REL=$(fdiv "$MSGS" "$T_REL")
	note "$name: sink complete after $T_REL s"
}

# ---------------------------------------------------------------- Parley
note "building parley"
(cd "$REPO" && go build -o "$TMP/parley" ./cmd/parley)
PARLEY="$TMP/parley"
DATA="$TMP/data"

start_sink parley
P_SINK_OUT=$SINK_OUT
P_PORT=$(free_port)
cat >"$TMP/parley.toml" <<EOF
[imap]
listen = "127.0.0.1:0"
[submission]
listen = "127.0.0.1:0"
[metrics]
listen = "$([ "${METRICS:-on}" = off ] || echo 127.0.0.1:0)"
[outbound]
concurrency = $CONCURRENCY
dkim = "${DKIM:-auto}"
EOF
"$PARLEY" serve --config "$TMP/parley.toml" --data "$DATA" --smtp "127.0.0.1:$P_PORT" \
	--smarthost "127.0.0.1:$SINK_PORT" --domain disputes.localhost >"$TMP/parley.log" 2>&1 &
PIDS+=($!)
PARLEY_PID=$!
wait_port "$P_PORT" 30
note "parley serving on 127.0.0.1:$P_PORT, smarthost smtp-sink 127.0.0.1:$SINK_PORT, outbound concurrency $CONCURRENCY"

"$PARLEY" trader add --config "$TMP/parley.toml" --data "$DATA" --handle acme --name "Acme Shop" \
	--email support@acme.example --lang nl >&2

swaks --server "127.0.0.1:$P_PORT" --from consumer@example.org --to acme@disputes.localhost \
	--h-From '"Consumer Test" <consumer@example.org>' --h-Subject "Blender arrived broken" \
	--body $'Hello,\r\n\r\nI ordered a blender (order 12345) and it arrived broken. I want a refund.\r\n\r\nRegards,\r\nConsumer Test' \
	>"$TMP/swaks.log" 2>&1 || { cat "$TMP/swaks.log" >&2; die "swaks complaint refused"; }
wait_count "$P_SINK_OUT" "$OPENING" 30
sleep 1 # anything beyond the two notices would show up now
base=$(sink_count "$P_SINK_OUT")
[ "$base" = "$OPENING" ] || die "expected $OPENING opening notices at the sink, got $base"

CASE_ID=$("$PARLEY" case list --json --data "$DATA" | python3 -c 'import json,sys; c=json.load(sys.stdin)["cases"]; assert len(c)==1, c; print(c[0]["id"])')
TRADER_ADDR=$("$PARLEY" case show "$CASE_ID" --json --data "$DATA" | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["state"] == "open", d["state"]
print([p for p in d["parties"] if p["role"] == "trader"][0]["case_address"])')
note "case $CASE_ID open; trader case address $TRADER_ADDR"

# With metrics on, scrape them every second during the load, as Prometheus would (more often).
SCRAPES=0
if [ "${METRICS:-on}" != off ]; then
	MURL=$(grep -o 'addr=http://[^ ]*/metrics' "$TMP/parley.log" | head -1 | cut -d= -f2)
	[ -n "$MURL" ] || die "metrics on but no 'metrics served' line in the log"
	(while curl -sf -o /dev/null "$MURL"; do echo >>"$TMP/scrapes"; sleep 1; done) &
	PIDS+=($!)
	SCRAPER=$!
fi
if [ -n "${PROFILE:-}" ]; then
	[ -n "${MURL:-}" ] || die "PROFILE needs METRICS on"
	curl -sf -o "$PROFILE" "${MURL%/metrics}/debug/pprof/profile?seconds=${PROFILE_S:-8}" &
	PIDS+=($!)
fi
P_CPU0=$(cpu_s "$PARLEY_PID")
load parley "$P_PORT" "$TRADER_ADDR" "$P_SINK_OUT" "$base"
P_ACC=$ACC P_REL=$REL P_TSRC=$T_SRC P_TREL=$T_REL
if [ -n "${PROFILE:-}" ]; then
	curl -sf -o "$PROFILE.allocs" "${MURL%/metrics}/debug/pprof/allocs" || note "no allocation profile"
fi
P_CPU=$(awk -v a="$P_CPU0" -v b="$(cpu_s "$PARLEY_PID")" 'BEGIN { printf "%.1f", b - a }')
if [ -n "${SCRAPER:-}" ]; then
	kill "$SCRAPER" 2>/dev/null || true
	SCRAPES=$(wc -l <"$TMP/scrapes" 2>/dev/null || echo 0)
	# The group commit over the whole run (opening included): commits, the
	# transactions they carried, page writes.
	COMMITS=$(curl -sf "$MURL" | awk '/^parley_store_commits_total / { c = $2 } /^parley_store_commit_callers_total / { t = $2 }
		/^parley_store_page_writes_total / { w = $2 }
		END { if (c > 0) printf "%d commits carrying %d transactions (%.1f each), %.1f page writes a commit", c, t, t / c, w / c }')
fi

# Check that what reached the sink are the relays (not quarantine notices etc.).
sleep 1
extra=$(( $(sink_count "$P_SINK_OUT") - base - MSGS ))
"$PARLEY" case show "$CASE_ID" --json --data "$DATA" >"$TMP/case.json"
python3 - "$TMP/case.json" "$MSGS" <<'EOF' >&2 || die "Parley did not store and relay every message (see above)"
import collections, json, sys
d = json.load(open(sys.argv[1])); want = int(sys.argv[2])
tm = [m for m in d["messages"] if m.get("role") == "trader"]
flags = collections.Counter(f for m in tm for f in (m.get("flags") or []))
out = collections.Counter((o["kind"], o["role"], o["state"]) for o in d["outbound"])
print(f"parley case: {len(tm)} trader messages stored, flags: {dict(flags) or 'none'}")
print("parley outbound rows (kind, to, state):", dict(out))
sys.exit(0 if len(tm) == want and not flags and all(m.get("processed") for m in tm)
         and out == {("confirm", "consumer", "sent"): 1, ("trader_notice", "trader", "sent"): 1,
                     ("relay", "consumer", "sent"): want} else 1)
EOF
[ "$extra" = 0 ] || die "sink got $extra messages more than expected from Parley"
accepted=$(grep -c 'msg="message accepted"' "$TMP/parley.log" || true)
dups=$(grep 'msg="message accepted"' "$TMP/parley.log" | grep -c 'duplicate=true' || true)
problems=$(grep -cE 'level=(WARN|ERROR)' "$TMP/parley.log" || true)
note "parley log: $accepted messages accepted ($dups duplicates), $problems WARN/ERROR lines"
[ "$problems" = 0 ] || grep -E 'level=(WARN|ERROR)' "$TMP/parley.log" | head -20 >&2
P_RSS=$(awk '/VmHWM/ {print $2 / 1024 " MiB"}' "/proc/$PARLEY_PID/status" 2>/dev/null || echo "?")
P_DB=$(du -sh "$DATA" | cut -f1)

# ---------------------------------------------------------------- Postfix
start_sink postfix
F_SINK_OUT=$SINK_OUT
F_PORT=$(free_port)
rm -rf "$PF_DIR"
PF_UP=1
PF_DIR="$PF_DIR" PF_PORT="$F_PORT" TARGET_PORT="$SINK_PORT" sh "$PFRELAY" start >"$TMP/postfix-start.log" 2>&1 ||
	{ cat "$TMP/postfix-start.log" >&2; die "postfix-relay.sh start failed"; }
wait_port "$F_PORT" 30
note "postfix on 127.0.0.1:$F_PORT relaying to smtp-sink 127.0.0.1:$SINK_PORT"

load postfix "$F_PORT" x@peer.test "$F_SINK_OUT" 0
F_ACC=$ACC F_REL=$REL F_TSRC=$T_SRC F_TREL=$T_REL
sleep 1
extra=$(( $(sink_count "$F_SINK_OUT") - MSGS ))
[ "$extra" = 0 ] || die "sink got $extra messages more than expected from Postfix"
pf_stop
rm -rf "$PF_DIR"

# ---------------------------------------------------------------- report
echo
echo "ingest benchmark: $MSGS messages x $SIZE bytes, $SESSIONS smtp-source sessions (one connection per message)"
echo "parley: one case, trader -> consumer relays, outbound concurrency $CONCURRENCY; peak RSS $P_RSS, data folder $P_DB"
echo "parley: CPU ${P_CPU}s during the load ($(awk -v c="$P_CPU" -v n="$MSGS" 'BEGIN { printf "%.2f", c * 1000 / n }') ms a message), metrics ${METRICS:-on}, $SCRAPES scrapes"
[ -z "${COMMITS:-}" ] || echo "parley: store: $COMMITS"
echo
printf '%-10s %14s %22s %12s %12s\n' system "accepted msg/s" "relayed e2e msg/s" "accept s" "e2e s"
printf '%-10s %14s %22s %12s %12s\n' parley "$P_ACC" "$P_REL" "$P_TSRC" "$P_TREL"
printf '%-10s %14s %22s %12s %12s\n' postfix "$F_ACC" "$F_REL" "$F_TSRC" "$F_TREL"
printf '%-10s %14s %22s\n' "ratio P/PF" \
	"$(awk -v a="$P_ACC" -v b="$F_ACC" 'BEGIN { printf "%.2f", a / b }')" \
	"$(awk -v a="$P_REL" -v b="$F_REL" 'BEGIN { printf "%.2f", a / b }')"
