#!/bin/bash
# /v1/query lexical: b878e5b (before the position change) and 011e396, alternating; then eval with 011e396.
cd /tmp/s15/ryw
for i in 1 2; do
  for b in before:/tmp/s15/mcpbench2 after:/tmp/s15/ryw/bin; do
    n=${b%%:*}; D=${b#*:}
    $D/aiblox-bench-service --orchestrator $D/aiblox-orchestrator --ingest $D/aiblox-ingest --mode lexical --json-out $n-$i.json > $n-$i.txt 2>&1
    echo "$n $i $(date +%H:%M): $(grep -E 'requests/s' $n-$i.txt | head -1)" >> runs.log
  done
done
rm -rf /tmp/s15evalpg && mkdir -p /tmp/s15evalpg && chown postgres /tmp/s15evalpg
su postgres -c "/usr/lib/postgresql/15/bin/initdb -D /tmp/s15evalpg/data -A trust -E UTF8 --locale=C >/dev/null && /usr/lib/postgresql/15/bin/pg_ctl -D /tmp/s15evalpg/data -o \"-c listen_addresses='' -k /tmp/s15evalpg\" -l /tmp/s15evalpg/log start >/dev/null"
export AIBLOX_KB_DATABASE_URL='postgresql://postgres@/postgres?host=/tmp/s15evalpg'
D=/tmp/s15/ryw/bin
$D/aiblox-orchestrator migrate
$D/aiblox-ingest --source pgdocs --types html,md,txt /usr/share/doc/postgresql-doc-15/html 2>&1 | tail -1
AIBLOX_LISTEN=127.0.0.1:18094 AIBLOX_LOG_LEVEL=warn $D/aiblox-orchestrator serve > eval-serve.log 2>&1 &
sleep 3
cd /work/main
cargo xtask eval --queries docs/retrieval/pgdocs-dev.jsonl --url http://127.0.0.1:18094 --mode lexical > /tmp/s15/ryw/eval-lexical.txt 2>&1
python3 docs/retrieval/bm25_baseline.py docs/retrieval/pgdocs-dev.jsonl > /tmp/s15/ryw/eval-bm25.txt 2>&1
pkill -f '/tmp/s15/ryw/bin/aiblox-orchestrator serve'
su postgres -c "/usr/lib/postgresql/15/bin/pg_ctl -D /tmp/s15evalpg/data stop -m fast" >/dev/null
rm -rf /tmp/s15evalpg
echo done > /tmp/s15/ryw/done
