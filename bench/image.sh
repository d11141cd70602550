#!/usr/bin/env bash
# warp image vs `podman build` with a requirements-first Containerfile, on the
# same Debian+python3 base and the same Django app (admin static files
# collected): cold build, code-only rebuild, and size added over the base.
# Not a test: run it by hand and copy the table into README.md.
#
#   bench/image.sh            (after tests/run.sh has made the base image)
#
# Both builds reach PyPI through the host's CA bundle; neither reuses a pip
# cache or a layer on the cold build (podman: --no-cache; warp: a cache with
# only the unpacked base, as podman has its base in its storage — and, for
# the record, an empty WARP_CACHE_DIR, where warp also imports and unpacks it).
# warp's figures are given twice: with the image written as an OCI layout
# (what a push would send) and with it loaded into podman (like podman build).
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

# podman's cold build starts with the base in its storage (pulled and
# unpacked before). warp's counterpart: a cache holding only the imported and
# unpacked base — every layer, tree, index and pip/uv download removed.
only_base() {
  rm -rf "$work/cache/index" "$work/cache/build-cache" "$work/cache/tmp"
  find "$work/cache/roots" -mindepth 1 -maxdepth 1 ! -name 'base-*' -exec rm -rf {} +
}

load_before=$(uptime)
echo "### cold builds"
t=$(now); podman_build --no-cache; podman_cold=$(elapsed "$t")
# warp with pip (as the Containerfile), then with uv (the host's, bind-mounted
# into the build): each from an empty cache, then with only the base kept.
t=$(now); WARP_INSTALLER=pip warp_build --output "oci:$work/layout"; warp_cold_pip_empty=$(elapsed "$t")
only_base
t=$(now); WARP_INSTALLER=pip warp_build --output "oci:$work/layout"; warp_cold_pip=$(elapsed "$t")
rm -rf "$work/cache"
t=$(now); warp_build --output "oci:$work/layout"; warp_cold_empty=$(elapsed "$t")
only_base
t=$(now); warp_build --output "oci:$work/layout"; warp_cold=$(elapsed "$t")
echo "### code-only rebuilds (median of 3)"
p=(); w=(); wl=()
for i in 1 2 3; do
  touch_code; t=$(now); podman_build; p+=("$(elapsed "$t")")
  touch_code; t=$(now); warp_build --output "oci:$work/layout"; w+=("$(elapsed "$t")")
  touch_code; t=$(now); warp_build; wl+=("$(elapsed "$t")")
done
median() { printf '%s\n' "$@" | sort -n | sed -n 2p; }
podman_code=$(median "${p[@]}"); warp_code=$(median "${w[@]}"); warp_code_load=$(median "${wl[@]}")

base_size=$(size_of "$base")
podman_added=$(( $(size_of localhost/bench/podman-app) - base_size ))
warp_added=$(( $(size_of localhost/bench/warp-app) - base_size ))

# The runtime layer (the warp binary) is shared by every app on a base: the
# size each further app adds is that of the last two layers.
per_app=0
for digest in $(python3 -c "import json,sys; d=sys.argv[1]; i=json.load(open(d+'/index.json')); m=json.load(open(d+'/blobs/sha256/'+i['manifests'][0]['digest'][7:])); print(' '.join(l['digest'][7:] for l in m['layers'][-2:]))" "$work/layout"); do
  per_app=$(( per_app + $(gzip -dc "$work/layout/blobs/sha256/$digest" | wc -c) ))
done

ratio() { echo "scale=2; $1 / $2" | bc; }
printf '\nload before: %s\nload after: %s\n' "$load_before" "$(uptime)"
printf '\n| measure | podman build | warp image | ratio | target |\n|---|---|---|---|---|\n'
printf '| cold build, pip, base unpacked | %.1f s | %.1f s | %s | ≤ 0.5 |\n' "$podman_cold" "$warp_cold_pip" "$(ratio "$warp_cold_pip" "$podman_cold")"
printf '| cold build, pip, empty cache | %.1f s | %.1f s | %s | |\n' "$podman_cold" "$warp_cold_pip_empty" "$(ratio "$warp_cold_pip_empty" "$podman_cold")"
printf '| cold build, uv, base unpacked | %.1f s | %.1f s | %s | ≤ 0.5 |\n' "$podman_cold" "$warp_cold" "$(ratio "$warp_cold" "$podman_cold")"
printf '| cold build, uv, empty cache | %.1f s | %.1f s | %s | |\n' "$podman_cold" "$warp_cold_empty" "$(ratio "$warp_cold_empty" "$podman_cold")"
printf '| code-only rebuild (OCI layout out) | %.2f s | %.2f s | %s | ≤ 0.5 s and ≤ 0.15 |\n' "$podman_code" "$warp_code" "$(ratio "$warp_code" "$podman_code")"
printf '| code-only rebuild (loaded into podman) | %.2f s | %.2f s | %s | |\n' "$podman_code" "$warp_code_load" "$(ratio "$warp_code_load" "$podman_code")"
printf '| size added over the base | %d MB | %d MB | %s | ≤ 0.55 |\n' "$((podman_added / 1000000))" "$((warp_added / 1000000))" "$(ratio "$warp_added" "$podman_added")"
printf '| size added per app (without the shared runtime layer) | %d MB | %d MB | %s | ≤ 0.55 |\n' "$((podman_added / 1000000))" "$((per_app / 1000000))" "$(ratio "$per_app" "$podman_added")"
