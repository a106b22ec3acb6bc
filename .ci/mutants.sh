#!/usr/bin/env bash
# Mutation testing with cargo-mutants of core/, jobs/, backends/ and syscalls' descriptor and
# signal modules, each group of files against the tests that exercise it (see docs/testing.md).
# Not part of .ci/run: a full pass takes hours on 2 cores.
#
#   bash .ci/mutants.sh                 every group
#   bash .ci/mutants.sh scheduler pool  some groups (names below)
#   bash .ci/mutants.sh --list          the groups, and how many mutants each has
#
# MUTANTS_REV=COMMIT tests that commit instead of the work tree (for a "before" count);
# LWT_MUTANTS_DIR is the scratch copy (default $TMPDIR/lwt-mutants); MUTANTS_OUT the results'
# folder (default mutants.out). Extra cargo-mutants options go in MUTANTS_ARGS (e.g.
# MUTANTS_ARGS="-F 'scheduler.rs:2[0-9][0-9]:'" for some mutants, or "--iterate" to test again
# only what the last run of a group did not catch). MUTANTS_TIMEOUT: seconds before a mutant's
# tests count as hung (default 90; when set, the script runs the unmutated tests itself, with
# no bound, first). LWT_BACKEND=epoll runs each behaviour test on one backend only (faster; a
# mutant only another backend's run would catch then counts as missed).
# Results: mutants.out/GROUP/mutants.out/{caught,missed,timeout,unviable}.txt, and one line of
# counts per group at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export CARGO_TERM_COLOR=never CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-2}
# A hung mutant fails its test within this (the tests' own deadline helper), not the suite's 120s.
export LWT_TEST_DEADLINE_SECS=${LWT_TEST_DEADLINE_SECS:-30}

