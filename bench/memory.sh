#!/usr/bin/env bash
# Peak memory under large mail: 20 concurrent sessions each send a 20 MB
# message (a trader reply with a 20 MB attachment) into one case; the daemon
# stores, parses and relays them all. Prints the daemon's peak RSS (VmHWM).
#
#   bench/memory.sh            (loopback only; needs go and python3)
set -euo pipefail
N=${N:-20}
MB=${MB:-20}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
TMP=$(mktemp -d /tmp/parley-mem.XXXXXX)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
SMTP=127.0.0.1:$(port)
(cd "$REPO" && go build -o "$TMP/parley" ./cmd/parley)
"$TMP/parley" serve --data "$TMP/data" --smtp "$SMTP" --imap 127.0.0.1:0 --submission 127.0.0.1:0 --metrics 127.0.0.1:0 --log-level warn 2>"$TMP/log" &
PID=$!
for _ in $(seq 100); do python3 -c "import socket; socket.create_connection(('127.0.0.1',${SMTP#*:}),1)" 2>/dev/null && break; sleep 0.1; done
"$TMP/parley" trader add --data "$TMP/data" --handle acme --name Acme --email support@acme.example >/dev/null
python3 - "$SMTP" "$TMP" "$N" "$MB" <<'PY'
import smtplib, sys, json, subprocess, time, base64, os, threading
addr, tmp, n, mb = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
host, port = addr.split(':')
def send(rcpt, msg, frm):
    with smtplib.SMTP(host, int(port), timeout=300) as s:
        s.sendmail(frm, [rcpt], msg)
send('acme@disputes.localhost', b'From: jan@consumer.example\r\nSubject: kettle\r\n\r\nBroken, I want a refund.\r\n', 'jan@consumer.example')
def cli(*a):
    return json.loads(subprocess.check_output([tmp+'/parley', *a, '--data', tmp+'/data', '--json']))
for _ in range(100):
    cases = cli('case', 'list')['cases']
    if cases: break
    time.sleep(0.1)
case = cli('case', 'show', cases[0]['id'])
trader = [p['case_address'] for p in case['parties'] if p['role'] == 'trader'][0]
payload = base64.encodebytes(os.urandom(mb * 1024 * 1024 * 3 // 4))
def msg(i):
    return (b'From: support@acme.example\r\nSubject: Re: invoice %d\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="B"\r\n\r\n'
            b'--B\r\nContent-Type: text/plain\r\n\r\nSee the attached file %d.\r\n--B\r\nContent-Type: application/octet-stream\r\n'
            b'Content-Disposition: attachment; filename="big%d.bin"\r\nContent-Transfer-Encoding: base64\r\n\r\n' % (i, i, i)) + payload.replace(b'\n', b'\r\n') + b'--B--\r\n'
start = time.time()
ts = [threading.Thread(target=send, args=(trader, msg(i), 'support@acme.example')) for i in range(n)]
[t.start() for t in ts]; [t.join() for t in ts]
accepted = time.time() - start
while True:
    c = cli('case', 'show', case['id'])
    done = sum(1 for m in c['messages'] if m['role'] == 'trader' and m['processed'])
    if done >= n: break
    time.sleep(0.5)
print(f'{n} messages of {len(msg(0))/1e6:.1f} MB: accepted in {accepted:.1f} s, processed after {time.time()-start:.1f} s')
PY
# Let the queue deliver the relays (held back: 20 MB is above max_attachment_size) before reading the peak.
sleep 2
grep -E 'VmHWM|VmRSS' /proc/$PID/status
grep -E 'level=(ERROR|WARN)' "$TMP/log" | head -5 || true
