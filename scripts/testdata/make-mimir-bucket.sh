#!/usr/bin/env bash
# Build a Mimir-like object-storage bucket on local disk, with TSDB blocks written
# by the real Prometheus TSDB writer (`promtool tsdb create-blocks-from openmetrics`).
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: make-mimir-bucket.sh OUT_DIR [SERIES] [HOURS]

Creates OUT_DIR/<tenant>/<ULID>/{meta.json,index,chunks/000001} for each tenant,
one 2h block per time range and ingester, with Mimir/Thanos-style meta.json.

  SERIES   series per tenant (default 200)
  HOURS    hours of samples (default 6 -> three 2h blocks per ingester)

Environment:
  REPLICAS=1        replication factor. With R>1, INGESTERS (default 2*R) ingesters
                    each get their own block per 2h range, holding the series that a
                    hash ring places on them (overlapping subsets, like RF3 over 6).
  INGESTERS=        number of simulated ingesters (default 1, or 2*REPLICAS)
  EXTRAS=0          1: per tenant also add, for the 6h before START, one partial block
                    (no meta.json), one corrupted block (no index), one block marked for
                    deletion (+ markers/<ULID>-deletion-mark.json), and bucket-index.json.gz
  TENANTS="anonymous team-a"
  STEP=15           scrape interval (seconds)
  START=1743465600  first sample, unix seconds (2025-04-01T00:00:00Z; keep it 2h-aligned)
  SEED=42           generator seed (sample data is deterministic; ULIDs are not)
  DROP_RATE=0.0005  probability that an ingester misses one replicated sample
  COMPACT=0         1: also run the real Prometheus compactor (the `prometheus` server on a
                    copy of each tenant's ingester blocks) and add its merged blocks, like
                    Mimir's compactor does: one level-2 block per 2h range merging the
                    replicas (meta.json compaction.sources lists them). 2: additionally
                    compact those into 6h/18h blocks (levels 3+). Each stage takes ~1 min
                    (Prometheus compacts one minute after start); tenants run in parallel.
  FORCE=0           1: wipe a non-empty OUT_DIR first (otherwise refuse)
  VERIFY=1          0: skip the final `promtool tsdb list` / `promtool tsdb analyze` check

Requires: promtool (apt-get install -y prometheus), python3.
EOF
}

die() { echo "make-mimir-bucket: error: $*" >&2; exit 1; }

case "${1:-}" in -h|--help) usage; exit 0;; "") usage >&2; exit 2;; esac
OUT_DIR=$1
SERIES=${2:-200}
HOURS=${3:-6}
REPLICAS=${REPLICAS:-1}
if [[ -z "${INGESTERS:-}" ]]; then
  if (( REPLICAS > 1 )); then INGESTERS=$((2 * REPLICAS)); else INGESTERS=1; fi
fi
EXTRAS=${EXTRAS:-0}
TENANTS=${TENANTS:-"anonymous team-a"}
STEP=${STEP:-15}
START=${START:-1743465600}
SEED=${SEED:-42}
DROP_RATE=${DROP_RATE:-0.0005}
FORCE=${FORCE:-0}
COMPACT=${COMPACT:-0}
VERIFY=${VERIFY:-1}
BLOCK_DURATION=2h

for v in SERIES HOURS REPLICAS INGESTERS STEP START SEED; do
  [[ "${!v}" =~ ^[0-9]+$ ]] || die "$v must be a non-negative integer (got '${!v}')"
done
(( SERIES > 0 && HOURS > 0 && REPLICAS > 0 && INGESTERS > 0 && STEP > 0 )) || die "SERIES, HOURS, REPLICAS, INGESTERS, STEP must be > 0"
(( REPLICAS <= INGESTERS )) || die "REPLICAS ($REPLICAS) must be <= INGESTERS ($INGESTERS)"
(( START % 7200 == 0 )) || echo "make-mimir-bucket: warning: START is not 2h-aligned; blocks will not start at START" >&2

command -v promtool >/dev/null || die "promtool not found; install it with: apt-get install -y prometheus"
command -v python3 >/dev/null || die "python3 not found"
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
GEN=$HERE/gen_openmetrics.py
[[ -f "$GEN" ]] || die "missing $GEN"

