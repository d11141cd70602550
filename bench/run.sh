#!/usr/bin/env bash
# Benchmark warp's WSGI worker against granian and gunicorn, side by side in
# ONE run: each server with 1 worker process pinned to CPU 0, wrk pinned to
# CPU 1, on the same apps — hello world, a Django JSON view, a Django view
# that waits 20 ms (time.sleep standing for a database), a 100 KB streamed
# response, a 1 MB upload — each at two settings:
#   1x1       1 worker process × 1 thread for every server;
#   defaults  1 worker process at each server's own defaults otherwise
#             (warp: its default threads; granian: its default blocking
#             threads; gunicorn: its sync worker).
# Figures per row: req/s, p99 latency, worker RSS, server CPU µs per request
# (the steadiest figure on a shared machine) and context switches per request
# (voluntary + involuntary, over every thread of the server's processes).
#
# Rounds are interleaved (every server and setting once per round, warp right
# before granian) and each figure is the MEDIAN over the rounds with its range;
# the ratios to granian are taken per round (same minute, same load from
# elsewhere) and their median is shown.
#
#   bench/run.sh                         all apps, both settings, 10 s runs, 3 rounds
#   DURATION=5 ROUNDS=5 bench/run.sh
#   APPS="hello django" SETTINGS=defaults SERVERS="warp granian" bench/run.sh
#   SERVERS="warp warp-off granian" ...  warp-off: warp with its timeouts and
#                                        limits off (what the recovery costs)
#   SERVERS="warp warp-base" WARP_BASE=/path/to/other/warp ...
#                                        warp against another build of warp (a
#                                        change's before and after, interleaved)
#   SETTINGS="t1 t2 t3 t5" SERVERS=warp  warp with N threads (tN), the others at
#                                        their defaults: how the default was chosen
#   SETTINGS="g2 g5" SERVERS=warp        the same, each growing to 32 (gN)
#   PROFILE=1 ROUNDS=1 APPS=hello ...    also record each measured run with
#                                        `perf record` (999 Hz) and write where the
#                                        server's CPU went, by binary and by function,
#                                        to target/bench/profile-SERVER-APP-SETTING.txt
#                                        (the figures of such a run carry perf's cost)
#
# warp runs as a user runs it: `warp build --src bench/apps` (a venv with
# Django in bench/apps/.venv), then `warp start TARGET --processes 1 …` — the
# supervisor and its one worker both pinned to CPU 0 (the supervisor does
# nothing per request). RSS is summed over each server's process tree.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bench="$root/target/bench"
venv="$bench/venv"
duration="${DURATION:-10}"
connections="${CONNECTIONS:-32}"
apps="${APPS:-hello django sleep stream upload}"
settings="${SETTINGS:-1x1 defaults}"
servers="${SERVERS:-warp granian gunicorn}"
rounds="${ROUNDS:-3}"
mkdir -p "$bench"

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
# The peers run as `python -m`, so a venv made under another checkout path still works.
if ! "$venv/bin/python" -c 'import granian, gunicorn, django' 2>/dev/null; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q granian gunicorn django
fi

# The warp binary (it embeds the server extension), and the bench app built by it.
cargo build -q --release
warp="$root/target/release/warp"
(unset WARP_APP_ROOT; "$warp" build --src "$root/bench/apps" >"$bench/warp-build.log" 2>&1) \
  || { tail -n 20 "$bench/warp-build.log" >&2; exit 1; }

export PYTHONPATH="$root/bench/apps" DJANGO_SETTINGS_MODULE=djbench.settings
port=18700

target_of() { # app -> module:callable
  case "$1" in
    hello) echo benchapps:hello ;; stream) echo benchapps:stream ;;
    upload) echo benchapps:upload ;; django|sleep) echo djbench.wsgi:application ;;
  esac
}
path_of() { case "$1" in django) echo /json ;; sleep) echo /sleep ;; *) echo / ;; esac; }

start_server() { # server setting target port -> pid of the process group leader
  local server=$1 setting=$2 target=$3 port=$4 warp_threads=() granian_threads=() gunicorn_threads=()
  case "$setting" in
    1x1) warp_threads=(--threads 1); granian_threads=(--blocking-threads 1); gunicorn_threads=(--threads 1) ;;
    t[0-9]*) warp_threads=(--threads "${setting#t}") ;;  # warp with N threads, the others at their defaults
    g[0-9]*) warp_threads=(--threads "${setting#g}" --max-threads 32) ;;  # N threads growing to 32
  esac
  case "$server" in
    warp) (unset WARP_APP_ROOT; exec setsid taskset -c 0 "$warp" start "$target" --src "$root/bench/apps" \
            --processes 1 "${warp_threads[@]}" --host 127.0.0.1 --port "$port" --keep-alive-timeout 30 \
            >"$bench/$server.log" 2>&1) & ;;
    warp-base) (unset WARP_APP_ROOT; exec setsid taskset -c 0 "${WARP_BASE:?WARP_BASE names the warp binary to compare}" \
            start "$target" --src "$root/bench/apps" \
            --processes 1 "${warp_threads[@]}" --host 127.0.0.1 --port "$port" --keep-alive-timeout 30 \
            >"$bench/$server.log" 2>&1) & ;;
    warp-off) (unset WARP_APP_ROOT; exec setsid taskset -c 0 "$warp" start "$target" --src "$root/bench/apps" \
            --processes 1 "${warp_threads[@]}" --host 127.0.0.1 --port "$port" --keep-alive-timeout 30 \
            --request-timeout 0 --queue-timeout 0 --header-timeout 0 --limit-request-body 0 \
            >"$bench/$server.log" 2>&1) & ;;
    granian) setsid taskset -c 0 "$venv/bin/python" -m granian --interface wsgi --workers 1 "${granian_threads[@]}" \
            --host 127.0.0.1 --port "$port" --no-ws "$target" >"$bench/$server.log" 2>&1 & ;;
    gunicorn) setsid taskset -c 0 "$venv/bin/python" -m gunicorn -w 1 "${gunicorn_threads[@]}" -b "127.0.0.1:$port" "$target" \
            >"$bench/$server.log" 2>&1 & ;;
  esac
  echo $!
}

