#!/usr/bin/env bash
# The install step of a cold uv image build (empty uv cache, base unpacked) against
# `uv pip install django` into a venv on the host with an empty uv cache,
# alternated (issue 15: the install inside the build at most 1.2x the same
# install on the host). Run on a quiet machine after tests/run.sh:
#   bench/install-vs-host.sh        five pairs; prints the step lines and the host times
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
tools=$root/target/test-env/tools/bin
export CONTAINERS_CONF=$root/target/test-env/containers.conf
cargo build --release -q
warp=$root/target/release/warp
base=localhost/warp-test/debian-python:bookworm
work=$(mktemp -d /tmp/hostinst.XXXXXX)
trap 'rm -rf "$work"' EXIT
since() { python3 -c "import sys; print(round(float(sys.argv[2]) - float(sys.argv[1]), 2))" "$1" "$2"; }
app=$work/app; mkdir -p "$app" "$work/trash"
"$tools/django-admin" startproject mysite "$app"
echo django > "$app/requirements.txt"
echo 'STATIC_ROOT = BASE_DIR / "staticfiles"' >> "$app/mysite/settings.py"
podman save --format oci-archive -o "$work/base.tar" "$base" >/dev/null 2>&1
wb() { (cd "$app" && WARP_CACHE_DIR=$work/cache SOURCE_DATE_EPOCH=1700000000 PATH="$tools:$PATH" \
    "$warp" image localhost/bench/warp-app --base "oci-archive:$work/base.tar" --output "oci:$work/layout" 2>"$work/warp.log" >/dev/null); }
wb
# What a build removes is moved into $work/trash, deleted only at the end: deleting
# thousands of files just before a measured build slows it (README, the cold-build profile).
for i in 1 2 3 4 5; do
  t=$(mktemp -d "$work/trash/XXXX"); mv "$work/cache/index" "$work/cache/build-cache" "$work/cache/tmp" "$t/" 2>/dev/null || true
  for r in "$work"/cache/roots/*; do case $(basename "$r") in base-*) ;; *) mv "$r" "$t/";; esac; done
  sync
  s=$(date +%s.%N); wb; e=$(date +%s.%N)
  echo "warp total $(since "$s" "$e") s"; grep -iE "install|venv|==>" "$work/warp.log" | head -8
  sync
  v=$(mktemp -d "$work/trash/hv.XXXX")
  s=$(date +%s.%N)
  UV_CACHE_DIR=$v/cache "$tools/uv" venv -q --python /usr/bin/python3 "$v/venv"
  m=$(date +%s.%N)
  UV_CACHE_DIR=$v/cache VIRTUAL_ENV=$v/venv "$tools/uv" pip install -q django
  e=$(date +%s.%N)
  echo "host: uv venv $(since "$s" "$m") s, uv pip install $(since "$m" "$e") s"
done
