#!/usr/bin/env bash
# Back up a growing directory of daily dumps the way the platform does: day N's bucket
# holds dumps 1..N, and one backup runs per day. Prints the repository size after the
# last day. Usage: daily.sh DUMP_DIR REPO_DIR [cellar init flags...]
set -euo pipefail
src=$1 repo=$2; shift 2
CELLAR=${CELLAR:-cellar}
export CELLAR_PASSWORD=${CELLAR_PASSWORD:-bench}
bucket=$(mktemp -d); trap 'rm -rf "$bucket"' EXIT
rm -rf "$repo"
"$CELLAR" -r "$repo" init "$@" >/dev/null
for f in $(ls "$src" | sort); do
  cp -p "$src/$f" "$bucket/"
  "$CELLAR" -r "$repo" backup "$bucket" --host bench >/dev/null 2>&1
done
du -sb "$repo" | cut -f1
