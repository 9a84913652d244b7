#!/bin/bash
# Ingest R's nine manuals into a fresh schema, and pdftotext the same files, alternately.
M=/usr/share/R/doc/manual
export AIBLOX_KB_DATABASE_URL='postgresql://postgres@/postgres?host=/tmp/pgx'
for i in 1 2; do
  s=$(date +%s.%N); for f in $M/*.pdf; do pdftotext -q $f /dev/null; done; e=$(date +%s.%N)
  echo "pdftotext run $i: $(echo "$e - $s" | bc) s"
  /usr/bin/time -f "ingest run $i: %e s wall, %U s user, %M kB peak" /tmp/s14/aiblox-ingest --source rdocs --schema pdfbench$i $M --json > /tmp/s14/pdfbench-$i.json 2>/tmp/s14/pdfbench-$i.err
  tail -1 /tmp/s14/pdfbench-$i.err
  python3 -c "import json; d=json.load(open('/tmp/s14/pdfbench-$i.json')); print('  summary: pages', d['pages'], 'seconds %.1f' % d['seconds'], 'pages/s %.0f' % (d['pages']/d['seconds']), 'peak MB', d['peak_memory_bytes']//1000000, 'inserted', d['inserted'], 'failed', d['failed'])"
done
