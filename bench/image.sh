#!/usr/bin/env bash
# warp image vs `podman build` with a requirements-first Containerfile, on the
# same Debian+python3 base and the same Django app (admin static files
# collected): cold build, code-only rebuild, and size added over the base.
# Not a test: run it by hand and copy the table into README.md.
#
#   bench/image.sh            (after tests/run.sh has made the base image)
#   ROUNDS=9 bench/image.sh   more rounds (default 5)
#   ROWS="warp_code warp_code_bare warp_code_attest" bench/image.sh   some rows only
#
# One build of a row can differ from the next by a factor of two on this kind
# of VM (its disk's file-creation cost moves from minute to minute), so every
# row is measured ROUNDS times, podman and warp interleaved and the rows'
# order rotated from round to round, with the page cache written back (sync)
# before each measured build; the table gives each row's median and range,
# and the ratio of the medians. The load average and the kernel's I/O
# pressure and dirty-page figures are printed before and after.
#
# Both builds reach PyPI through the host's CA bundle; neither reuses a pip
# cache or a layer on the cold build (podman: --no-cache; warp: a cache with
# only the unpacked base, as podman has its base in its storage — and, for
# the record, an empty WARP_CACHE_DIR, where warp also imports and unpacks it).
# warp's figures are given twice: with the image written as an OCI layout
# (what a push would send) and with it loaded into podman (like podman build).
# The install inside the build against the same install on the host: the
# uv_cold row's "Installing dependencies" step line against host_install,
# `uv pip install -r requirements.txt` into a new venv with an empty uv cache.
# What the SBOMs, the provenance and the signature cost on a code-only
# rebuild: the same rebuild pushed to a local docker-registry (Debian's) with
# all of them (--sbom FILE, attachments, --sign-key) and with none
# (--attach=false), in the same rounds; the difference of the medians.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
base=${WARP_TEST_BASE_IMAGE:-localhost/warp-test/debian-python:bookworm}
export CONTAINERS_CONF=${CONTAINERS_CONF:-$root/target/test-env/containers.conf}
tools=${WARP_TEST_TOOLS:-$root/target/test-env/tools/bin}
podman image exists "$base" || { echo "no $base: run tests/run.sh first" >&2; exit 1; }
cargo build --release -q
warp=$root/target/release/warp

work=$(mktemp -d /tmp/warp-bench-image.XXXXXX)
trap 'rm -rf "$work"; podman rmi -f localhost/bench/podman-app localhost/bench/warp-app >/dev/null 2>&1 || true' EXIT
app=$work/app
mkdir -p "$app"
"$tools/django-admin" startproject mysite "$app"
echo 'django' > "$app/requirements.txt"
echo 'STATIC_ROOT = BASE_DIR / "staticfiles"' >> "$app/mysite/settings.py"
podman save --format oci-archive -o "$work/base.tar" "$base" >/dev/null 2>&1

# The local registry the push rows push to, and the signing key.
reg_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$work/registry.yml" <<YML
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $work/registry}}
http: {addr: 127.0.0.1:$reg_port}
YML
docker-registry serve "$work/registry.yml" >/dev/null 2>&1 &
reg_pid=$!
trap 'kill "$reg_pid" 2>/dev/null; rm -rf "$work"; podman rmi -f localhost/bench/podman-app localhost/bench/warp-app >/dev/null 2>&1 || true' EXIT
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$reg_port/v2/" >/dev/null && break; sleep 0.1; done
openssl ecparam -name prime256v1 -genkey -noout -out "$work/sign.pem" 2>/dev/null
pushed="docker://127.0.0.1:$reg_port/bench/warp-app:1"
attest=(--output "oci:$work/layout" --output "$pushed" --sbom "$work/sbom.spdx.json" --sign-key "$work/sign.pem")
bare=(--output "oci:$work/layout" --output "$pushed" --attach=false)

cat > "$work/Containerfile" <<CONTAINERFILE
FROM $base
ENV APP_ROOT=/opt/app-root LANG=C.UTF-8 PATH=/opt/app-root/bin:/usr/local/bin:/usr/bin:/bin
RUN python3 -m venv /opt/app-root
WORKDIR /opt/app-root/src
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN python manage.py collectstatic --noinput
RUN chgrp -R 0 /opt/app-root && chmod -R g=u /opt/app-root
USER 1001:0
EXPOSE 8080
CMD ["python", "manage.py", "runserver", "0.0.0.0:8080"]
CONTAINERFILE

now() { date +%s.%N; }
elapsed() { echo "$(now) - $1" | bc; }
size_of() { podman image inspect --format '{{.Size}}' "$1"; }
disk_state() {
  printf 'load: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
  printf 'io pressure: %s\n' "$(head -1 /proc/pressure/io 2>/dev/null || echo n/a)"
  printf 'dirty/writeback: %s\n' "$(grep -E '^(Dirty|Writeback):' /proc/meminfo | tr -s ' ' | tr '\n' ' ')"
}

