#!/usr/bin/env bash
# warp fixup against sclorg's fix-permissions recipe (find -exec chgrp/chmod)
# on a 20 000-file tree shaped like a venv. Run as root (chgrp to 0 needs it):
#   bench/fixup.sh [path/to/warp]          (SKIP_SLOW=1 skips the minutes-long per-file variant)
# Each command starts from the same state: group 1000, no group permissions.
# Uses hyperfine when installed, else a plain timing loop. Quote ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
warp=${1:-target/release/warp}
[ -x "$warp" ] || cargo build --release -q
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tree=$work/tree

echo "making 20 000 files in $tree"
python3 - "$tree" <<'PY'
import os, sys
root = sys.argv[1]
for d in range(200):
    path = os.path.join(root, "lib", f"pkg{d}", "sub")
    os.makedirs(path)
    for f in range(100):
        name = os.path.join(path, f"mod{f}.py")
        with open(name, "w") as fh:
            fh.write("x = 1\n")
        if f % 10 == 0:
            os.chmod(name, 0o744)
PY

reset="chgrp -R 1000 $tree && chmod -R g-rwx $tree"
fix_permissions="find $tree -exec chgrp 0 {} \\; && find $tree -exec chmod g+rw {} \\; && find $tree -type d -exec chmod g+x {} +"
find_plus="find $tree -exec chgrp 0 {} + && find $tree -exec chmod g+rw {} + && find $tree -type d -exec chmod g+x {} +"

if command -v hyperfine >/dev/null; then
  hyperfine --warmup 1 --runs 10 --prepare "$reset" \
    -n "warp fixup" "$warp fixup $tree" \
    -n "find -exec {} + (batched)" "$find_plus"
  # sclorg's fix-permissions runs one chgrp/chmod per file: minutes, so 2 runs.
  [ -n "${SKIP_SLOW:-}" ] || hyperfine --runs 2 --prepare "$reset" -n "fix-permissions (find -exec {} \\;)" "$fix_permissions"
  hyperfine --runs 5 -n "warp fixup, nothing to change" "$warp fixup $tree"
else
  for name in "warp fixup" "batched" "fix-permissions"; do
    case $name in
      "warp fixup") cmd="$warp fixup $tree" ;;
      batched) cmd=$find_plus ;;
      *) cmd=$fix_permissions ;;
    esac
    bash -c "$reset"
    start=$(date +%s.%N)
    bash -c "$cmd" >/dev/null 2>&1
    end=$(date +%s.%N)
    echo "$name: $(echo "$end - $start" | bc) s"
  done
fi
