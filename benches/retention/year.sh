#!/usr/bin/env bash
# A year of retention, simulated: DAYS nightly `cellar run`s of a live Mimir bucket and a
# bucket of daily gzip'd PostgreSQL dumps, with the platform's policy, beside restic with
# the same policy. Prints the stored bytes over time against the compacted data, and
# writes the HTML report of the last day.
#
#   benches/retention/year.sh            (DAYS=365: ~1 h to generate the data once, then
#                                         ~1 h for the runs on 2 cores)
#
# Data (cached under $WORK/data):
#   mimir   blocks written by promtool and merged by the real Prometheus compactor
#           (scripts/testdata/make-mimir-bucket.sh, COMPACT=2): each 2h range as 3 ingester
#           replicas (RF3, one sample in 2,000 missed), their 2h merge, and 6h/18h
#           compactions. Time is compressed by the series count (SERIES=8, STEP=60), not by
#           the calendar. Generated in pieces of PIECE_DAYS so one Prometheus opens a few
#           thousand blocks, not tens of thousands.
#   dumps   one `pg_dump | gzip -6` a day of a real PostgreSQL (make-pg-dumps.sh,
#           SCALE=0.05, APPEND_PCT=0.1-0.3 so the database does not grow 1000-fold).
# Day N (benches/tsdb/live_state.py): the bucket as Mimir leaves it at midnight after day N:
# ingester replicas of the last hours, the compactor's merges and compactions, replaced
# blocks under deletion marks for 12h. The dump bucket holds the newest KEEP_DUMPS dumps.
# Each night runs, with the clock set to that night (libfaketime; restic gets --time):
#   cellar run PROFILE   mimir and backup sources, keep daily 14 / weekly 8 / monthly 24,
#                        mimir also thin-compacted 30d; prune every 7d (grace 6h);
#                        check reads 1/7 of the data
#   restic               backup of each source, forget with the same keep rules (no
#                        thinning: restic has none), prune every 7th night
# Reference: the compacted data, i.e. the final (fully compacted) blocks of the samples up
# to that night, plus the newest dump.
#
# Environment: WORK=/tmp/cellar-year  DAYS=365  SERIES=8  STEP=60  PIECE_DAYS=30
#              KEEP_DUMPS=7  GEN_JOBS=2 (0: another run is generating the data; wait for it)
#              SIM=sim (its directory under WORK)  CELLAR=target/release/cellar
# Requires: faketime, promtool + prometheus, postgresql, restic (optional).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
WORK=${WORK:-/tmp/cellar-year}
DAYS=${DAYS:-365}
SERIES=${SERIES:-8}
STEP=${STEP:-60}
PIECE_DAYS=${PIECE_DAYS:-30}
KEEP_DUMPS=${KEEP_DUMPS:-7}
GEN_JOBS=${GEN_JOBS:-2}
CELLAR=${CELLAR:-$root/target/release/cellar}
# 2025-04-01T12:00Z: 18h-aligned, so pieces of a multiple of 18h meet at range boundaries.
START=1743508800
export CELLAR_PASSWORD=bench RESTIC_PASSWORD=bench FAKETIME_DONT_FAKE_MONOTONIC=1
command -v faketime >/dev/null || { echo "year.sh: needs faketime (apt-get install -y faketime)" >&2; exit 1; }
[ -x "$CELLAR" ] || (cd "$root" && cargo build --release --locked >/dev/null)
mkdir -p "$WORK/data"

