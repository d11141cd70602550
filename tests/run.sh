#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine with Rust and python3:
# installs what the tests need when it is missing (Debian packages, Python
# tools, a Debian+python3 base image), then runs fmt, clippy and `cargo test`.
#
#   ./tests/run.sh                 everything
#   ./tests/run.sh --test it build::   arguments go to `cargo test` (one
#                                     area of tests/it/: a module filter)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
export DEBIAN_FRONTEND=noninteractive

say() { printf '\n### %s (at %d s)\n' "$*" "$SECONDS"; }

# --- Debian packages -------------------------------------------------------
# command-that-proves-it:package
wanted=(podman:podman runc:runc skopeo:skopeo docker-registry:docker-registry
        htpasswd:apache2-utils debootstrap:debootstrap wrk:wrk hyperfine:hyperfine
        newuidmap:uidmap slirp4netns:slirp4netns curl:curl openssl:openssl
        nginx:nginx)
missing=()
for pair in "${wanted[@]}"; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
done
# Debian's own python3 must be able to make virtualenvs (the cross-version test).
/usr/bin/python3 -c 'import ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
# nss_wrapper: the passwd entry of an arbitrary UID when /etc/passwd is read-only.
[ -e /usr/lib/x86_64-linux-gnu/libnss_wrapper.so ] || missing+=(libnss-wrapper)
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- podman set-up that works on this kind of machine (see ENVIRONMENT.md) ---
mkdir -p "$root/target/test-env"
export CONTAINERS_CONF="$root/target/test-env/containers.conf"
cat > "$CONTAINERS_CONF" <<'CONF'
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
[engine]
runtime = "runc"
CONF

# --- Python tools the tests drive (uv, poetry, pdm, pipenv, django-admin, validators)
tools="$root/target/test-env/tools"
if [ ! -x "$tools/bin/uv" ] || [ ! -x "$tools/bin/django-admin" ] \
   || [ ! -x "$tools/bin/poetry" ] || [ ! -x "$tools/bin/pdm" ] \
   || [ ! -x "$tools/bin/pipenv" ]; then
  say "installing Python test tools into $tools"
  python3 -m venv "$tools"
  "$tools/bin/pip" install -q --upgrade pip
  "$tools/bin/pip" install -q uv django flask kubernetes-validate poetry "pdm[locked]" pipenv
fi
# The SBOM validators (tests/it/image_sbom.rs): SPDX's and CycloneDX's own libraries.
# PyNaCl: an independent writer of cosign's encrypted key format (tests/it/image_sign.rs).
if ! "$tools/bin/python" -c 'import spdx_tools, cyclonedx, jsonschema, nacl' >/dev/null 2>&1; then
  say "installing the SBOM validators and PyNaCl into $tools"
  "$tools/bin/python" -m pip install -q spdx-tools 'cyclonedx-python-lib[json-validation]' pynacl
fi
export WARP_TEST_TOOLS="$tools/bin"
# Older Poetrys, each in its own venv beside the tools' Poetry 2, installed
# with the tools' uv (seconds, not pip's minute).
poetry_venv() { # NAME REQUIREMENT... -> the venv's poetry
  local dir="$root/target/test-env/$1"; shift
  if [ ! -x "$dir/bin/poetry" ]; then
    say "installing $* into $dir" >&2
    # (in a command substitution, where set -e does not reach)
    "$tools/bin/uv" venv -q -p "$tools/bin/python" "$dir" >&2 || return 1
    "$tools/bin/uv" pip install -q --python "$dir/bin/python" "$@" >&2 || return 1
  fi
  echo "$dir/bin/poetry"
}
# Poetry 1.x: lock-version 2.0 files (tests/it/locks.rs).
WARP_TEST_POETRY1=$(poetry_venv poetry1 "poetry<2")
# Poetry 1.2, the last to write lock-version 1.1 (hashes in [metadata.files];
# 1.3 moved them into each package: lock-version 2.0). Its requests-toolbelt
# 0.9 imports urllib3 1.x's contrib.appengine: urllib3<2.
WARP_TEST_POETRY12=$(poetry_venv poetry12 "poetry==1.2.2" "urllib3<2")
export WARP_TEST_POETRY1 WARP_TEST_POETRY12

# --- a Debian bookworm base with python3, built once per checkout ----------
export WARP_TEST_BASE_ROOTFS_TAR="$root/target/test-env/debian-python-rootfs.tar"
export WARP_TEST_BASE_IMAGE="localhost/warp-test/debian-python:bookworm"
"$root/tests/fixtures/base-image.sh" "$WARP_TEST_BASE_ROOTFS_TAR" "$WARP_TEST_BASE_IMAGE"

# --- a Debian sid root with python3.14 and python3.15, made once per checkout
# (pyenv here stops at 3.13; tests/it/newest_cpythons.rs runs warp in it by chroot),
# sid's skopeo, which verifies sigstore signatures (tests/it/image_sign.rs), and
# sid's podman 5, whose `kube down` drains (tests/it/kube.rs)
export WARP_TEST_SID_ROOT="$root/target/test-env/sid-root"
"$root/tests/fixtures/sid-root.sh" "$WARP_TEST_SID_ROOT"

# --- fuzzing: the nightly toolchain and cargo-fuzz (fuzz/run.sh) -----------
if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  say "installing the nightly Rust toolchain (cargo-fuzz needs it)"
  rustup toolchain install nightly --profile minimal
fi
if ! command -v cargo-fuzz >/dev/null; then
  say "installing cargo-fuzz"
  cargo install -q cargo-fuzz
fi

# Every fixture above is now present: a test that finds one missing must fail,
# not skip.
export WARP_TEST_REQUIRE_ALL=1

say "cargo fmt --check"
cargo fmt --all -- --check
(cd server && cargo fmt -- --check)
(cd fuzz && cargo fmt -- --check)

say "cargo clippy"
cargo clippy --workspace --all-targets -q -- -D warnings
(cd server && PYO3_BUILD_EXTENSION_MODULE=1 cargo clippy --all-targets -q \
   --target-dir "$root/target/warpserver" -- -D warnings)

say "cargo test"
# --no-fail-fast: one failing test binary (the unit tests, tests/it) must not
# hide the others' results.
cargo test --no-fail-fast "$@"
if [ $# -eq 0 ]; then
  say "protocol unit tests (the supervisor <-> worker crate, protocol/)"
  cargo test -q -p warp-protocol
  say "server unit tests (links libpython; the shipped extension is built with PYO3_BUILD_EXTENSION_MODULE=1)"
  (cd server && cargo test -q --target-dir "$root/target/warpserver")
  say "fuzz: every target for 30 s (fuzz/run.sh; the long runs are in README)"
  FUZZ_OPT_LEVEL=1 nice -n 10 fuzz/run.sh 30
  say "chaos soak: 90 s with its assertions (bench/soak.sh)"
  bench/soak.sh --duration 90 --interval 15 --check
fi
say "done"
