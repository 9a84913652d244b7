#!/bin/bash
# the bench on CPU 0, every PostgreSQL process it starts on CPU 1
( while true; do for p in $(pgrep -f 'postgres -D|postgres: '); do taskset -pc 1 $p >/dev/null 2>&1; done; sleep 0.3; done ) &
W=$!
taskset -c 0 ./aiblox-bench-1138f96 --get-repeat 10 --pgbench-seconds 2 --ceiling-seconds 0 > exp_pinned_apart.txt 2>&1
kill $W
taskset -c 0 ./aiblox-bench-1138f96 --get-repeat 10 --pgbench-seconds 2 --ceiling-seconds 0 > exp_pinned_one_cpu.txt 2>&1
