#!/bin/bash
# /v1/query and /mcp search alternately, one build, lexical, 32 connections (wrk), pgdocs dev questions.
cd /tmp/s15/mcpbench2
for i in 1 2 3; do
  for door in query mcp; do
    echo "== $door $i $(date +%H:%M:%S)" >> runs.log
    ./aiblox-bench-service --orchestrator ./aiblox-orchestrator --ingest ./aiblox-ingest --mode lexical --door $door --json-out $door-$i.json >> runs.log 2>&1
    tail -1 runs.log
  done
done
echo done > done
