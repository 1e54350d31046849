#!/usr/bin/env bash
# Measure stored bytes and index size for several average chunk sizes on given data
# directories. Usage: benches/chunk-sizes.sh DIR... (CELLAR=path/to/cellar to override)
set -euo pipefail
cellar=${CELLAR:-cellar}
export CELLAR_PASSWORD=bench
printf '| data | avg chunk | logical | stored (packs) | unique blobs | index bytes | ratio |\n|---|---|---|---|---|---|---|\n'
for dir in "$@"; do
  for avg in 4 16 64 256 1024; do
    repo=$(mktemp -d /tmp/cellar-chunk.XXXXXX)
    "$cellar" init -r "$repo" --chunk-min $((avg / 4))K --chunk-avg ${avg}K --chunk-max $((avg * 4))K --text-chunk-min $((avg / 4))K --text-chunk-avg ${avg}K --text-chunk-max $((avg * 4))K --kdf-memory-kib 1024 >/dev/null 2>&1
    "$cellar" backup -q -r "$repo" "$dir" >/dev/null
    s=$("$cellar" stats --json -r "$repo")
    idx=$(du -sb "$repo/index" | cut -f1)
    python3 -c "
import json,sys; s=json.loads(sys.argv[1])
print(f'| {sys.argv[2]} | {sys.argv[3]} KiB | {s[\"logical_bytes\"]/1e6:.1f} MB | {s[\"pack_bytes\"]/1e6:.1f} MB | {s[\"unique_blobs\"]} | {int(sys.argv[4])/1e6:.2f} MB | {s[\"logical_bytes\"]/s[\"stored_bytes\"]:.2f}x |')
" "$s" "$(basename "$dir")" "$avg" "$idx"
    rm -rf "$repo"
  done
done
