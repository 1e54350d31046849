#!/usr/bin/env bash
# Peak memory of a backup as the repository's index grows: repositories with N indexed
# blobs (fake packs, made by examples/synth_index.rs), then a backup of the same 64 MiB
# of new data into each. Usage: benches/index-memory.sh [N...]   (default: 100000 1000000 10000000)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cargo build --release --locked --example synth_index >/dev/null 2>&1
cargo build --release --locked >/dev/null 2>&1
cellar=$root/target/release/cellar
work=$(mktemp -d /tmp/cellar-indexmem.XXXXXX)
trap 'rm -rf "$work"' EXIT
export CELLAR_PASSWORD=bench
mkdir -p "$work/src"
head -c $((64 << 20)) /dev/urandom >"$work/src/new-data"
echo "| indexed blobs | index files | backup peak RSS | backup time | stats peak RSS |"
echo "|---|---|---|---|---|"
for n in ${*:-100000 1000000 10000000}; do
  rm -rf "$work/repo"
  "$root/target/release/examples/synth_index" "$work/repo" "$n" >/dev/null
  idx=$(du -sh "$work/repo/index" | cut -f1)
  b=$( { /usr/bin/time -f "%M %e" "$cellar" -r "$work/repo" backup -q "$work/src" >/dev/null; } 2>&1 | tail -1)
  s=$( { /usr/bin/time -f "%M" "$cellar" -r "$work/repo" stats >/dev/null; } 2>&1 | tail -1)
  echo "| $n | $idx | $((${b% *} / 1024)) MB | ${b#* } s | $((s / 1024)) MB |"
done
