#!/usr/bin/env bash
# `restore --decompress` against restic: every daily dump of a directory restored as SQL.
#
#   benches/e2e/decompress.sh DIR_OF_DUMP_GZ [RUNS]
#
# Backs up DIR (its *.gz files) into a fresh cellar and restic repository, then, RUNS times
# alternating: `cellar restore --decompress`, `restic restore` followed by `gzip -d` of
# every restored file, and `restic dump … | zcat` per file. Prints seconds per run and
# checks that all three give the same bytes.
set -euo pipefail
src=$(cd "$1" && pwd); runs=${2:-3}
here=$(cd "$(dirname "$0")" && pwd); root=$(cd "$here/../.." && pwd)
CELLAR=${CELLAR:-$root/target/release/cellar}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
export CELLAR_PASSWORD=bench RESTIC_PASSWORD=bench CELLAR_CACHE_DIR=$work/cache
"$CELLAR" -r "$work/c" init --kdf-memory-kib 1024 >/dev/null 2>&1
restic -r "$work/r" init >/dev/null
"$CELLAR" -r "$work/c" backup "$src" >/dev/null 2>&1
(cd "$(dirname "$src")" && restic -r "$work/r" backup "$(basename "$src")" >/dev/null)
name=$(basename "$src")
t() { local s e; s=$(date +%s.%N); "$@"; e=$(date +%s.%N); echo "$e - $s" | bc; }
cellar_run() { rm -rf "$work/out"; "$CELLAR" -r "$work/c" restore --decompress latest --target "$work/out" >/dev/null 2>&1; }
restic_run() {
  rm -rf "$work/out2"; restic -r "$work/r" restore latest --target "$work/out2" >/dev/null
  find "$work/out2" -name '*.gz' -exec gzip -d {} +
}
restic_dump() {
  rm -rf "$work/out3"; mkdir -p "$work/out3"
  for f in "$src"/*.gz; do b=$(basename "$f"); restic -r "$work/r" dump latest "$name/$b" | zcat > "$work/out3/${b%.gz}"; done
}
echo "| run | cellar restore --decompress | restic restore + gzip -d | restic dump \\| zcat (per file) |"
echo "|---|---:|---:|---:|"
for i in $(seq "$runs"); do
  a=$(t cellar_run); b=$(t restic_run); c=$(t restic_dump)
  printf '| %s | %.2f | %.2f | %.2f |\n' "$i" "$a" "$b" "$c"
done
diff -r "$work/out/$name" "$work/out3" >/dev/null && diff -r "$work/out/$name" "$(find "$work/out2" -type d -name "$name" | head -1)" >/dev/null \
  && echo "outputs identical" || { echo "OUTPUTS DIFFER"; exit 1; }