mimir=$WORK/data/mimir/anonymous
pieces=$(( (DAYS + PIECE_DAYS - 1) / PIECE_DAYS ))
# Piece P: the blocks of days P*PIECE_DAYS+1 … (P+1)*PIECE_DAYS, marked done by
# $WORK/data/mimir/.piece-P once moved into place (so an interrupted generation resumes).
# GEN_JOBS generators take pieces in order, each claiming one with mkdir.
gen_mimir() {
  mkdir -p "$mimir"
  for ((p = 0; p < pieces; p++)); do
    [ -e "$WORK/data/mimir/.piece-$p" ] && continue
    mkdir "$WORK/data/piece-$p" 2>/dev/null || continue
    local days=$(( DAYS - p * PIECE_DAYS < PIECE_DAYS ? DAYS - p * PIECE_DAYS : PIECE_DAYS ))
    echo "mimir: days $((p * PIECE_DAYS + 1))-$((p * PIECE_DAYS + days))" >&2
    REPLICAS=3 INGESTERS=3 COMPACT=2 VERIFY=0 TENANTS=anonymous STEP=$STEP SEED=$((42 + p)) \
      START=$((START + p * PIECE_DAYS * 86400)) \
      "$root/scripts/testdata/make-mimir-bucket.sh" "$WORK/data/piece-$p/bucket" "$SERIES" $((days * 24)) >/dev/null
    mv "$WORK/data/piece-$p/bucket/anonymous"/*/ "$mimir/"
    touch "$WORK/data/mimir/.piece-$p"
  done
}
dumps=$WORK/data/dumps
if [ ! -e "$dumps/.done-$DAYS" ]; then
  rm -rf "$dumps"
  GZIP=1 SCALE=0.05 APPEND_PCT=0.1-0.3 "$root/scripts/testdata/make-pg-dumps.sh" "$dumps" "$DAYS" >/dev/null
  touch "$dumps/.done-$DAYS"
fi
# The nights run while later pieces are generated (one core each): night N needs the
# pieces up to the one holding its midnight.
((GEN_JOBS == 0)) || rm -rf "$WORK"/data/piece-*   # claims of an interrupted run
gens=()
for ((j = 0; j < GEN_JOBS; j++)); do gen_mimir & gens+=($!); done
trap 'kill "${gens[@]}" 2>/dev/null || true' EXIT
wait_for_piece() {
  until [ -e "$WORK/data/mimir/.piece-$1" ]; do
    local alive=0 g
    for g in "${gens[@]}"; do kill -0 "$g" 2>/dev/null && alive=1; done
    ((alive || GEN_JOBS == 0)) || [ -e "$WORK/data/mimir/.piece-$1" ] || { echo "year.sh: data generation failed" >&2; exit 1; }
    sleep 5
  done
}
mapfile -t all_dumps < <(cd "$dumps" && ls dop-*.dump.gz | sort)

sim=$WORK/${SIM:-sim}
rm -rf "$sim"; mkdir -p "$sim/live/backup"
echo bench > "$sim/password"
cat > "$sim/year.toml" <<EOF
repository = "$sim/cellar"
password-file = "$sim/password"
host = "dop-backup"

[sources.mimir]
path = "$sim/live/mimir"
retention = { keep-daily = 14, keep-weekly = 8, keep-monthly = 24, thin-compacted = "30d" }

[sources.backup]
path = "$sim/live/backup"
retention = { keep-daily = 14, keep-weekly = 8, keep-monthly = 24 }

[prune]
every = "7d"
grace = "6h"

[check]
rotate-over = 7
EOF
day0=$(python3 -c "print($START // 86400 * 86400)")
at() { date -u -d "@$1" '+%Y-%m-%d %H:%M:%S'; }
faketime -f "@$(at "$day0")" "$CELLAR" -r "$sim/cellar" init >/dev/null 2>&1
has_restic=0
if command -v restic >/dev/null; then restic init -q -r "$sim/restic" >/dev/null; has_restic=1; fi

size() { du -sb "$1" 2>/dev/null | cut -f1; }
csv=$sim/days.csv
echo "day,cellar_bytes,cellar_metadata_bytes,restic_bytes,live_mimir_bytes,now_ms,newest_dump_bytes,cellar_snapshots,cellar_run_s,restic_s" > "$csv"
for ((day = 1; day <= DAYS; day++)); do
  now=$((day0 + day * 86400))
  wait_for_piece $(( (day - 1) / PIECE_DAYS ))
  rm -rf "$sim/live/mimir"; mkdir -p "$sim/live/mimir/anonymous"
  python3 "$root/benches/tsdb/live_state.py" "$mimir" "$sim/live/mimir/anonymous" "$day"
  # The dumps written by now (dump i at 12:00 of day i), the newest KEEP_DUMPS of them.
  find "$sim/live/backup" -type f -delete
  newest=""
  for ((i = day > KEEP_DUMPS ? day - KEEP_DUMPS : 0; i < day && i < ${#all_dumps[@]}; i++)); do
    ln "$dumps/${all_dumps[i]}" "$sim/live/backup/"; newest=${all_dumps[i]}
  done
  t0=$(date +%s.%N)
  rc=0; faketime -f "@$(at $((now + 300)))" "$CELLAR" run "$sim/year.toml" > "$sim/run.log" 2>&1 || rc=$?
  t1=$(date +%s.%N)
  if ((rc != 0)); then echo "day $day: cellar run exited $rc" >&2; tail -20 "$sim/run.log" >&2; exit 1; fi
  rs=""
  if ((has_restic)); then
    for s in mimir backup; do
      restic -q -r "$sim/restic" backup --host dop-backup --time "$(at $((now + 300)))" "$sim/live/$s" >/dev/null
    done
    restic -q -r "$sim/restic" forget --host dop-backup --group-by host,paths \
      --keep-daily 14 --keep-weekly 8 --keep-monthly 24 >/dev/null
    if ((day % 7 == 0)); then restic -q -r "$sim/restic" prune >/dev/null; fi
    rs=$(python3 -c "print(f'{$(date +%s.%N) - $t1:.1f}')")
  fi
  stats=$("$CELLAR" -r "$sim/cellar" stats --json)
  meta=$(echo "$stats" | python3 -c "import json,sys; s=json.load(sys.stdin); print(s['stored_bytes'] - s['pack_bytes'] + s['tree_blob_bytes'], s['snapshots'])")
  echo "$day,$(size "$sim/cellar"),${meta% *},$( ((has_restic)) && size "$sim/restic"),$(size "$sim/live/mimir"),$((now * 1000)),$( [ -n "$newest" ] && stat -c %s "$dumps/$newest" || echo 0),${meta#* },$(python3 -c "print(f'{$t1 - $t0:.1f}')"),$rs" >> "$csv"
  if ((day % 30 == 0 || day == DAYS)); then echo "day $day: $(tail -1 "$csv")" >&2; fi
done
wait "${gens[@]}"
"$CELLAR" -r "$sim/cellar" check >/dev/null
# The final blocks and their sizes, for the reference (compacted data up to a night).
python3 - "$mimir" > "$sim/final.tsv" <<'PY'
import json, os, sys
src = sys.argv[1]
blocks = {}
for n in os.listdir(src):
    p = os.path.join(src, n, "meta.json")
    if os.path.exists(p):
        m = json.load(open(p))
        blocks[n] = (m, set(m["compaction"].get("sources") or [n]))
largest = {}  # per source: the most sources any block holding it has (laminar family)
for m, s in blocks.values():
    for x in s:
        largest[x] = max(largest.get(x, 0), len(s))
for n, (m, s) in blocks.items():
    if largest[next(iter(s))] > len(s):
        continue  # replaced by a block holding its sources
    size = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(os.path.join(src, n)) for f in fs)
    print(m["minTime"], m["maxTime"], size, sep="\t")
PY
"$CELLAR" -r "$sim/cellar" report --html "$sim/report.html" >/dev/null

python3 - "$csv" "$sim/final.tsv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
final = [tuple(map(int, l.split("\t"))) for l in open(sys.argv[2])]
for r in rows:  # the compacted data: final blocks of the samples up to that night
    r["compacted_bytes"] = sum(size for _, hi, size in final if hi <= int(r["now_ms"]))
mb = lambda v: f"{int(v) / 1e6:.2f}" if v else ""
print("| day | cellar MB | metadata MB | restic MB | compacted + newest dump MB | cellar ÷ compacted | restic ÷ cellar | snapshots |")
print("|---|---|---|---|---|---|---|---|")
last = len(rows)
for r in rows:
    d = int(r["day"])
    if d not in (1, 7, 14, 30, 60, 90, 120, 180, 240, 300, last) and d % 90:
        continue
    ref = int(r["compacted_bytes"]) + int(r["newest_dump_bytes"])
    c, rs = int(r["cellar_bytes"]), r["restic_bytes"]
    print(f"| {d} | {mb(c)} | {mb(r['cellar_metadata_bytes'])} | {mb(rs)} | {mb(ref)} | {c / ref:.2f} | "
          f"{int(rs) / c:.2f} | {r['cellar_snapshots']} |" if rs else f"| {d} | {mb(c)} | | | {mb(ref)} | {c / ref:.2f} | | |")
run = sum(float(r["cellar_run_s"]) for r in rows)
rest = sum(float(r["restic_s"] or 0) for r in rows)
print(f"\nnightly jobs summed: cellar run {run:.0f} s" + (f", restic backup+forget+prune {rest:.0f} s ({rest / run:.2f}×)" if rest else ""))
PY
echo "per-day CSV: $csv; report of the last day: $sim/report.html"
