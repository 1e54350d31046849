#!/usr/bin/env bash
# Peak memory of prune on a repository of ~1 million blobs (256-byte average chunks over
# 256 MiB of random data). Usage: benches/prune-memory.sh [path/to/cellar]
set -euo pipefail
cellar=${1:-cellar}
work=$(mktemp -d /tmp/cellar-prunemem.XXXXXX)
trap 'rm -rf "$work"' EXIT
export CELLAR_REPO=$work/repo CELLAR_PASSWORD=bench
mkdir -p "$work/src"
head -c $((256 << 20)) /dev/urandom >"$work/src/blob"
"$cellar" init --chunk-min 64 --chunk-avg 256 --chunk-max 1K --text-chunk-min 64 --text-chunk-avg 256 --text-chunk-max 1K >/dev/null 2>&1
/usr/bin/time -f "backup: %e s, peak RSS %M KiB" "$cellar" backup -q "$work/src"
"$cellar" stats --json | python3 -c 'import json,sys; s=json.load(sys.stdin); print("unique blobs:", s["unique_blobs"], "packs MiB:", s["pack_bytes"] >> 20)'
/usr/bin/time -f "prune (all blobs used): %e s, peak RSS %M KiB" "$cellar" prune --grace 0s
"$cellar" forget "$("$cellar" snapshots --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["id"])')" >/dev/null
/usr/bin/time -f "prune (all blobs unused, deletes everything): %e s, peak RSS %M KiB" "$cellar" prune --grace 0s
