#!/bin/sh
# Builds lwt's Windows subset tests for x86_64-pc-windows-gnu and runs them under Wine on the
# IOCP backend. Installs what it needs (mingw-w64, Wine, the Rust target) on a fresh Debian;
# safe to run again. Non-interactive: no display, a fresh Wine prefix under /tmp.
#
#   .ci/windows.sh            # install if needed, build, run
#   LWT_WINDOWS_TESTS="windows_timers windows_jobs" .ci/windows.sh   # a subset
set -eu

cd "$(dirname "$0")/.."
TARGET=x86_64-pc-windows-gnu
TESTS=${LWT_WINDOWS_TESTS:-"windows_timers windows_notifications windows_jobs windows_pick windows_tcp_echo net_streams macros time_ergonomics"}

# --- tools -------------------------------------------------------------------------------
WINE=/usr/lib/wine/wine64
if ! command -v x86_64-w64-mingw32-gcc >/dev/null 2>&1 || [ ! -x "$WINE" ]; then
    SUDO=
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends \
        gcc-mingw-w64-x86-64 wine64
fi
rustup target add "$TARGET"

# --- build -------------------------------------------------------------------------------
set --
for t in $TESTS; do
    set -- "$@" --test "$t"
done
# The test executables, as cargo reports them (one JSON line per artifact).
EXES=$(cargo test --no-run --target "$TARGET" --message-format=json "$@" |
    grep -o '"executable":"[^"]*\.exe"' | sed 's/^"executable":"//; s/"$//')
[ -n "$EXES" ] || { echo "windows.sh: no test executable was built" >&2; exit 1; }

# The ProcessPrng shim (Wine 8 lacks it; Rust's std needs it), beside the executables.
DEPS=target/$TARGET/debug/deps
SHIM=$DEPS/bcryptprimitives.dll
if [ ! -f "$SHIM" ] || [ .ci/shim/bcryptprimitives.c -nt "$SHIM" ] || [ .ci/shim/bcryptprimitives.def -nt "$SHIM" ]; then
    x86_64-w64-mingw32-gcc -O2 -shared -o "$SHIM" \
        .ci/shim/bcryptprimitives.c .ci/shim/bcryptprimitives.def -lbcrypt
fi

# --- run ---------------------------------------------------------------------------------
WINEPREFIX=$(mktemp -d /tmp/lwt-wine.XXXXXX)
export WINEPREFIX
trap 'WINEPREFIX=$WINEPREFIX /usr/lib/wine/wineserver -k 2>/dev/null || true; rm -rf "$WINEPREFIX"' EXIT
export WINEDEBUG=-all
# No Mono or Gecko installer prompts; our bcryptprimitives.dll before Wine's.
export WINEDLLOVERRIDES="mscoree=;mshtml=;bcryptprimitives=n,b"
unset DISPLAY WAYLAND_DISPLAY
export LWT_BACKEND=iocp

# Creating the prefix takes a while; do it once, up front, so test times are honest.
"$WINE" wineboot --init >/dev/null 2>&1 || true

status=0
for exe in $EXES; do
    echo "windows.sh: $(basename "$exe") under Wine, LWT_BACKEND=$LWT_BACKEND"
    if ! timeout 300 "$WINE" "$exe" --test-threads=1; then
        echo "windows.sh: FAILED: $exe" >&2
        status=1
    fi
done
exit $status
