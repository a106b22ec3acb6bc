#!/bin/sh
# Compile and lint checks of the whole workspace for the systems we cannot run here:
# FreeBSD (kqueue, poll) and macOS (kqueue, poll). Needs only the Rust targets' standard
# libraries (no C toolchain: no crate of the workspace has a C build script). Idempotent.
#
#   .ci/cross.sh                          # both targets
#   LWT_CROSS_TARGETS=aarch64-apple-darwin .ci/cross.sh
set -eu

cd "$(dirname "$0")/.."
TARGETS=${LWT_CROSS_TARGETS:-"x86_64-unknown-freebsd aarch64-apple-darwin"}

status=0
for t in $TARGETS; do
    rustup target add "$t"
    echo "cross.sh: cargo clippy --target $t"
    if ! cargo clippy --workspace --all-targets --target "$t" -- -D warnings; then
        echo "cross.sh: FAILED: $t" >&2
        status=1
    fi
done
exit $status
