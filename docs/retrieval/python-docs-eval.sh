#!/bin/bash
# Python docs question set: ingest with three ingesters into three schemas, ask with one service (lexical).
export AIBLOX_KB_DATABASE_URL='postgresql://postgres@/postgres?host=/tmp/pgx'
cd /work/main
for b in s13:/tmp/s13g s14:/tmp/s14/bin2 s15:/tmp/s15/bin; do
  n=${b%%:*}; d=${b#*:}
  if [ $n = s15 ]; then f=""; else f="--types html"; fi; $d/aiblox-ingest --schema kb_$n --source python $f /usr/share/doc/python3.11/html 2>/dev/null | tail -1
  AIBLOX_KB_SCHEMA=kb_$n AIBLOX_LISTEN=127.0.0.1:18095 AIBLOX_LOG_LEVEL=warn /tmp/s14/bin2/aiblox-orchestrator serve > /tmp/s15/py/serve-$n.log 2>&1 &
  sleep 4
  cargo xtask eval --queries docs/retrieval/python-docs-s15.jsonl --url http://127.0.0.1:18095 --mode lexical > /tmp/s15/py/eval-$n.txt 2>&1
  cargo xtask eval --queries docs/retrieval/python-docs-s15.jsonl --url http://127.0.0.1:18095 --mode lexical --json > /tmp/s15/py/eval-$n.json 2>/dev/null
  pkill -f 'aiblox-orchestrator serve'; sleep 1
done
