#!/usr/bin/env bash
# User-space instructions per echo round trip, per server, counted by callgrind: a figure that
# does not move with the machine's load, unlike CPU time (which on a shared VM varies by 5-10%
# between runs, more than the differences it is asked to show).
#
#   bash bench/callgrind.sh [CONNS] [SCALE]        # defaults: 1 and 0.02
#   BENCH=path/to/loop bash bench/callgrind.sh 50 0.1
#
# The loop benchmark's echo (`--bin loop`, BENCH_ONLY=echo) runs twice under
# `valgrind --tool=callgrind --separate-threads=yes`, at SCALE and at twice SCALE; the
# difference of each server thread's instruction count between the two runs, over the
# difference of round trips, is what one round trip costs in user space (start-up, accepts and
# warm-up cancel out). Only user space is counted: the system calls' kernel time, the same
# for every server making the same calls, is not. Valgrind runs the threads one at a time, so
# at many connections the batching of events differs from a native run (and between runs).
#
# Needs valgrind (apt-get install valgrind) and a release build of the bench.
set -euo pipefail
conns=${1:-1}
scale=${2:-0.02}
here=$(cd "$(dirname "$0")" && pwd)
bench=${BENCH:-$here/target/release/loop}
[ -x "$bench" ] || cargo build --release --manifest-path "$here/Cargo.toml" --bin loop
command -v valgrind >/dev/null || { echo "callgrind.sh: valgrind is not installed" >&2; exit 2; }
reps=$(sed -n 's/^pub const REPS: usize = \([0-9]*\);/\1/p' "$here/src/echo.rs")
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

# run NAME SCALE: prints "<server> <instructions>" per server thread, and the rounds.
run() {
    BENCH_SCALE=$2 BENCH_PEERS=${BENCH_PEERS:-lwt,tokio,epoll} BENCH_ONLY=echo BENCH_CONNS=$conns \
        BENCH_PLOTS=off valgrind --tool=callgrind --separate-threads=yes \
        --callgrind-out-file="$out/$1.%p" "$bench" >"$out/$1.log" 2>&1
    sed -n 's/^echo, [0-9]* connection(s), \([0-9]*\) rounds per segment.*/rounds \1/p' "$out/$1.log"
    for f in "$out/$1".*-*; do
        local who=""
        if grep -q "lwt_core::driver::Driver::turn" "$f"; then who=lwt
        elif grep -q "tokio::runtime::scheduler::current_thread" "$f"; then who=tokio
        elif grep -q "serve_smol" "$f"; then who=smol
        elif grep -q "serve_epoll" "$f"; then who=epoll
        fi
        if [ -n "$who" ]; then echo "$who $(sed -n 's/^summary: //p' "$f" | head -1)"; fi
    done
}

a=$(run a "$scale")
b=$(run b "$(awk -v s="$scale" 'BEGIN { print 2 * s }')")
awk -v conns="$conns" -v reps="$reps" -v A="$a" -v B="$b" 'BEGIN {
    n = split(A, la, "\n"); for (i = 1; i <= n; i++) { split(la[i], f, " "); a[f[1]] = f[2] }
    n = split(B, lb, "\n"); for (i = 1; i <= n; i++) { split(lb[i], f, " "); b[f[1]] = f[2] }
    rts = conns * (b["rounds"] - a["rounds"]) * (1 + reps)
    printf "user-space instructions per echo round trip, %d connection(s), %d round trips apart:\n", conns, rts
    for (k in b) if (k != "rounds") per[k] = (b[k] - a[k]) / rts
    for (k in per) printf "  %-6s %8.0f\n", k, per[k]
    if ("lwt" in per && "tokio" in per) printf "  lwt/tokio = %.3f\n", per["lwt"] / per["tokio"]
    if ("lwt" in per && "epoll" in per) printf "  lwt/epoll = %.3f\n", per["lwt"] / per["epoll"]
}'
