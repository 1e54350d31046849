#!/usr/bin/env bash
# Peak memory of prune and check as the number of indexed blobs grows. M backups of
# 256 MiB of random data each, cut into 256-byte chunks (~1 million blobs per backup,
# 64 directories of one 4 MiB file, so no single tree is large), one snapshot each; then:
#   prune with every blob used; check; check --read-data;
#   forget the first snapshot and prune --grace 0s (marks its packs, deletes them, and
#   rewrites the index of everything else); check again.
# Usage: benches/prune-memory.sh [M (millions of blobs, default 1)] [path/to/cellar]
set -euo pipefail
m=${1:-1}
cellar=${2:-cellar}
work=$(mktemp -d /tmp/cellar-prunemem.XXXXXX)
# KEEP=1 leaves the repository for a closer look (its path is printed at the end).
[ -n "${KEEP:-}" ] || trap 'rm -rf "$work"' EXIT
export CELLAR_REPO=$work/repo CELLAR_PASSWORD=bench
"$cellar" init --chunk-min 64 --chunk-avg 256 --chunk-max 1K --text-chunk-min 64 --text-chunk-avg 256 --text-chunk-max 1K >/dev/null 2>&1
measure() { # label, command...
  local label=$1
  shift
  /usr/bin/time -f "$label: %e s, peak RSS %M KiB" "$@" >/dev/null 2>"$work/time" || { cat "$work/time"; exit 1; }
  tail -1 "$work/time"
}
for i in $(seq 1 "$m"); do
  src=$work/src$i
  for d in $(seq -w 1 64); do
    mkdir -p "$src/d$d"
    head -c $((4 << 20)) /dev/urandom >"$src/d$d/blob"
  done
  measure "backup $i of $m" "$cellar" backup -q "$src"
  rm -rf "$src"
done
"$cellar" stats --json | python3 -c 'import json,sys; s=json.load(sys.stdin); print("unique blobs:", s["unique_blobs"], "packs MiB:", s["pack_bytes"] >> 20)'
echo "index files: $(ls "$work/repo/index" | wc -l), $(du -sh "$work/repo/index" | cut -f1)"
measure "prune (all blobs used)" "$cellar" prune --grace 0s
measure "check" "$cellar" check
measure "check --read-data" "$cellar" check --read-data
first=$("$cellar" snapshots --json | python3 -c 'import json,sys; print(sorted(json.load(sys.stdin), key=lambda s: s["time"])[0]["id"])')
"$cellar" forget "$first" >/dev/null
measure "prune (one snapshot forgotten: mark, delete, rewrite the index)" "$cellar" prune --grace 0s
echo "index files after: $(ls "$work/repo/index" | wc -l), $(du -sh "$work/repo/index" | cut -f1)"
measure "check after prune" "$cellar" check --read-data
[ -z "${KEEP:-}" ] || echo "repository kept: $work/repo"
