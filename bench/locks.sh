#!/usr/bin/env bash
# A uv-locked Django project, in one run:
# - `warp build` against `uv sync --locked --no-dev` alone: cold (no venv;
#   the package cache warm for both, shared) and warm (nothing changed);
# - `warp image` against `podman build` of a Containerfile that runs uv in
#   the same steps (uv sync --locked --no-dev into a venv on the same Debian +
#   python3 base, then collectstatic): cold (no layer; the package cache warm
#   for both) and warm (nothing changed).
# Interleaved rounds, medians with their range. Not a test: run it by hand on
# a quiet machine and copy the table into README.md.
#
#   bench/locks.sh              (after tests/run.sh has made the tools venv and the base image)
#   ROUNDS=9 bench/locks.sh     more rounds (default 5)
#
# Every build runs pinned to CPU 1 (taskset; podman's and warp's helpers
# inherit it), with the same uv binary, after `sync` (the page cache written
# back, as bench/image.sh does).
#
# warp build runs as it is: the lock read, the venv, the install, the server
# extension, the record, and Django's collectstatic — or, when nothing the
# static files are made from changed, the files collected last time (the
# stamp kept in the user's cache finds them after `rm -rf .venv`, since
# STATIC_ROOT is in the source here). uv sync only installs, so the table
# also gives warp's cold build with collectstatic forced (WARP_COLLECTSTATIC=
# always) and warp's own install step (its step line).
#
# Images: podman's cold build is `--no-cache` with its base in its storage and
# uv's cache bind-mounted (warm); warp's starts from a cache holding the
# imported, unpacked base and uv's cache (warm), without any layer, tree or
# collected static files. Both load the image into podman's storage.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
rounds=${ROUNDS:-${1:-5}}
tools=${WARP_TEST_TOOLS:-$root/target/test-env/tools/bin}
base=${WARP_TEST_BASE_IMAGE:-localhost/warp-test/debian-python:bookworm}
export CONTAINERS_CONF=${CONTAINERS_CONF:-$root/target/test-env/containers.conf}
[ -x "$tools/uv" ] || { echo "no uv in $tools: run tests/run.sh first" >&2; exit 1; }
podman image exists "$base" || { echo "no $base: run tests/run.sh first" >&2; exit 1; }
cargo build --release -q
warp=$root/target/release/warp
export PATH="$tools:$PATH" UV_PYTHON_DOWNLOADS=never

work=$(mktemp -d /tmp/warp-bench-locks.XXXXXX)
trap 'rm -rf "$work"; podman rmi -f localhost/bench/locks-podman localhost/bench/locks-warp >/dev/null 2>&1 || true' EXIT
export UV_CACHE_DIR=$work/uv-cache
# warp build keeps its static stamps in one cache, warp image its trees in another.
image_cache=$work/image-cache
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
echo 'STATIC_ROOT = BASE_DIR / "staticfiles"' >> "$app/mysite/settings.py"
python=$(command -v python3)
(cd "$app" && uv lock -q --python "$python" -P django==4.2.16)
# The image builds get their own copy of the source (no venv or collected
# files of the local builds in it).
cp -a "$app" "$work/image-app"
podman save --format oci-archive -o "$work/base.tar" "$base" >/dev/null 2>&1

cat > "$work/Containerfile" <<CONTAINERFILE
FROM $base
ENV APP_ROOT=/opt/app-root LANG=C.UTF-8 VIRTUAL_ENV=/opt/app-root/venv \\
    PATH=/opt/app-root/venv/bin:/usr/local/bin:/usr/bin:/bin
WORKDIR /opt/app-root/src
COPY pyproject.toml uv.lock ./
RUN UV_CACHE_DIR=/uv-cache UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never \\
    UV_PROJECT_ENVIRONMENT=/opt/app-root/venv SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \\
    uv sync --locked --no-dev --no-install-project --python /usr/bin/python3
COPY . .
RUN python manage.py collectstatic --noinput
RUN chgrp -R 0 /opt/app-root && chmod -R g=u /opt/app-root
USER 1001:0
EXPOSE 8080
CMD ["python", "manage.py", "runserver", "0.0.0.0:8080"]
CONTAINERFILE

now() { date +%s.%N; }
elapsed() { echo "$(now) - $1" | bc; }
pin() { taskset -c 1 "$@"; }
uv_sync() { (cd "$app" && pin uv sync -q --locked --no-dev --python "$python"); }
warp_build() { (cd "$app" && WARP_CACHE_DIR=$work/local-cache pin "$warp" build --installer uv --python "$python" 2>"$work/warp.log") \
  || { cat "$work/warp.log" >&2; exit 1; }; }
