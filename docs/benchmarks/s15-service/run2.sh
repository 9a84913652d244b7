#!/bin/bash
cd /tmp/s15/qpath
for i in 3; do
  for b in s15:/tmp/s15/mcpbench2 s14:/tmp/s14/bin2; do
    n=${b%%:*}; D=${b#*:}
    $D/aiblox-bench-service --orchestrator $D/aiblox-orchestrator --ingest $D/aiblox-ingest --mode lexical --json-out $n-$i.json > $n-$i.txt 2>&1
    echo "$n $i $(date +%H:%M): $(grep -E 'requests/s' $n-$i.txt | head -1)" >> runs.log
  done
done
echo done > done2