if [[ -e "$OUT_DIR" && -n "$(ls -A "$OUT_DIR" 2>/dev/null)" ]]; then
  [[ "$FORCE" == 1 ]] || die "$OUT_DIR is not empty (set FORCE=1 to wipe and regenerate)"
  rm -rf -- "${OUT_DIR:?}"/* "${OUT_DIR:?}"/.[!.]* 2>/dev/null || true
fi
mkdir -p "$OUT_DIR"
OUT_DIR=$(cd "$OUT_DIR" && pwd)

WORK=$(mktemp -d "${TMPDIR:-/tmp}/mimir-bucket.XXXXXX")
trap 'rm -rf -- "$WORK"' EXIT

T0=$(date +%s)

# Run promtool on one OpenMetrics file and move the resulting blocks into $2.
# Sets MADE=(ULID...) sorted (runs in the main shell so that `die` aborts).
make_blocks() {
  MADE=()
  local om=$1 dest=$2 tmp
  tmp=$(mktemp -d "$WORK/blocks.XXXXXX")
  promtool tsdb create-blocks-from --max-block-duration="$BLOCK_DURATION" openmetrics -q "$om" "$tmp" >&2 \
    || die "promtool failed on $om"
  local b
  for b in "$tmp"/*/; do
    b=${b%/}
    [[ -f "$b/meta.json" ]] || continue
    rm -f "$b/tombstones"            # Mimir's shipper does not upload tombstones
    mv "$b" "$dest/"
    MADE+=("$(basename "$b")")
  done
  rm -rf "$tmp"
  ((${#MADE[@]} > 0)) || die "promtool produced no blocks from $om"
}

# Rewrite meta.json files with a Mimir/Thanos "thanos" section (real file sizes).
# Args: tenant block_dir...   (SOURCE=compactor for merged blocks)
mimirize() {
  SOURCE=${SOURCE:-ingester} python3 - "$@" <<'PY'
import json, os, sys
tenant, dirs = sys.argv[1], sys.argv[2:]
for d in dirs:
    p = os.path.join(d, "meta.json")
    with open(p) as f:
        meta = json.load(f)
    segs = sorted(os.listdir(os.path.join(d, "chunks")))
    files = [{"rel_path": "chunks/" + s, "size_bytes": os.path.getsize(os.path.join(d, "chunks", s))} for s in segs]
    files.append({"rel_path": "index", "size_bytes": os.path.getsize(os.path.join(d, "index"))})
    files.append({"rel_path": "meta.json"})
    meta["thanos"] = {
        "version": 1,
        "labels": {"__org_id__": tenant},
        "downsample": {"resolution": 0},
        "source": os.environ["SOURCE"],
        "segment_files": segs,
        "files": files,
    }
    with open(p + ".tmp", "w") as f:
        json.dump(meta, f, indent="\t")
        f.write("\n")
    os.replace(p + ".tmp", p)
PY
}

# Write <tenant>/bucket-index.json.gz like Mimir's compactor (version 2).
bucket_index() {
  python3 - "$1" <<'PY'
import gzip, json, os, re, sys, time
tdir = sys.argv[1]
ulid_re = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")
blocks, marks = [], []
for name in sorted(os.listdir(tdir)):
    d = os.path.join(tdir, name)
    if not (ulid_re.match(name) and os.path.isdir(d)):
        continue
    mp = os.path.join(d, "meta.json")
    if not os.path.exists(mp):
        continue  # partial block: excluded from the index
    m = json.load(open(mp))
    th = m.get("thanos", {})
    b = {"block_id": m["ulid"], "min_time": m["minTime"], "max_time": m["maxTime"]}
    segs = th.get("segment_files", [])
    if segs and segs == ["%06d" % (i + 1) for i in range(len(segs))]:
        b["segments_format"], b["segments_num"] = "1b6d", len(segs)
    b["uploaded_at"] = int(os.path.getmtime(mp))
    if th.get("source"):
        b["source"] = th["source"]
    b["compaction_level"] = m.get("compaction", {}).get("level", 1)
    if th.get("labels"):
        b["labels"] = th["labels"]
    blocks.append(b)
mdir = os.path.join(tdir, "markers")
if os.path.isdir(mdir):
    for name in sorted(os.listdir(mdir)):
        if name.endswith("-deletion-mark.json"):
            dm = json.load(open(os.path.join(mdir, name)))
            marks.append({"block_id": dm["id"], "deletion_time": dm["deletion_time"]})
idx = {"version": 2, "blocks": blocks, "block_deletion_marks": marks, "updated_at": int(time.time())}
with gzip.open(os.path.join(tdir, "bucket-index.json.gz"), "wt") as f:
    json.dump(idx, f)
PY
}

# Run the real Prometheus TSDB compactor over the blocks in each of "$@" (data dirs, one
# per tenant, in parallel) until no blocks overlap and no range compaction is pending.
# max-block-duration bounds the ranges: 2h = only merge overlapping replicas.
compact_dirs() {
  local maxdur=$1; shift
  local pids=() i=0 d
  printf 'global: {}\n' > "$WORK/prometheus.yml"
  for d in "$@"; do
    prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$d" \
      --storage.tsdb.retention.time=100y --storage.tsdb.min-block-duration=2h \
      --storage.tsdb.max-block-duration="$maxdur" --web.listen-address="127.0.0.1:0" \
      > "$d.log" 2>&1 &
    pids+=($!)
    i=$((i + 1))
  done
  # Prometheus compacts a minute after start; it logs "compact blocks" per new block and
  # its planner is done when the block set satisfies expect_done (polled, not slept).
  local deadline=$(( $(date +%s) + 600 ))
  for d in "$@"; do
    until python3 - "$d" "$maxdur" <<'PY'
import json, os, sys
d, maxdur = sys.argv[1], sys.argv[2]
if any(n.endswith(".tmp-for-creation") or n.endswith(".tmp-for-deletion") for n in os.listdir(d)):
    sys.exit(1)
metas = []
for n in os.listdir(d):
    p = os.path.join(d, n, "meta.json")
    if os.path.exists(p):
        metas.append(json.load(open(p)))
metas.sort(key=lambda m: m["minTime"])
# no overlaps left
for a, b in zip(metas, metas[1:]):
    if b["minTime"] < a["maxTime"]:
        sys.exit(1)
if maxdur != "2h":
    # Range compaction (ranges 6h and 18h): every aligned range but the newest holds at
    # most one block, like Prometheus' planner leaves it.
    H = 3600 * 1000
    for r in (6 * H, 18 * H):
        groups = {}
        for m in metas:
            groups.setdefault(m["minTime"] // r, []).append(m)
        newest = max(groups)
        if any(len(g) > 1 and max(x["maxTime"] for x in g) - min(x["minTime"] for x in g) <= r
               for k, g in groups.items() if k != newest):
            sys.exit(1)
sys.exit(0)
PY
    do
      (( $(date +%s) < deadline )) || { kill "${pids[@]}" 2>/dev/null; die "prometheus did not compact $d in time (log: $d.log)"; }
      sleep 2
    done
  done
  kill "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
}

# Blocks of data dir $2 that are not in tenant dir $1 (the compactor's output) move
# there, with a Mimir meta.json (source: compactor). Sets MADE=(ULID...).
adopt_compacted() {
  local tdir=$1 d=$2 b
  MADE=()
  for b in "$d"/*/; do
    b=${b%/}
    [[ -f "$b/meta.json" && ! -e "$tdir/$(basename "$b")" ]] || continue
    rm -f "$b/tombstones"
    cp -a "$b" "$tdir/"
    MADE+=("$tdir/$(basename "$b")")
  done
  ((${#MADE[@]} > 0)) && SOURCE=compactor mimirize "$(basename "$tdir")" "${MADE[@]}"
  return 0
}

ti=0
for tenant in $TENANTS; do
  tdir=$OUT_DIR/$tenant
  mkdir -p "$tdir"
  tseed=$((SEED + ti * 7919))
  echo "== tenant $tenant: $SERIES series, ${HOURS}h, step ${STEP}s, ingesters=$INGESTERS rf=$REPLICAS" >&2
  python3 "$GEN" --tenant "$tenant" --series "$SERIES" --hours "$HOURS" --step "$STEP" \
    --start "$START" --seed "$tseed" --ingesters "$INGESTERS" --rf "$REPLICAS" \
    --drop-rate "$DROP_RATE" --out-prefix "$WORK/$tenant-ing"
  new=()
  for ((i = 0; i < INGESTERS; i++)); do
    make_blocks "$WORK/$tenant-ing-$i.om" "$tdir"
    new+=("${MADE[@]/#/$tdir/}")
    rm -f "$WORK/$tenant-ing-$i.om"
  done
  ((${#new[@]} > 0)) || die "promtool produced no blocks for $tenant"
  mimirize "$tenant" "${new[@]}"
  if [[ "$COMPACT" != 0 ]]; then
    mkdir -p "$WORK/prom-$tenant"
    cp -a "${new[@]}" "$WORK/prom-$tenant/"
  fi

  if [[ "$EXTRAS" == 1 ]]; then
    xs=$(( SERIES / 4 > 10 ? SERIES / 4 : 10 ))
    python3 "$GEN" --tenant "$tenant" --series "$xs" --hours 6 --step "$STEP" \
      --start $((START - 6 * 3600)) --seed $((tseed + 1000)) --ingesters 1 --rf 1 \
      --drop-rate 0 --out-prefix "$WORK/$tenant-extra"
    make_blocks "$WORK/$tenant-extra-0.om" "$tdir"
    # order by minTime: oldest -> partial, then corrupted, then deletion-marked
    mapfile -t xb < <(for u in "${MADE[@]}"; do
      printf '%s %s\n' "$(sed -n 's/.*"minTime": *\([0-9]*\).*/\1/p' "$tdir/$u/meta.json")" "$u"
    done | sort -n | cut -d' ' -f2)
    rm -f "$WORK/$tenant-extra-0.om"
    ((${#xb[@]} >= 3)) || die "expected 3 extra blocks for $tenant, got ${#xb[@]}"
    mimirize "$tenant" "${xb[@]/#/$tdir/}"
    # 1) partial upload: chunks + index uploaded, meta.json (uploaded last) missing
    rm -f "$tdir/${xb[0]}/meta.json"
    # 2) corrupted: meta.json + chunks, index lost
    rm -f "$tdir/${xb[1]}/index"
    # 3) complete block marked for deletion (Thanos mark + Mimir global marker)
    mark=$(printf '{"id":"%s","deletion_time":1700000000,"version":1}' "${xb[2]}")
    printf '%s\n' "$mark" > "$tdir/${xb[2]}/deletion-mark.json"
    mkdir -p "$tdir/markers"
    printf '%s\n' "$mark" > "$tdir/markers/${xb[2]}-deletion-mark.json"
    echo "   extras: partial=${xb[0]} corrupted(no index)=${xb[1]} deletion-marked=${xb[2]}" >&2
    bucket_index "$tdir"
  fi
  ti=$((ti + 1))
done

if [[ "$COMPACT" != 0 ]]; then
  command -v prometheus >/dev/null || die "prometheus not found; install it with: apt-get install -y prometheus"
  dirs=()
  for tenant in $TENANTS; do dirs+=("$WORK/prom-$tenant"); done
  echo "== compacting replicas with the Prometheus compactor (~1 min)" >&2
  compact_dirs 2h "${dirs[@]}"
  for tenant in $TENANTS; do adopt_compacted "$OUT_DIR/$tenant" "$WORK/prom-$tenant"; done
  if [[ "$COMPACT" == 2 ]]; then
    echo "== compacting 2h blocks into 6h/18h blocks (~1 min)" >&2
    compact_dirs 24h "${dirs[@]}"
    for tenant in $TENANTS; do adopt_compacted "$OUT_DIR/$tenant" "$WORK/prom-$tenant"; done
  fi
fi

# Summary
echo
echo "Mimir-like bucket at $OUT_DIR (took $(( $(date +%s) - T0 ))s)"
for tenant in $TENANTS; do
  tdir=$OUT_DIR/$tenant
  nb=$(find "$tdir" -mindepth 1 -maxdepth 1 -type d -regextype posix-extended -regex '.*/[0-9A-Z]{26}' | wc -l)
  ranges=$(cat "$tdir"/*/meta.json 2>/dev/null | python3 -c '
import sys, json, datetime, re
txt = sys.stdin.read()
dec = json.JSONDecoder(); i = 0; r = {}
while i < len(txt):
    while i < len(txt) and txt[i].isspace(): i += 1
    if i >= len(txt): break
    m, i = dec.raw_decode(txt, i)
    r[m["minTime"]] = r.get(m["minTime"], 0) + 1
f = lambda ms: datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc).strftime("%m-%dT%H:%MZ")
print(" ".join("%s:%d" % (f(k), v) for k, v in sorted(r.items())))')
  printf '  %-10s %3d blocks, %6s   blocks per 2h range (with meta.json): %s\n' \
    "$tenant" "$nb" "$(du -sh "$tdir" | cut -f1)" "$ranges"
done
echo "  total: $(du -sh "$OUT_DIR" | cut -f1), $(find "$OUT_DIR" -type f | wc -l) files"

# Verify with promtool. `promtool tsdb list` refuses a directory holding a block
# without index, so check a hard-linked view with only the complete blocks.
if [[ "$VERIFY" == 1 ]]; then
  for tenant in $TENANTS; do
    view=$WORK/verify-$tenant
    mkdir -p "$view"
    for b in "$OUT_DIR/$tenant"/*/; do
      b=${b%/}
      [[ -f "$b/meta.json" && -f "$b/index" ]] || continue
      cp -al "$b" "$view/" 2>/dev/null || cp -a "$b" "$view/"
    done
    echo
    echo "promtool tsdb list -r $OUT_DIR/$tenant (complete blocks only):"
    promtool tsdb list -r "$view" || die "promtool tsdb list failed for $tenant"
    echo "promtool tsdb analyze (newest block, first lines):"
    promtool tsdb analyze "$view" > "$WORK/analyze.txt" || die "promtool tsdb analyze failed for $tenant"
    head -n 5 "$WORK/analyze.txt"
    rm -rf "$view"
  done
fi
