#!/usr/bin/env bash
# No-change backups of many files: cellar beside restic at 100,000 and 1,000,000 files
# (issue 18's target: ≥ 5× restic at 1 M, with cellar's memory at 1 M ≤ 2× its memory
# at 100 k). Each file is ~100 bytes of JSON, 1,000 per directory, so the cost measured
# is per file and per directory (stat, tree lookup), not per byte.
#
#   benches/e2e/many-files.sh [COUNTS...]      (default: 100000 1000000)
# Environment: WORK=/tmp/cellar-many   CELLAR=target/release/cellar   RUNS=2 (no-change runs)
# Prints a markdown table: wall seconds and peak RSS of the first backup and of the
# median no-change backup, per tool, and cellar's ratios. Data is re-used between runs.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
WORK=${WORK:-/tmp/cellar-many}
CELLAR=${CELLAR:-$root/target/release/cellar}
RUNS=${RUNS:-2}
counts=${*:-100000 1000000}
export CELLAR_PASSWORD=bench RESTIC_PASSWORD=bench
command -v restic >/dev/null || { echo "restic is not installed" >&2; exit 1; }
mkdir -p "$WORK"

make_files() { # dir count
  [ -e "$1/.done" ] && return
  rm -rf "$1"
  python3 - "$1" "$2" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    d = os.path.join(root, f"d{i // 1000:04d}")
    if i % 1000 == 0:
        os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"f{i:07d}.json"), "w") as f:
        f.write('{"id": %d, "labels": {"job": "api-%d", "zone": "z%d"}, "value": %d}\n' % (i, i % 50, i % 3, i * 7))
PY
  touch "$1/.done"
}

# tool action src repo -> "seconds kib"
run() {
  local tool=$1 action=$2 src=$3 repo=$4 out cmd
  out=$(mktemp)
  case $tool:$action in
    cellar:init) cmd=("$CELLAR" init -r "$repo") ;;
    cellar:backup) cmd=("$CELLAR" backup -q -r "$repo" "$src") ;;
    restic:init) cmd=(restic -q -r "$repo" init) ;;
    restic:backup) cmd=(restic -q -r "$repo" backup "$src") ;;
  esac
  /usr/bin/time -f "%e %M" -o "$out" "${cmd[@]}" >/dev/null 2>"$out.err" || {
    echo "FAILED: ${cmd[*]}" >&2; cat "$out.err" >&2; rm -f "$out" "$out.err"; exit 1; }
  cat "$out"
  rm -f "$out" "$out.err"
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ratio() { python3 -c "import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); print(f'{b/a:.2f}x' if a>0 and b>0 else 'n/a')" "$1" "$2"; }

declare -A R
for n in $counts; do
  src=$WORK/files-$n
  make_files "$src" "$n"
  for t in cellar restic; do
    rm -rf "$WORK/repo-$n-$t"
    run $t init "" "$WORK/repo-$n-$t" >/dev/null
  done
  # Deleting the last run's repositories leaves the file system busy freeing them; the
  # first backup timed after that ran up to 5x slower (measured), so flush first.
  sync
  for t in cellar restic; do
    read -r s m < <(run $t backup "$src" "$WORK/repo-$n-$t")
    sync
    R[$n,$t,first]=$s R[$n,$t,first-rss]=$m
  done
  # No-change runs alternate between the tools.
  declare -A S M
  for i in $(seq 1 "$RUNS"); do
    for t in cellar restic; do
      read -r s m < <(run $t backup "$src" "$WORK/repo-$n-$t")
      S[$t]+="$s " M[$t]+="$m "
    done
  done
  for t in cellar restic; do
    R[$n,$t,nochange]=$(echo "${S[$t]}" | tr ' ' '\n' | grep . | median)
    R[$n,$t,nochange-rss]=$(echo "${M[$t]}" | tr ' ' '\n' | grep . | median)
  done
  unset S M
done

echo "## Many files, no change ($(date -u +%Y-%m-%d), $(nproc) cores, cellar $(git -C "$root" rev-parse --short HEAD))"
echo
echo "| files | metric | cellar | restic | cellar vs restic |"
echo "|---:|---|---:|---:|---:|"
for n in $counts; do
  for m in first first-rss nochange nochange-rss; do
    case $m in first) l="first backup (s)" ;; first-rss) l="first backup peak RSS (KiB)" ;;
      nochange) l="no-change backup, median of $RUNS (s)" ;; nochange-rss) l="no-change backup peak RSS (KiB)" ;; esac
    echo "| $n | $l | ${R[$n,cellar,$m]} | ${R[$n,restic,$m]} | $(ratio "${R[$n,cellar,$m]}" "${R[$n,restic,$m]}") |"
  done
done
set -- $counts
if [ $# -ge 2 ]; then
  echo
  echo "cellar's no-change peak RSS at $2 files over $1 files: $(ratio "${R[$1,cellar,nochange-rss]}" "${R[$2,cellar,nochange-rss]}")"
fi