# name | files (cargo-mutants -f globs) | packages whose tests run | cargo test arguments
groups=(
    "scheduler|core/src/scheduler.rs|lwt lwt-core|--lib --test runtime --test runtime_drop --test loop_fairness --test loop_ownership --test metrics --test jobs_switch --test embed --test process_fork_runtime --test process_fork_inflight"
    "timers|core/src/driver/timers.rs core/src/time.rs|lwt lwt-core|--lib --test timers --test time_ergonomics --test runtime --test runtime_drop --test metrics --test pick"
    "driver|core/src/driver/mod.rs core/src/driver/io.rs core/src/reactor.rs|lwt lwt-core|--lib --test io_wakeups --test reactor_source --test runtime --test fd_runtimes --test fd_abort_pending --test net_echo --test notification --test embed --test timers --test process_fork_busy --test process_fork_runtime --test backend_errors --test metrics --test backend_faults --test runtime_drop --test loop_idle --test time_ergonomics --features lwt/fault-injection"
    "switch|core/src/switch.rs core/src/context.rs core/src/cell.rs|lwt lwt-core|--lib --test jobs_switch --test jobs_methods --test loop_ownership --test runtime --test runtime_drop --test process_fork_runtime --test switch_watchdog_idle"
    "core-rest|core/src/notification.rs core/src/metrics.rs core/src/embed.rs core/src/fork.rs core/src/combine.rs core/src/key.rs core/src/error.rs core/src/backend.rs core/src/runtime.rs|lwt lwt-core|--lib --test notification --test metrics --test embed --test process_fork_runtime --test pick --test runtime --test runtime_drop --test backend_errors"
    "jobs|jobs/src/pool.rs jobs/src/method.rs|lwt lwt-jobs|--lib --test jobs_pool --test jobs_pool_full --test jobs_pool_wake_race --test jobs_abort --test jobs_methods --test jobs_keep_alive --test jobs_default_method --test jobs_env --test jobs_switch --test metrics --test jobs_abort_many --test process_fork --test process_fork_jobs"
    # The ring's file operations (as jobs): run it with LWT_BACKEND=io_uring, the one backend
    # that takes this path.
    "kernel|jobs/src/kernel.rs|lwt lwt-jobs|--lib --test fs_ring --test fs_iovec --test fs_openfile --test fs_stat --test fs_dup --test process_fork_inflight"
    "epoll|backends/src/epoll.rs backends/src/select.rs|lwt lwt-backends|--lib --test backend_errors --test backend_fallback --test backend_select --test runtime --test fd_runtimes --test net_echo --test poll_high_fd --test loop_idle --test loop_cloexec --test io_wakeups --test metrics --test embed --test process_fork_runtime --test process_fork_inflight --test fs_ring"
    "poll|backends/src/poll.rs|lwt lwt-backends|--lib --test backend_errors --test runtime --test fd_runtimes --test net_echo --test poll_high_fd --test loop_idle --test loop_cloexec --test io_wakeups --test metrics --test embed --test process_fork_runtime --test process_fork_inflight"
    "uring|backends/src/uring/mod.rs backends/src/uring/completions.rs|lwt lwt-backends|--lib --test backend_errors --test backend_fallback --test runtime --test fd_runtimes --test fs_ring --test net_echo --test loop_idle --test loop_cloexec --test io_wakeups --test metrics --test embed --test process_fork_runtime --test process_fork_inflight"
    # Compiled on Linux only for its unit tests (polling over epoll stands in for kqueue/IOCP).
    "poller|backends/src/poller.rs|lwt-backends|--lib"
    "fd|syscalls/src/fd.rs|lwt lwt-syscalls|--lib --test fd_abort_pending --test fd_runtimes --test fs_openfile --test fs_dup --test fs_bad_input --test net_echo --test net_faults --test poll_high_fd --test fd_close_in_flight --test net_streams --test net_streams_unix --test fd_state --test fs_ring"
    "signal|syscalls/src/signal.rs|lwt lwt-syscalls|--lib --test signal_handlers --test signal_chaining --test signal_numbers --test signal_runtimes --test signal_sigpipe --test signal_storm --test signal_streams --test signal_default_actions --test process_fork"
)
# Not mutated here: backends/src/{kqueue,iocp}.rs (not compiled on Linux: every mutant would
# "survive" untested; they are linted by .ci/cross.sh and iocp runs under Wine in .ci/run).

if ! command -v cargo-mutants >/dev/null; then
    cargo install --locked cargo-mutants
fi

# cargo-mutants mutates a scratch copy in place: the work tree is never touched, and the copy's
# target/ stays warm from one group (and one run) to the next.
scratch=${LWT_MUTANTS_DIR:-${TMPDIR:-/tmp}/lwt-mutants}
sync_scratch() {
    mkdir -p "$scratch"
    # Every source file afresh (also undoing a mutant left behind by an interrupted run): the
    # work tree, or the commit MUTANTS_REV (to measure the tests of an earlier commit). Only
    # files whose content differs are copied, with a new mtime, so cargo rebuilds just those.
    local src=$root
    if [ -n "${MUTANTS_REV:-}" ]; then
        src=$scratch.rev
        rm -rf "$src" && mkdir -p "$src"
        git -C "$root" archive "$MUTANTS_REV" | tar -C "$src" -xf -
    fi
    files() {
        (cd "$1" && find . \( -path ./target -o -path ./.git -o -path ./bench/target \
            -o -path ./examples/console/target -o -name 'mutants.out*' \) -prune \
            -o -type f -print | sort)
    }
    files "$src" | while read -r f; do
        if ! cmp -s "$src/$f" "$scratch/$f"; then
            mkdir -p "$(dirname "$scratch/$f")" && cp "$src/$f" "$scratch/$f"
        fi
    done
    # A file the source does not have (a test added after MUTANTS_REV) would be built and run
    # with the others: remove it.
    comm -13 <(files "$src") <(files "$scratch") | while read -r f; do rm -f "$scratch/$f"; done
}

