#!/usr/bin/env bash
# Stored bytes of TSDB buckets: cellar (record-aware chunking on/off, thinning on/off)
# beside restic and borg, on blocks written by promtool and merged by the real Prometheus
# compactor. Prints two markdown tables.
#
#   benches/tsdb/storage.sh [replicas] [lineage]     (default: both)
#
# replicas: one bucket, 2 tenants, RF3 over 6 ingesters plus the compactor's merged 2h
#           blocks and 6h/18h blocks. Floor = unique chunk records + zstd'd index files +
#           small files (benches/tsdb/floor.py).
# lineage:  DAYS daily snapshots of a live bucket: each day the ingesters' replicas of the
#           last hours, the compactor's 2h merges of the day, its 6h/18h blocks for older
#           data, and blocks it replaced in the last 12h with deletion marks. Then
#           `forget --thin-compacted` + prune, compared with the compacted data alone.
#
# Environment: WORK=/tmp/cellar-tsdb-bench  SERIES=600 HOURS=12 (replicas)
#              DAYS=14 LSERIES=30 (lineage)  DROP_RATE=0.0005 (replica sample loss)
#              CELLAR=target/release/cellar
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
WORK=${WORK:-/tmp/cellar-tsdb-bench}
CELLAR=${CELLAR:-$root/target/release/cellar}
export CELLAR_PASSWORD=bench RESTIC_PASSWORD=bench BORG_PASSPHRASE=bench
export BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes BORG_RELOCATED_REPO_ACCESS_IS_OK=yes
export DROP_RATE=${DROP_RATE:-0.0005}
parts=${*:-replicas lineage}
[ -x "$CELLAR" ] || (cd "$root" && cargo build --release --locked >/dev/null)
mkdir -p "$WORK"
mb() { python3 -c "print(f'{$1/1e6:.2f}')"; }
size() { du -sb "$1" | cut -f1; }

# init_all NAME: fresh repositories of every configuration under $WORK/repos/NAME
init_all() {
  local r=$WORK/repos/$1
  rm -rf "$r"; mkdir -p "$r"
  "$CELLAR" -r "$r/cellar" init >/dev/null 2>&1
  "$CELLAR" -r "$r/cellar-generic" init --no-tsdb-records >/dev/null 2>&1
  if command -v restic >/dev/null; then restic init -q -r "$r/restic" >/dev/null; fi
  if command -v borg >/dev/null; then borg init -e repokey "$r/borg" >/dev/null 2>&1; fi
}

# backup_all NAME DIR [ARCHIVE]
backup_all() {
  local r=$WORK/repos/$1 d=$2
  "$CELLAR" -r "$r/cellar" backup --allow-corrupted "$d" >/dev/null
  "$CELLAR" -r "$r/cellar-generic" backup --allow-corrupted "$d" >/dev/null
  if [ -d "$r/restic" ]; then restic -q -r "$r/restic" backup "$d" >/dev/null; fi
  if [ -d "$r/borg" ]; then (cd "$(dirname "$d")" && borg create "$r/borg::${3:-a}" "$(basename "$d")"); fi
}

replicas() {
  local d=$WORK/data/replicas
  if [ ! -e "$d/.done" ]; then
    rm -rf "$d"
    REPLICAS=3 COMPACT=2 VERIFY=0 "$root/scripts/testdata/make-mimir-bucket.sh" "$d/mimir" "${SERIES:-600}" "${HOURS:-12}" >/dev/null
    touch "$d/.done"
  fi
  init_all replicas
  backup_all replicas "$d/mimir"
  local r=$WORK/repos/replicas
  local floor_out; floor_out=$(python3 "$here/floor.py" "$d/mimir" record)
  local floor; floor=$(echo "$floor_out" | sed -n 's/^floor: .* = \([0-9.]*\) MB$/\1/p')
  echo "$floor_out" | head -3
  echo
  echo "| stored | MB | × floor | restic ÷ this |"
  echo "|---|---|---|---|"
  local restic_b=""; [ -d "$r/restic" ] && restic_b=$(size "$r/restic")
  echo "| bucket (logical) | $(mb "$(size "$d/mimir")") | | |"
  echo "| floor | $floor | 1.00 | |"
  for t in cellar cellar-generic restic borg; do
    [ -d "$r/$t" ] || continue
    local b; b=$(size "$r/$t")
    echo "| $t | $(mb "$b") | $(python3 -c "print(f'{$b/1e6/$floor:.2f}')") | ${restic_b:+$(python3 -c "print(f'{$restic_b/$b:.2f}')")} |"
  done
}

lineage() {
  local d=$WORK/data/lineage days=${DAYS:-14}
  if [ ! -e "$d/.done" ]; then
    rm -rf "$d"
    REPLICAS=3 COMPACT=2 VERIFY=0 TENANTS=anonymous "$root/scripts/testdata/make-mimir-bucket.sh" \
      "$d/all" "${LSERIES:-30}" $((days * 24)) >/dev/null
    touch "$d/.done"
  fi
  init_all lineage
  local live=$WORK/live/mimir
  for ((day = 1; day <= days; day++)); do
    rm -rf "$WORK/live"; mkdir -p "$live/anonymous"
    python3 "$here/live_state.py" "$d/all/anonymous" "$live/anonymous" "$day"
    backup_all lineage "$live" "day$day"
  done
  local r=$WORK/repos/lineage
  # The compacted data alone: the bucket once the compactor has caught up.
  rm -rf "$WORK/final"; mkdir -p "$WORK/final/mimir/anonymous"
  python3 "$here/live_state.py" "$d/all/anonymous" "$WORK/final/mimir/anonymous" final
  rm -rf "$WORK/repos/final"; "$CELLAR" -r "$WORK/repos/final" init >/dev/null 2>&1
  "$CELLAR" -r "$WORK/repos/final" backup "$WORK/final/mimir" >/dev/null
  local comp; comp=$(size "$WORK/final/mimir")
  local comp_c; comp_c=$(size "$WORK/repos/final")
  echo "$days daily snapshots; compacted data alone: $(mb "$comp") MB on disk, $(mb "$comp_c") MB in a cellar repository"
  echo
  echo "| repository | no thinning MB | × compacted | thinned + pruned MB | × compacted |"
  echo "|---|---|---|---|---|"
  for t in cellar cellar-generic; do
    local before; before=$(size "$r/$t")
    "$CELLAR" -r "$r/$t" forget --thin-compacted >/dev/null
    "$CELLAR" -r "$r/$t" prune --grace 0s >/dev/null
    "$CELLAR" -r "$r/$t" check >/dev/null
    local after; after=$(size "$r/$t")
    echo "| $t | $(mb "$before") | $(python3 -c "print(f'{$before/$comp:.2f}')") | $(mb "$after") | $(python3 -c "print(f'{$after/$comp:.2f}')") |"
  done
  for t in restic borg; do
    [ -d "$r/$t" ] || continue
    local b; b=$(size "$r/$t")
    echo "| $t | $(mb "$b") | $(python3 -c "print(f'{$b/$comp:.2f}')") | | |"
  done
}

echo "# TSDB storage bench, $(date -u +%Y-%m-%d), $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB"
echo "cellar $("$CELLAR" --version | cut -d' ' -f2), $(restic version 2>/dev/null | cut -d' ' -f1-2), $(borg --version 2>/dev/null); DROP_RATE=$DROP_RATE"
for p in $parts; do
  echo; echo "## $p"; echo
  "$p"
done
