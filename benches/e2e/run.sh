#!/usr/bin/env bash
# End-to-end benchmark: cellar beside restic, borg and rustic on the same data, in
# alternation, printing a markdown table of cellar's ratio to each peer.
#
#   benches/e2e/run.sh [--install] [--quick] [DATASET...]
#   DATASET: random text tsdb dumps small (default: all)
#
# --install   apt-get install restic borgbackup; cargo install rustic-rs (slow: compiles)
# --quick     the regression guard: every data class at a small size, cellar vs restic
#             only, a few minutes. Run it before landing a change to backup, restore,
#             chunking, compression or packing, and paste its table into RESULTS.md.
# Environment:
#   WORK=/tmp/cellar-bench   data sets and repositories (re-used between runs)
#   CELLAR=target/release/cellar   RUSTIC=rustic   TOOLS="cellar restic borg rustic"
#   TSDB_SERIES=1000 TSDB_HOURS=12 (REPLICAS=3)   DUMP_DAYS=30   SMALL_FILES=100000
# Every number is wall time in seconds on a warm page cache (this script cannot drop
# caches), peak RSS from /usr/bin/time -v, and repository size from du. Ratios > 1 mean
# cellar is faster/smaller.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
WORK=${WORK:-/tmp/cellar-bench}
CELLAR=${CELLAR:-$root/target/release/cellar}
RUSTIC=${RUSTIC:-rustic}
TOOLS=${TOOLS:-cellar restic borg rustic}
export CELLAR_PASSWORD=bench RESTIC_PASSWORD=bench BORG_PASSPHRASE=bench RUSTIC_PASSWORD=bench
export BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes BORG_RELOCATED_REPO_ACCESS_IS_OK=yes

if [ "${1:-}" = --install ]; then
  shift
  apt-get install -y -qq restic borgbackup >/dev/null
  command -v rustic >/dev/null || cargo install --locked rustic-rs
fi
if [ "${1:-}" = --quick ]; then
  shift
  WORK=${WORK:-/tmp/cellar-bench}-quick
  export RANDOM_MB=${RANDOM_MB:-200} TEXT_MB=${TEXT_MB:-100} TSDB_SERIES=${TSDB_SERIES:-300} TSDB_HOURS=${TSDB_HOURS:-8}
  export DUMP_DAYS=${DUMP_DAYS:-5} SMALL_FILES=${SMALL_FILES:-20000}
  TOOLS=${TOOLS_QUICK:-cellar restic}
fi
datasets=${*:-random text tsdb dumps small}
[ -x "$CELLAR" ] || (cd "$root" && cargo build --release --locked >/dev/null)
available=""
for t in $TOOLS; do
  case $t in
    cellar) available+=" cellar" ;;
    restic) command -v restic >/dev/null && available+=" restic" || echo "note: restic not installed, skipped" >&2 ;;
    borg) command -v borg >/dev/null && available+=" borg" || echo "note: borg not installed, skipped" >&2 ;;
    rustic) command -v "$RUSTIC" >/dev/null && available+=" rustic" || echo "note: rustic not installed, skipped" >&2 ;;
  esac
done
mkdir -p "$WORK"

make_data() {
  local d=$WORK/data/$1
  [ -e "$d/.done" ] && return
  rm -rf "$d"
  case $1 in
    random) mkdir -p "$d/random" && for i in $(seq 1 $(( ${RANDOM_MB:-1024} / 64 ))); do
        head -c $((64 << 20)) /dev/urandom >"$d/random/r$i.bin"; done ;;
    text) mkdir -p "$d/logs" && python3 - "$d/logs" "${TEXT_MB:-512}" <<'PY'
import os, random, sys
root, mb = sys.argv[1], int(sys.argv[2])
rnd = random.Random(11)
paths = ["/api/v1/query", "/api/v1/push", "/loki/api/v1/push", "/ready", "/metrics"]
for n in range(max(1, mb // 32)):
    with open(os.path.join(root, f"app-{n:03d}.log"), "w") as f:
        size = 0
        while size < 32 << 20:
            line = (f"2026-11-{1 + rnd.randrange(28):02d}T{rnd.randrange(24):02d}:{rnd.randrange(60):02d}:"
                    f"{rnd.randrange(60):02d}.{rnd.randrange(1000):03d}Z level={rnd.choice(['info','warn','error','debug'])} "
                    f"caller={rnd.choice(['handler.go','push.go','query.go'])}:{rnd.randrange(900)} "
                    f"method={rnd.choice(['GET','POST'])} path={rnd.choice(paths)} status={rnd.choice([200,200,200,204,400,500])} "
                    f"duration={rnd.random() * 2:.6f}s tenant=team-{rnd.randrange(40)} traceID={rnd.getrandbits(64):016x}\n")
            f.write(line)
            size += len(line)
PY
    ;;
    tsdb) REPLICAS=${REPLICAS:-3} VERIFY=0 "$root/scripts/testdata/make-mimir-bucket.sh" "$d/mimir" "${TSDB_SERIES:-1000}" "${TSDB_HOURS:-12}" >/dev/null ;;
    dumps) mkdir -p "$d/backup" && "$root/scripts/testdata/make-pg-dumps.sh" "$d/backup" "${DUMP_DAYS:-30}" >/dev/null ;;
    small) python3 - "$d/small" "${SMALL_FILES:-100000}" <<'PY'
import os, random, sys
root, n = sys.argv[1], int(sys.argv[2])
rnd = random.Random(7)
for i in range(n):
    d = os.path.join(root, f"d{i // 1000:03d}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"f{i:06d}.json"), "w") as f:
        f.write('{"id": %d, "labels": {"job": "api-%d"}, "value": %f}\n' % (i, rnd.randrange(50), rnd.random()) * rnd.randrange(1, 40))
PY
    ;;
  esac
  touch "$d/.done"
}

