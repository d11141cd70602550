#!/usr/bin/env bash
# S2I assemble of a Flask app in the warp builder: a first build vs an
# incremental one (save-artifacts of the first image fed to the next assemble,
# after a code change), each the whole `podman run … assemble` as s2i runs it.
# Not a test: run it by hand and copy the figures into README.md.
#
#   bench/s2i-incremental.sh        (after tests/run.sh has made the base image)
#
# pip reaches PyPI through the host's CA bundle, bind-mounted read-only.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
base=${WARP_TEST_BASE_IMAGE:-localhost/warp-test/debian-python:bookworm}
export CONTAINERS_CONF=${CONTAINERS_CONF:-$root/target/test-env/containers.conf}
podman image exists "$base" || { echo "no $base: run tests/run.sh first" >&2; exit 1; }
command -v hyperfine >/dev/null || { echo "hyperfine is missing (apt-get install hyperfine)" >&2; exit 1; }
cargo build --release -q
builder=localhost/bench/warp-builder:latest
podman build -q -f Containerfile --build-arg "BASE=$base" -t "$builder" . >/dev/null

work=$(mktemp -d /tmp/warp-bench-s2i.XXXXXX)
trap 'rm -rf "$work"; podman rm -f bench-s2i-first >/dev/null 2>&1 || true;
      podman rmi -f localhost/bench/s2i-app "$builder" >/dev/null 2>&1 || true' EXIT
app=$work/app
mkdir -p "$app"
echo flask > "$app/requirements.txt"
printf 'from flask import Flask\napplication = Flask(__name__)\n\n@application.route("/")\ndef index():\n    return "hello"\n' > "$app/wsgi.py"

run=(podman run -i -u 1001 --network host -v /etc/ssl/certs:/etc/ssl/certs:ro
     -e PIP_CERT=/etc/ssl/certs/ca-certificates.crt -e SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt)
first_script='mkdir -p /tmp/src && tar -C /tmp/src -xf - && exec /usr/libexec/s2i/assemble'
next_script='mkdir -p /tmp/src /tmp/artifacts && tar -C /tmp/src -xf - &&
  tar -C /tmp/artifacts -xf /tmp/artifacts.tar && exec /usr/libexec/s2i/assemble'

# The first image, and its artifacts.
tar -C "$app" -cf - . | "${run[@]}" --name bench-s2i-first "$builder" sh -c "$first_script" 2>/dev/null
podman commit -q --change 'CMD ["/usr/libexec/s2i/run"]' bench-s2i-first localhost/bench/s2i-app >/dev/null
podman run --rm -u 1001 localhost/bench/s2i-app /usr/libexec/s2i/save-artifacts > "$work/artifacts.tar"
echo "# code change" >> "$app/wsgi.py"

hyperfine --runs 3 --export-markdown "$work/table.md" \
  -n first "tar -C $app -cf - . | ${run[*]} --rm $builder sh -c '$first_script' 2>/dev/null" \
  -n incremental "tar -C $app -cf - . | ${run[*]} --rm -v $work/artifacts.tar:/tmp/artifacts.tar:ro $builder sh -c '$next_script' 2>/dev/null"
cat "$work/table.md"