# The seconds of warp's "Installing dependencies from uv.lock" step.
install_step() { sed -n 's/^==> Installing dependencies from uv.lock .*(\([0-9.]*\) s)$/\1/p' "$work/warp.log"; }
podman_build() {
  pin podman build --network host -v /etc/ssl/certs:/etc/ssl/certs:ro \
    -v "$tools/uv:/usr/local/bin/uv:ro" -v "$work/podman-uv-cache:/uv-cache" "$@" \
    -f "$work/Containerfile" -t localhost/bench/locks-podman "$work/image-app" >"$work/podman.log" 2>&1 \
    || { cat "$work/podman.log" >&2; exit 1; }
}
warp_image() {
  (cd "$work/image-app" && SOURCE_DATE_EPOCH=1700000000 WARP_CACHE_DIR=$image_cache \
    pin "$warp" image localhost/bench/locks-warp --base "oci-archive:$work/base.tar" >/dev/null 2>"$work/image.log") \
    || { cat "$work/image.log" >&2; exit 1; }
}
# warp's cold image build: the cache keeps the imported, unpacked base and
# uv's cache; every layer, tree, index and collected static tree goes.
image_cache_cold() {
  local cache=$image_cache
  rm -rf "$cache/index" "$cache/tmp"
  find "$cache/roots" -mindepth 1 -maxdepth 1 ! -name 'base-*' -exec rm -rf {} +
  find "$cache/build-cache" -mindepth 1 -maxdepth 1 ! -name uv -exec rm -rf {} +
}

# Warm every cache once: uv's (shared by uv sync and warp build), podman's
# mounted uv cache, warp's image cache (base imported) and the static stamp.
mkdir -p "$work/podman-uv-cache"
(cd "$app" && uv sync -q --locked --python "$python" && rm -rf .venv)
warp_build
podman_build --no-cache
warp_image

# One measured build: its set-up, sync, then the timed command; the seconds
# are appended to $work/times/ROW.
measure() { # ROW
  local row=$1 t
  case $row in
    uv_cold) rm -rf "$app/.venv"; sync; t=$(now); uv_sync ;;
    uv_warm) sync; t=$(now); uv_sync ;;
    warp_cold) rm -rf "$app/.venv"; sync; t=$(now); warp_build; install_step >> "$work/times/warp_install" ;;
    warp_cold_collect) rm -rf "$app/.venv"; sync; t=$(now); WARP_COLLECTSTATIC=always warp_build ;;
    warp_warm) sync; t=$(now); warp_build ;;
    podman_cold) sync; t=$(now); podman_build --no-cache ;;
    podman_warm) sync; t=$(now); podman_build ;;
    image_cold) image_cache_cold; sync; t=$(now); warp_image ;;
    image_warm) sync; t=$(now); warp_image ;;
  esac
  elapsed "$t" >> "$work/times/$row"
  case $row in
    warp_cold) grep -q "Static files unchanged" "$work/warp.log" \
      || { echo "the cold warp build did not reuse the static files" >&2; exit 1; } ;;
    warp_warm) grep -q "install skipped" "$work/warp.log" \
      || { echo "the warm warp build did not skip the install" >&2; exit 1; } ;;
    podman_warm) ! grep -q "Installed [0-9]* packages" "$work/podman.log" \
      || { echo "the warm podman build ran uv sync again (no layer cache)" >&2; exit 1; } ;;
  esac
}

# Each row's cold build comes before its warm one; the pairs rotate from round
# to round so that no pair always runs first or after the same neighbour.
pairs=("uv_cold uv_warm" "warp_cold warp_warm" "warp_cold_collect" "podman_cold podman_warm" "image_cold image_warm")
mkdir -p "$work/times"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for ((r = 0; r < rounds; r++)); do
  order=("${pairs[@]:r % ${#pairs[@]}}" "${pairs[@]:0:r % ${#pairs[@]}}")
  echo "### round $((r + 1))/$rounds: ${order[*]}" >&2
  for pair in "${order[@]}"; do
    for row in $pair; do measure "$row"; done
  done
done

printf '\nload average before: %s, after: %s\nrounds: %s, uv %s, %s, podman %s\n' "$load_before" \
  "$(cut -d' ' -f1-3 /proc/loadavg)" "$rounds" "$(uv --version | cut -d' ' -f2)" "$("$python" --version)" \
  "$(podman --version | cut -d' ' -f3)"
python3 - "$work/times" <<'PY'
import statistics, sys, pathlib
times = pathlib.Path(sys.argv[1])
def row(name):
    xs = sorted(float(x) for x in (times / name).read_text().split())
    return statistics.median(xs), xs[0], xs[-1]
def fmt(m, lo, hi):
    return f"{m:.2f} s ({lo:.2f}–{hi:.2f})"
print("\n| measure | peer | peer's time | warp | ratio of medians | target |\n|---|---|---|---|---|---|")
for label, peer, name, theirs, target in [
    ("cold build (no venv, warm package cache)", "uv sync --locked", "warp_cold", "uv_cold", "≤ 1.10"),
    ("cold build, collectstatic forced", "uv sync --locked", "warp_cold_collect", "uv_cold", ""),
    ("cold build, warp's install step alone", "uv sync --locked", "warp_install", "uv_cold", ""),
    ("warm build (nothing changed)", "uv sync --locked", "warp_warm", "uv_warm", "< 0.3 s"),
    ("cold image (no layer, warm package cache)", "podman build (uv sync)", "image_cold", "podman_cold", ""),
    ("warm image (nothing changed)", "podman build (uv sync)", "image_warm", "podman_warm", ""),
]:
    w, p = row(name), row(theirs)
    print(f"| {label} | {peer} | {fmt(*p)} | {fmt(*w)} | {w[0] / p[0]:.2f} | {target} |")
PY