podman_build() {
  podman build -q --network host -v /etc/ssl/certs:/etc/ssl/certs:ro "$@" \
    -f "$work/Containerfile" -t localhost/bench/podman-app "$app" >/dev/null
}
warp_build() { # $1 = output args
  (cd "$app" && WARP_CACHE_DIR=$work/cache SOURCE_DATE_EPOCH=1700000000 PATH="$tools:$PATH" \
    "$warp" image localhost/bench/warp-app --base "oci-archive:$work/base.tar" "$@" >/dev/null 2>"$work/warp.log") \
    || { cat "$work/warp.log" >&2; exit 1; }
}
touch_code() { echo "# change $(now)" >> "$app/mysite/urls.py"; }

# What a row removes before its build is moved into $work/trash, not
# deleted: this machine's ext4 has no journal, and there the kernel skips
# every inode freed in the last 60 s (360 s while not written back) when it
# allocates one — each skip a buffer lookup (`recently_deleted` in the
# profile). A build started just after thousands of files were deleted paid
# seconds of system time for it (20 000 new files: 0.3 s of system time, 5.8 s
# right after 20 000 were deleted). The trash is emptied after each round,
# written back, and left to age SETTLE seconds (default 65) before the next.
trash() { # PATH...
  local t
  t=$(mktemp -d "$work/trash/XXXXXX")
  for p in "$@"; do [ -e "$p" ] && mv "$p" "$t/"; done
  return 0
}
empty_trash() {
  rm -rf "$work/trash"; mkdir -p "$work/trash"; sync; sleep "${SETTLE:-65}"
}

# podman's cold build starts with the base in its storage (pulled and
# unpacked before). warp's counterpart: a cache holding only the imported and
# unpacked base — every layer, tree, index and pip/uv download removed.
only_base() {
  trash "$work/cache/index" "$work/cache/build-cache" "$work/cache/tmp"
  local roots=()
  mapfile -t roots < <(find "$work/cache/roots" -mindepth 1 -maxdepth 1 ! -name 'base-*')
  trash "${roots[@]}"
}

ensure_base() {
  compgen -G "$work/cache/roots/base-*" >/dev/null || warp_build --output "oci:$work/layout"
}

# One measured build of a row: the set-up it needs, sync, then the timed
# build; the seconds are appended to $work/times/ROW.
measure() { # ROW
  local row=$1 t
  case $row in
    podman_cold) sync; t=$(now); podman_build --no-cache ;;
    uv_cold) ensure_base; only_base; sync; t=$(now); warp_build --output "oci:$work/layout"
      # Its install step alone (the step line's seconds), for the host_install row.
      sed -n 's/^==> Installing dependencies.* (\([0-9.]*\) s)$/\1/p' "$work/warp.log" >> "$work/times/uv_install" ;;
    host_install) # the same install on the host: uv, an empty cache, a new venv; only `uv pip install` timed
      local v; v=$(mktemp -d "$work/trash/host.XXXXXX")
      UV_CACHE_DIR=$v/cache "$tools/uv" venv -q --python /usr/bin/python3 "$v/venv"
      sync; t=$(now); UV_CACHE_DIR=$v/cache VIRTUAL_ENV=$v/venv "$tools/uv" pip install -q -r "$app/requirements.txt" ;;
    pip_cold) ensure_base; only_base; sync; t=$(now); WARP_INSTALLER=pip warp_build --output "oci:$work/layout" ;;
    uv_empty) trash "$work/cache"; sync; t=$(now); warp_build --output "oci:$work/layout" ;;
    pip_empty) trash "$work/cache"; sync; t=$(now); WARP_INSTALLER=pip warp_build --output "oci:$work/layout" ;;
    podman_code) podman_build; touch_code; sync; t=$(now); podman_build ;;
    warp_code) warp_build --output "oci:$work/layout"; touch_code; sync; t=$(now); warp_build --output "oci:$work/layout" ;;
    warp_code_load) warp_build; touch_code; sync; t=$(now); warp_build ;;
    warp_code_attest) warp_build "${attest[@]}"; touch_code; sync; t=$(now); warp_build "${attest[@]}" ;;
    warp_code_bare) warp_build "${bare[@]}"; touch_code; sync; t=$(now); warp_build "${bare[@]}" ;;
  esac
  elapsed "$t" >> "$work/times/$row"
}

all_rows=(podman_cold uv_cold pip_cold uv_empty pip_empty podman_code warp_code warp_code_load
          warp_code_attest warp_code_bare host_install)