# Add new files amounting to 5% of the data set's files.
add_five_percent() {
  local src=$1 n
  n=$(find "$src" -type f ! -name .done | wc -l || true)
  n=$(( (n + 19) / 20 ))
  mkdir -p "$src/zz-new"
  local files f
  mapfile -t files < <(find "$src" -type f ! -name .done ! -path '*/zz-new/*' | sort)
  for f in "${files[@]:0:$n}"; do
    { cat "$f"; echo "new $RANDOM"; } >"$src/zz-new/$(basename "$f").$RANDOM"
  done
}

# run TOOL ACTION SRC REPO TARGET -> prints "seconds kib"
run() {
  local tool=$1 action=$2 src=$3 repo=$4 target=${5:-} out
  out=$(mktemp)
  case $tool:$action in
    cellar:init) cmd=("$CELLAR" init -r "$repo") ;;
    cellar:backup) cmd=("$CELLAR" backup -q -r "$repo" --allow-corrupted "$src") ;;
    cellar:restore) cmd=("$CELLAR" restore -q -r "$repo" latest --target "$target") ;;
    restic:init) cmd=(restic -q -r "$repo" init) ;;
    restic:backup) cmd=(restic -q -r "$repo" backup "$src") ;;
    restic:restore) cmd=(restic -q -r "$repo" restore latest --target "$target") ;;
    borg:init) cmd=(borg init -e repokey-blake2 "$repo") ;;
    borg:backup) cmd=(borg create --compression zstd,3 "$repo::{now:%Y%m%d%H%M%S%f}" "$src") ;;
    borg:restore) cmd=(bash -c "mkdir -p '$target' && cd '$target' && borg extract \"$repo::\$(borg list --last 1 --short '$repo')\"") ;;
    rustic:init) cmd=("$RUSTIC" -r "$repo" init) ;;
    rustic:backup) cmd=("$RUSTIC" -r "$repo" backup "$src") ;;
    rustic:restore) cmd=("$RUSTIC" -r "$repo" restore latest "$target") ;;
  esac
  /usr/bin/time -f "%e %M" -o "$out" "${cmd[@]}" >/dev/null 2>"$out.err" || {
    echo "FAILED: ${cmd[*]}" >&2; cat "$out.err" >&2; echo "nan 0"; return; }
  cat "$out"
  rm -f "$out" "$out.err"
}

declare -A R
for ds in $datasets; do
  make_data "$ds"
  base=$WORK/data/$ds
  for t in $available; do rm -rf "$WORK/repo-$ds-$t" "$WORK/restore-$ds-$t"; done
  for t in $available; do run "$t" init "" "$WORK/repo-$ds-$t" >/dev/null; done
  # Each step runs every tool before the next step (alternation), on its own copy of the
  # source so that later steps see the same changes.
  for t in $available; do rm -rf "$WORK/src-$ds-$t"; cp -a "$base" "$WORK/src-$ds-$t"; rm -f "$WORK/src-$ds-$t/.done"; done
  for step in first nochange fivepct restore; do
    for t in $available; do
      src=$WORK/src-$ds-$t repo=$WORK/repo-$ds-$t
      case $step in
        fivepct) add_five_percent "$src" ;;
        restore) rm -rf "$WORK/restore-$ds-$t" ;;
      esac
      # Flush what the preparation (the source copies, a deleted restore) left for the
      # disk: it was timed as part of whichever tool ran next (up to 3x on a 1 s step).
      sync
      case $step in
        first | nochange | fivepct) read -r s m < <(run "$t" backup "$src" "$repo") ;;
        restore) read -r s m < <(run "$t" restore "$src" "$repo" "$WORK/restore-$ds-$t") ;;
      esac
      R[$ds,$t,$step]=$s R[$ds,$t,$step-rss]=$m
    done
  done
  for t in $available; do R[$ds,$t,size]=$(du -sb "$WORK/repo-$ds-$t" | cut -f1); done
  R[$ds,input]=$(du -sb "$base" | cut -f1)
done

ratio() { python3 -c "import sys,math; a,b=float(sys.argv[1]),float(sys.argv[2]); print('n/a' if a<=0 or b<=0 or math.isnan(a) or math.isnan(b) else f'{b/a:.2f}x')" "$1" "$2"; }
echo "## $(date -u +%Y-%m-%d) on $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; cellar $("$CELLAR" --version | cut -d' ' -f2)"
for ds in $datasets; do
  echo
  echo "### $ds ($(numfmt --to=iec "${R[$ds,input]}") input)"
  printf '| metric |'; for t in $available; do printf ' %s |' "$t"; done
  for t in $available; do [ "$t" = cellar ] || printf ' cellar vs %s |' "$t"; done; echo
  printf '|---|'; for t in $available; do printf -- '---|'; done; for t in $available; do [ "$t" = cellar ] || printf -- '---|'; done; echo
  for m in first nochange fivepct restore first-rss size; do
    case $m in first) label="first backup (s)" ;; nochange) label="no-change backup (s)" ;; fivepct) label="backup after 5% new files (s)" ;;
      restore) label="full restore (s)" ;; first-rss) label="first backup peak RSS (KiB)" ;; size) label="repository size (bytes)" ;; esac
    printf '| %s |' "$label"
    for t in $available; do printf ' %s |' "${R[$ds,$t,$m]}"; done
    for t in $available; do [ "$t" = cellar ] || printf ' %s |' "$(ratio "${R[$ds,cellar,$m]}" "${R[$ds,$t,$m]}")"; done
    echo
  done
done