wait_up() { # port
  for _ in $(seq 100); do
    curl -s -o /dev/null "http://127.0.0.1:$1/" && return 0
    sleep 0.1
  done
  echo "server on port $1 did not come up" >&2
  return 1
}

tree_pids() { # pid: it and all its descendants (warp's workers have their own process group)
  ps -e -o pid=,ppid= | awk -v root="$1" '
    { parent[$1] = $2; pids[NR] = $1 }
    END { for (i in pids) { p = pids[i]; q = p
            while (q != "" && q != 0 && q != 1) { if (q == root) { print p; break } q = parent[q] } } }'
}

cpu_ticks() { # pid: user+system clock ticks of the process tree
  local total=0 p
  for p in $(tree_pids "$1"); do
    total=$((total + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
  done
  echo $total
}

ctx_switches() { # pid: voluntary + involuntary context switches of every thread of the tree
  local total=0 p
  for p in $(tree_pids "$1"); do
    total=$((total + $(cat /proc/"$p"/task/*/status 2>/dev/null | awk '/ctxt_switches/ {n += $2} END {print n + 0}')))
  done
  echo $total
}

rss_kb() { # pid: RSS of the process and all its descendants
  local total=0 p
  for p in $(tree_pids "$1"); do
    total=$((total + $(awk '/VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)))
  done
  echo $total
}

to_ms() { # wrk latency like 1.23ms / 456.00us / 1.2s -> ms
  awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n *= 1; else if (v ~ /s$/) n *= 1000; printf "%.2f", n }'
}

results="$bench/results.tsv"
: >"$results"
for round in $(seq "$rounds"); do
for app in $apps; do
for setting in $settings; do
  for server in $servers; do
    port=$((port + 1))
    pid=$(start_server "$server" "$setting" "$(target_of "$app")" "$port")
    if ! wait_up "$port"; then kill -- -"$pid" 2>/dev/null || true; cat "$bench/$server.log"; continue; fi
    url="http://127.0.0.1:$port$(path_of "$app")"
    script=()
    [ "$app" = upload ] && script=(-s "$root/bench/upload.lua")
    conns=$connections
    [ "$app" = upload ] && conns=8
    taskset -c 1 wrk -t1 -c"$conns" -d2s "${script[@]}" "$url" >/dev/null 2>&1 || true   # warm-up
    ticks_before=$(cpu_ticks "$pid")
    switches_before=$(ctx_switches "$pid")
    profile=
    if [ -n "${PROFILE:-}" ]; then
      profile="$bench/perf-$server-$app-$setting.data"
      perf record -q -F 999 -g -o "$profile" -p "$(tree_pids "$pid" | paste -sd,)" -- sleep "$duration" >/dev/null 2>&1 &
      perf_pid=$!
    fi
    out=$(taskset -c 1 wrk -t1 -c"$conns" -d"${duration}s" --latency "${script[@]}" "$url" 2>&1)
    if [ -n "$profile" ]; then
      wait "$perf_pid" || true   # perf's status when its target exits first is not ours to fail on
      { echo "# $server, $app, $setting: share of the server's samples by binary, then by function (self)"
        # awk reads to the end: a `head` would end perf with SIGPIPE, which pipefail makes fatal.
        perf report -i "$profile" --stdio --no-children --sort dso 2>/dev/null | awk '/^ +[0-9.]+%/ && n++ < 8'
        echo
        perf report -i "$profile" --stdio --no-children --sort dso,sym -g none 2>/dev/null | awk '/^ +[0-9.]+%/ && n++ < 25'
      } >"$bench/profile-$server-$app-$setting.txt"
      rm -f "$profile"
    fi
    ticks=$(( $(cpu_ticks "$pid") - ticks_before ))
    switches=$(( $(ctx_switches "$pid") - switches_before ))
    requests=$(echo "$out" | awk '/requests in/ {print $1}')
    # server CPU per request (µs): robust to other load stealing the CPU
    cpu_us=$(awk -v t="$ticks" -v n="${requests:-0}" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.1f", (n > 0 ? t * 1e6 / hz / n : 0) }')
    cs=$(awk -v s="$switches" -v n="${requests:-0}" 'BEGIN { printf "%.3f", (n > 0 ? s / n : 0) }')
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    p99=$(to_ms "$(echo "$out" | awk '$1 == "99%" {print $2}')")
    errors=$(echo "$out" | awk '/Non-2xx|Socket errors/ {print}' | tr '\n' ' ')
    rss=$(rss_kb "$pid")
    kill -TERM -- -"$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- -"$pid" 2>/dev/null || true
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$app" "$setting" "$server" "${rps:-0}" "$p99" "$rss" "$cpu_us" "$cs" "$errors" | tee -a "$results"
  done
done
done
done

echo
echo "warp benchmark — $(date -u +%Y-%m-%d), $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "1 worker each on CPU 0, wrk -t1 -c$connections (upload: -c8) ${duration}s on CPU 1; median [min–max] of $rounds interleaved rounds"
echo
python3 "$root/bench/table.py" "$results"