read -r -a rows <<< "${ROWS:-${all_rows[*]}}"
rounds=${ROUNDS:-5}
mkdir -p "$work/times" "$work/trash"
empty_trash  # the set-up's deletions age too
echo "### before"; disk_state
for ((r = 0; r < rounds; r++)); do
  # Rotate the order each round so that no row always runs first or after
  # the same neighbour.
  order=("${rows[@]:r % ${#rows[@]}}" "${rows[@]:0:r % ${#rows[@]}}")
  echo "### round $((r + 1))/$rounds: ${order[*]}"
  for row in "${order[@]}"; do measure "$row"; done
  empty_trash
done
echo "### after"; disk_state

podman_added=0 warp_added=0 per_app=0
if podman image exists localhost/bench/podman-app; then
  base_size=$(size_of "$base")
  podman_added=$(( $(size_of localhost/bench/podman-app) - base_size ))
  warp_build >/dev/null
  warp_build --output "oci:$work/layout" >/dev/null
  warp_added=$(( $(size_of localhost/bench/warp-app) - base_size ))
  # The runtime layer (the warp binary) is shared by every app on a base: the
  # size each further app adds is that of the last two layers.
  for digest in $(python3 -c "import json,sys; d=sys.argv[1]; i=json.load(open(d+'/index.json')); m=json.load(open(d+'/blobs/sha256/'+i['manifests'][0]['digest'][7:])); print(' '.join(l['digest'][7:] for l in m['layers'][-2:]))" "$work/layout"); do
    per_app=$(( per_app + $(gzip -dc "$work/layout/blobs/sha256/$digest" | wc -c) ))
  done
fi

python3 - "$work/times" "$rounds" "$podman_added" "$warp_added" "$per_app" <<'PY'
import statistics, sys, pathlib
times, rounds = pathlib.Path(sys.argv[1]), sys.argv[2]
podman_added, warp_added, per_app = (int(x) for x in sys.argv[3:6])
def row(name):
    if not (times / name).exists():
        return None
    xs = sorted(float(x) for x in (times / name).read_text().split())
    return statistics.median(xs), xs[0], xs[-1]
def fmt(r, digits):
    if r is None:
        return "–"
    m, lo, hi = r
    return f"{m:.{digits}f} s ({lo:.{digits}f}–{hi:.{digits}f})"
pc, pcode = row("podman_cold"), row("podman_code")
print(f"\n{rounds} rounds; medians (range)\n")
print("| measure | podman build | warp image | ratio of medians | target |\n|---|---|---|---|---|")
for name, label, base, target, d in [
    ("uv_cold", "cold build, uv, base unpacked", pc, "≤ 0.5", 1),
    ("pip_cold", "cold build, pip, base unpacked", pc, "≤ 0.6", 1),
    ("uv_empty", "cold build, uv, empty cache", pc, "≤ 1.0", 1),
    ("pip_empty", "cold build, pip, empty cache", pc, "≤ 1.0", 1),
    ("warp_code", "code-only rebuild (OCI layout out)", pcode, "≤ 0.25 s", 2),
    ("warp_code_load", "code-only rebuild (loaded into podman)", pcode, "≤ 0.15", 2),
]:
    w = row(name)
    if w is None:
        continue
    ratio = f"{w[0] / base[0]:.2f}" if base else "–"
    print(f"| {label} | {fmt(base, d)} | {fmt(w, d)} | {ratio} | {target} |")
if podman_added:
    print(f"| size added over the base | {podman_added // 10**6} MB | {warp_added // 10**6} MB | {warp_added / podman_added:.2f} | ≤ 0.55 |")
    print(f"| size added per app (without the shared runtime layer) | {podman_added // 10**6} MB | {per_app // 10**6} MB | {per_app / podman_added:.2f} | ≤ 0.55 |")
attest, bare = row("warp_code_attest"), row("warp_code_bare")
if attest and bare:
    print("\n| code-only rebuild, OCI layout + push to a local registry | warp image |\n|---|---|")
    print(f"| --attach=false (no SBOM, provenance, signature) | {fmt(bare, 2)} |")
    print(f"| --sbom FILE, SBOMs + provenance attached, --sign-key | {fmt(attest, 2)} |")
    print(f"| cost (difference of the medians; target ≤ 0.1 s) | {attest[0] - bare[0]:+.3f} s |")
inside, host = row("uv_install"), row("host_install")
if inside and host:
    print("\n| the install of requirements.txt, uv, empty uv cache | time | ratio of medians | target |\n|---|---|---|---|")
    print(f"| on the host (`uv pip install` into a new venv) | {fmt(host, 2)} | 1.00 | |")
    print(f"| inside the cold build (its step line) | {fmt(inside, 1)} | {inside[0] / host[0]:.2f} | ≤ 1.2 |")
PY
