#!/usr/bin/env bash
# kbpeer-v1 through the generated Python package (python/bench/kbpeer.py) beside the SQLAlchemy
# peer (../shared/peers/python-sqlalchemy), on the peer's own cluster, alternating round by
# round: pgbench -S, the peer's bench.py, ours, then the Rust contract's (target/release/aiblox-bench:
# what the server allows any client of this schema), ROUNDS times. Raw JSON and pgbench output
# go to OUT (default docs/benchmarks/s16-python). Needs target/python-venv
# (python/requirements-dev.txt) and network access once for the peer's requirements.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
PEER=${PEER:-/tmp/peer}
OUT=${OUT:-$ROOT/docs/benchmarks/s16-python}
ROUNDS=${ROUNDS:-2}
PY=${PY:-$ROOT/target/python-venv/bin/python}
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
export PGPORT=55433
mkdir -p "$OUT"
[ -d "$PEER" ] || cp -r ../shared/peers/python-sqlalchemy "$PEER"
cd "$PEER"
if [ ! -x .venv/bin/python ]; then python3 -m venv .venv; fi
.venv/bin/pip install -q --disable-pip-version-check -r requirements.txt
./pg.sh start
trap './pg.sh stop' EXIT
.venv/bin/alembic upgrade head >/dev/null
DATASET=$PEER/results/dataset-kbpeer-v1-seed42.jsonl
[ -f "$DATASET" ] || .venv/bin/python bench.py --dump-dataset "$DATASET" --dump-only
psql_() { "$PGBIN/psql" -h 127.0.0.1 -p "$PGPORT" -U postgres -X -q "$@"; }
psql_ -d postgres -tAc "select 1 from pg_database where datname='kb_aiblox'" | grep -q 1 ||
    psql_ -d postgres -c "create database kb_aiblox"
"$PGBIN/pgbench" -h 127.0.0.1 -p "$PGPORT" -U postgres -i -s 10 -q pgbench 2>&1 | tail -1
STAMP=$(date +%Y%m%d-%H%M%S)
for r in $(seq 1 "$ROUNDS"); do
    "$PGBIN/pgbench" -h 127.0.0.1 -p "$PGPORT" -U postgres -S -M prepared -c 16 -j 2 -T 20 pgbench \
        >"$OUT/pgbench-$STAMP-r$r.txt" 2>&1
    tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)/\1/p' "$OUT/pgbench-$STAMP-r$r.txt")
    echo "round $r: pgbench -S tps=$tps"
    .venv/bin/python bench.py --dataset "$DATASET" --pgbench-tps "$tps" --label "round$r" \
        --out "$OUT/peer-$STAMP-r$r.json" >/dev/null
    PYTHONPATH=$ROOT/python "$PY" "$ROOT/python/bench/kbpeer.py" --dataset "$DATASET" --pgbench-tps "$tps" \
        --label "round$r" --out "$OUT/aiblox-$STAMP-r$r.json" >/dev/null
    # The Rust contract on the same cluster: what the server allows a client of this schema.
    "$ROOT/target/release/aiblox-bench" --database-url "postgresql://postgres@127.0.0.1:$PGPORT/kb_aiblox" \
        --schema kbrust --pgbench-seconds 0 --ceiling-seconds 0 --json-out "$OUT/rust-$STAMP-r$r.json" \
        >"$OUT/rust-$STAMP-r$r.txt" 2>&1
    "$PY" - "$OUT/peer-$STAMP-r$r.json" "$OUT/aiblox-$STAMP-r$r.json" "$OUT/rust-$STAMP-r$r.json" <<'PYEOF'
import json, sys
peer, ours, rust = (json.load(open(p))["phases"] for p in sys.argv[1:4])
print(f"  {'phase':10} {'peer':>9} {'aiblox_kb':>9} {'x peer':>7} {'Rust':>9} {'x peer':>7}")
for name in ("upsert", "get", "get_many", "search", "chunk_put", "chunk_get"):
    # Calls per second (rows per second for upsert, which the Rust report counts as its ops).
    key = lambda phase: "rows_per_s" if name == "upsert" and "rows_per_s" in phase else "ops_per_s"
    p, o, r = (phases[name][key(phases[name])] for phases in (peer, ours, rust))
    print(f"  {name:10} {p:>9,.0f} {o:>9,.0f} {o / p:>6.2f}x {r:>9,.0f} {r / p:>6.2f}x")
PYEOF
done
