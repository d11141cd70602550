#!/usr/bin/env bash
# Chaos soak: the Django app of bench/soak/ served by `warp start` (2
# processes x 4 threads, 127.0.0.1 only) at about 70 % of its capacity as wrk
# measures it, for DURATION seconds, while bench/soak/driver.py SIGKILLs
# workers, sends SIGHUP/SIGUSR1, opens slowloris connections and sends
# oversized bodies and malformed requests; --maximum-requests and
# --memory-limit recycle workers as well. Prints per-interval p50/p99, RSS,
# fds and zombies and the failures matched to their request ids; with
# --check it fails when an assertion does not hold (tests/run.sh: 90 s).
#
#   bench/soak.sh                        10 minutes, a row per minute
#   bench/soak.sh --duration 90 --interval 15 --check
#
# Needs wrk and python3; warp is target/debug/warp unless $WARP is set (the
# server extension is a release build either way). The report and the
# server's log go to target/soak/.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work="$root/target/soak"
warp="${WARP:-$root/target/debug/warp}"
[ -x "$warp" ] || { echo "soak: $warp is missing; run cargo build first" >&2; exit 1; }
command -v wrk >/dev/null || { echo "soak: wrk is missing (apt-get install wrk)" >&2; exit 1; }
mkdir -p "$work/app"
# The app is copied out of the source tree, so its venv is made there.
cp -r "$root/bench/soak/soaksite" "$root/bench/soak/requirements.txt" "$work/app/"
if [ ! -x "$work/app/.venv/bin/python" ] || ! "$work/app/.venv/bin/python" -c 'import django' 2>/dev/null; then
  "$warp" build --src "$work/app" >"$work/build.log" 2>&1 || { tail -n 20 "$work/build.log" >&2; exit 1; }
fi
exec python3 "$root/bench/soak/driver.py" --warp "$warp" --src "$work/app" --out "$work" "$@"
