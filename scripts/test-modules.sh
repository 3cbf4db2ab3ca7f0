#!/usr/bin/env bash
# Each crate builds its integration tests as one binary (`autotests = false`, `tests/main.rs`),
# so a test file that `tests/main.rs` does not declare is silently never compiled. This fails,
# naming the file, when a crate's top-level `tests/*.rs` file or `tests/*/mod.rs` folder is
# not declared as a module there.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
status=0
for main in $(cd "$root" && git ls-files '*tests/main.rs'); do
  dir=$(dirname "$main")
  for file in "$root/$dir"/*.rs "$root/$dir"/*/mod.rs; do
    [ -e "$file" ] || continue
    case "$file" in */main.rs) continue ;; esac
    name=$(basename "$file" .rs)
    [ "$name" = mod ] && name=$(basename "$(dirname "$file")")
    if ! grep -Eq "^(pub )?mod $name;" "$root/$main"; then
      echo "${file#"$root"/}: not declared in $main; add \`mod $name;\` there or it never runs" >&2
      status=1
    fi
  done
done
exit $status