file_args() { for f in $1; do printf -- '-f\n%s\n' "$f"; done; }
# cargo-mutants tests the mutated package; `-p` among the test arguments adds the others.
pkg_args() { for p in $1; do printf -- '-p\n%s\n' "$p"; done; }

# MUTANTS_ARGS is shell words (quotes allowed).
eval "extra=(${MUTANTS_ARGS:-})"
wanted=("$@")
list=false
if [ "${1:-}" = "--list" ]; then list=true; wanted=(); fi
sync_scratch
summary=()
for g in "${groups[@]}"; do
    IFS='|' read -r name files pkgs targs <<<"$g"
    if [ ${#wanted[@]} -gt 0 ] && [[ ! " ${wanted[*]} " =~ \ $name\  ]]; then continue; fi
    mapfile -t fa < <(file_args "$files")
    if $list; then
        printf '%-10s %4d mutants  %s\n' "$name" \
            "$(cd "$scratch" && cargo mutants --workspace --list --exclude-re 'tests::' "${fa[@]}" 2>/dev/null | wc -l)" "$files"
        continue
    fi
    mapfile -t pa < <(pkg_args "$pkgs")
    # Only the test binaries the tested tree has (MUTANTS_REV may predate some).
    ta=()
    # shellcheck disable=SC2086 # the test arguments are words
    set -- $targs
    while [ $# -gt 0 ]; do
        if [ "$1" = --test ]; then
            [ -f "$scratch/tests/$2.rs" ] && ta+=(--test "$2")
            shift 2
        else
            ta+=("$1") && shift
        fi
    done
    out="$root/${MUTANTS_OUT:-mutants.out}/$name"
    mkdir -p "$out"
    printf '\n=== mutants: %s (%s)\n' "$name" "$files"
    # --in-place runs one mutant at a time (as -j 1 would): the machine's other work keeps its cores.
    rc=0
    # cargo-mutants bounds its unmutated ("baseline") run by --timeout too, and that first run
    # is slower (cold caches, a busy machine): with a short MUTANTS_TIMEOUT the script runs the
    # baseline itself, unbounded, and tells cargo-mutants to skip its own.
    baseline=()
    if [ -n "${MUTANTS_TIMEOUT:-}" ]; then
        baseline=(--baseline=skip)
        if ! (cd "$scratch" && cargo test "${pa[@]}" "${ta[@]}"); then
            summary+=("$(printf '%-10s NOT MEASURED: the unmutated tree fails its tests' "$name")")
            continue
        fi
    fi
    # Test code is not mutated: cargo-mutants skips `#[cfg(test)]` modules but not one under
    # `#[cfg(all(test, unix))]` (poller.rs), hence the exclusion by name.
    (cd "$scratch" && cargo mutants --workspace --in-place --timeout "${MUTANTS_TIMEOUT:-90}" \
        --build-timeout 900 --output "$out" --exclude-re 'tests::' "${baseline[@]}" "${fa[@]}" "${extra[@]}" \
        -- "${pa[@]}" "${ta[@]}") || rc=$?
    # 2 (some missed) and 3 (some timed out) are results, the counts below say them; anything
    # else (1 usage, 4 the unmutated tree fails its tests) means the group was not measured.
    if [ "$rc" != 0 ] && [ "$rc" != 2 ] && [ "$rc" != 3 ]; then
        summary+=("$(printf '%-10s NOT MEASURED: cargo mutants exited %s' "$name" "$rc")")
        sync_scratch
        continue
    fi
    sync_scratch
    c() { if [ -f "$out/mutants.out/$1.txt" ]; then wc -l <"$out/mutants.out/$1.txt"; else echo 0; fi; }
    summary+=("$(printf '%-10s caught %4d  missed %4d  unviable %4d  timeout %4d' "$name" \
        "$(c caught)" "$(c missed)" "$(c unviable)" "$(c timeout)")")
done
printf '\n=== summary\n'
printf '%s\n' "${summary[@]}"
