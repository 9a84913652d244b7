#!/bin/bash
# Items over HTTP against the ingestion CLI, one build, one fresh local PostgreSQL (issue 37's figures).
# usage: writes-bench.sh BIN_DIR OUT_DIR   (BIN_DIR holds release aiblox-orchestrator and aiblox-ingest)
# 1. the PostgreSQL docs ingested once by the CLI (source seed), exported as JSONL (the same items for both doors);
# 2. alternately, twice: the CLI loads the JSONL (batches of 200) into a new source, then
#    POST /v1/items loads the same lines (batches of 200, one keep-alive connection) into another;
# 3. PUT /v1/items/putload/p{n % 200} under wrk, 32 connections, 10 s (one page's body with a counter:
#    every PUT changes its item).
set -euo pipefail
BIN=$1; OUT=$2; mkdir -p "$OUT"
PGD=$(mktemp -d /tmp/writes-bench-pg.XXXX); chown postgres "$PGD"
su postgres -c "/usr/lib/postgresql/15/bin/initdb -D $PGD/data -A trust -E UTF8 --locale=C >/dev/null && /usr/lib/postgresql/15/bin/pg_ctl -D $PGD/data -o \"-c listen_addresses='' -k $PGD\" -l $PGD/log start >/dev/null"
trap 'pkill -f "$BIN/aiblox-orchestrator serve" || true; su postgres -c "/usr/lib/postgresql/15/bin/pg_ctl -D $PGD/data stop -m fast" >/dev/null; rm -rf $PGD' EXIT
export AIBLOX_KB_DATABASE_URL="postgresql://postgres@/postgres?host=$PGD"
"$BIN/aiblox-ingest" --source seed --types html /usr/share/doc/postgresql-doc-15/html > /dev/null 2>&1
psql -h "$PGD" -U postgres -Atc "select json_build_object('external_id', external_id, 'title', title, 'content', content, 'metadata', metadata) from kb.item where source = 'seed' order by external_id" > "$OUT/pages.jsonl"
PORT=18199
AIBLOX_LISTEN=127.0.0.1:$PORT AIBLOX_LOG_LEVEL=warn "$BIN/aiblox-orchestrator" serve > "$OUT/serve.log" 2>&1 &
sleep 3
for round in 1 2; do
  python3 - "$BIN" "$OUT" "$PORT" "$round" <<'PY'
import http.client, json, subprocess, sys, time
bin_dir, out, port, round_ = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
lines = [json.loads(l) for l in open(f"{out}/pages.jsonl")]
t = time.perf_counter()
subprocess.run([f"{bin_dir}/aiblox-ingest", "--source", f"cli{round_}", "--batch-size", "200", "--no-migrate", f"{out}/pages.jsonl"], check=True, capture_output=True)
cli = time.perf_counter() - t
conn = http.client.HTTPConnection("127.0.0.1", port)
t = time.perf_counter(); errors = 0
for start in range(0, len(lines), 200):
    batch = [dict(line, source=f"http{round_}") for line in lines[start:start + 200]]
    body = json.dumps({"items": batch})
    conn.request("POST", "/v1/items", body, {"Content-Type": "application/json"})
    response = conn.getresponse(); response.read()
    errors += response.status != 200
http_s = time.perf_counter() - t
n = len(lines)
print(json.dumps({"round": int(round_), "items": n, "cli_items_per_s": round(n / cli, 1), "http_items_per_s": round(n / http_s, 1),
                  "http_over_cli": round(cli / http_s, 3), "http_errors": errors}))
PY
done | tee "$OUT/batches.jsonl"
# PUT latency under 32 concurrent writers.
python3 - "$OUT" <<'PY'
import json, sys
out = sys.argv[1]
page = json.loads(open(f"{out}/pages.jsonl").readline())
# Every PUT changes its item (a counter ends the content): each is a real write.
body = json.dumps({"title": page["title"], "content": page["content"] + " @@N@@", "metadata": page["metadata"]})
before, after = body.split("@@N@@")
open(f"{out}/put.lua", "w").write('''local before = [==[''' + before + ''']==]
local after = [==[''' + after + ''']==]
local n = 0
function request()
  n = n + 1
  return wrk.format("PUT", "/v1/items/putload/p" .. (n % 200), {["Content-Type"] = "application/json"}, before .. n .. after)
end
function done(summary, latency, requests)
  io.write(string.format('{"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"non_2xx":%d,"socket_errors":%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
''')
PY
wrk -c 32 -t 2 -d 10 -s "$OUT/put.lua" "http://127.0.0.1:$PORT" | tail -1 | tee "$OUT/put.json"
