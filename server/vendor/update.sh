#!/usr/bin/env bash
# Re-create a patched copy from an upstream release: ./update.sh hyper 1.12.1
# Downloads the release from crates.io, applies CRATE.patch, replaces CRATE/.
# Then set the version in ../Cargo.toml if it moved, and run the conformance
# test (cargo test --test conformance at the repository root).
set -euo pipefail
crate=${1:?usage: update.sh CRATE VERSION}
version=${2:?usage: update.sh CRATE VERSION}
cd "$(dirname "$0")"
[ -f "$crate.patch" ] || { echo "update.sh: no $crate.patch here — only hyper and http are patched" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
curl -fsSL "https://static.crates.io/crates/$crate/$crate-$version.crate" | tar -xz -C "$work"
src="$work/$crate-$version"
rm -rf "$src/Cargo.lock" "$src/Cargo.toml.orig" "$src/.cargo_vcs_info.json" "$src/.github" "$src/.gitignore"
patch -d "$src" -p1 --forward --no-backup-if-mismatch < "$crate.patch"
rm -rf "$crate"
mv "$src" "$crate"
echo "vendor/$crate is now $crate $version with $crate.patch applied"
