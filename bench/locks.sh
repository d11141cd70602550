#!/usr/bin/env bash
# warp build of a uv-locked Django project against `uv sync --locked` alone,
# in one run: cold (no venv; the package cache warm for both, shared) and
# warm (nothing changed) builds, interleaved rounds, medians with their range.
# Not a test: run it by hand and copy the table into README.md.
#
#   bench/locks.sh [ROUNDS]     (after tests/run.sh has made the tools venv)
#
# Both run pinned to CPU 1 (taskset), with the same uv binary and cache.
# warp build runs as it is (the lock read, the venv, the install, the server
# extension, Django's collectstatic — reused on a warm build —, the record);
# uv sync only installs, so warp's own install step (its step line) is
# given too.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
rounds=${1:-5}
tools=${WARP_TEST_TOOLS:-$root/target/test-env/tools/bin}
[ -x "$tools/uv" ] || { echo "no uv in $tools: run tests/run.sh first" >&2; exit 1; }
cargo build --release -q
warp=$root/target/release/warp
export PATH="$tools:$PATH" UV_PYTHON_DOWNLOADS=never

work=$(mktemp -d /tmp/warp-bench-locks.XXXXXX)
trap 'rm -rf "$work"' EXIT
export UV_CACHE_DIR=$work/uv-cache
app=$work/app
mkdir -p "$app"
"$tools/django-admin" startproject mysite "$app"
cat > "$app/pyproject.toml" <<'TOML'
[project]
name = "mysite"
version = "0.1.0"
requires-python = ">=3.10"
dependencies = ["django>=4.2", "whitenoise"]

[dependency-groups]
dev = ["pytest-django"]
TOML
python=$(command -v python3)
(cd "$app" && uv lock -q --python "$python" -P django==4.2.16)
# Warm the shared cache once (both sides then install from it).
(cd "$app" && uv sync -q --locked --python "$python" && rm -rf .venv)

now() { date +%s.%N; }
elapsed() { echo "$(now) - $1" | bc; }
pin() { taskset -c 1 "$@"; }
uv_sync() { (cd "$app" && pin uv sync -q --locked --no-dev --python "$python"); }
echo 'STATIC_ROOT = BASE_DIR / "staticfiles"' >> "$app/mysite/settings.py"
warp_build() { (cd "$app" && pin "$warp" build --installer uv --python "$python" 2>"$work/warp.log") \
  || { cat "$work/warp.log" >&2; exit 1; }; }
# The seconds of warp's "Installing dependencies from uv.lock" step.
install_step() { sed -n 's/^==> Installing dependencies from uv.lock .*(\([0-9.]*\) s)$/\1/p' "$work/warp.log"; }

uc=(); uw=(); wc=(); ww=(); wi=()
load_before=$(uptime)
for _ in $(seq "$rounds"); do
  rm -rf "$app/.venv"; t=$(now); uv_sync; uc+=("$(elapsed "$t")")
  t=$(now); uv_sync; uw+=("$(elapsed "$t")")
  rm -rf "$app/.venv"; t=$(now); warp_build; wc+=("$(elapsed "$t")"); wi+=("$(install_step)")
  t=$(now); warp_build; ww+=("$(elapsed "$t")")
done
grep -q "install skipped" "$work/warp.log" || { echo "warm warp build did not skip the install" >&2; exit 1; }

stats() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END {m=(NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2; printf "%.3f s (%.3f–%.3f)", m, v[1], v[NR]}'; }
median() { printf '%s\n' "$@" | sort -n | awk '{v[NR]=$1} END {print (NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2}'; }
ratio() { echo "scale=2; $1 / $2" | bc; }
printf '\nload before: %s\nload after: %s\nrounds: %s, uv %s, %s\n' "$load_before" "$(uptime)" "$rounds" "$(uv --version | cut -d' ' -f2)" "$("$python" --version)"
printf '\n| measure | uv sync --locked | warp build | ratio | target |\n|---|---|---|---|---|\n'
printf '| cold (no venv, warm package cache) | %s | %s | %s | ≤ 1.10 |\n' "$(stats "${uc[@]}")" "$(stats "${wc[@]}")" "$(ratio "$(median "${wc[@]}")" "$(median "${uc[@]}")")"
printf '| cold, warp install step alone | %s | %s | %s | |\n' "$(stats "${uc[@]}")" "$(stats "${wi[@]}")" "$(ratio "$(median "${wi[@]}")" "$(median "${uc[@]}")")"
printf '| warm (nothing changed) | %s | %s | %s | < 0.3 s |\n' "$(stats "${uw[@]}")" "$(stats "${ww[@]}")" "$(ratio "$(median "${ww[@]}")" "$(median "${uw[@]}")")"
