#!/usr/bin/env bash
# The repository's docs must stand alone for someone who clones it: every relative link in a
# Markdown file resolves to a file or folder in the repository (a `#fragment` is not checked),
# and none climbs out of it; no tracked file names the workplace's folders beside the checkout.
# Fails naming the file, the line and the link.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
status=0
while IFS= read -r doc; do
  dir=$(dirname "$doc")
  # `](target)` of inline links and images; external and in-page links are skipped.
  while IFS=: read -r line link; do
    target=${link%%#*}
    case "$target" in '' | http://* | https://* | mailto:*) continue ;; esac
    resolved=$(realpath -m "$dir/$target")
    if [[ "$resolved" != "$root" && "$resolved" != "$root"/* ]]; then
      echo "$doc:$line: link \`$link\` points outside the repository" >&2
      status=1
    elif [ ! -e "$resolved" ]; then
      echo "$doc:$line: link \`$link\` names nothing (no ${resolved#"$root"/})" >&2
      status=1
    fi
  done < <(grep -noE '\]\([^) ]+\)' "$doc" | sed -E 's/^([0-9]+):\]\((.*)\)$/\1:\2/')
done < <(git ls-files '*.md')
if git grep -n -e '\.\./shared/' -e '\.\./\.library' -- ':!scripts/check-doc-links.sh' >&2; then
  echo "the lines above refer to files outside the repository" >&2
  status=1
fi
exit $status
