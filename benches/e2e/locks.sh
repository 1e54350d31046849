#!/usr/bin/env bash
# What Object Lock costs on a real S3 (a stock Ceph RGW, tests/support/rgw.sh): a locked
# repository of DATA_MB of random data in 1 MiB packs, then
#   - a lock extension where every needed file is due (`--min-remaining` > the period),
#   - a lock extension right after (nothing due: the nightly case most days),
#   - forget + prune: what prune must keep because it is still locked, and until when.
# Prints a markdown table: seconds, requests (from RGW's access log, cellar's only), and
# per needed file; multiply by (100,000 / files) for a repository of 100k packs.
#
#   benches/e2e/locks.sh            (DATA_MB=2048, WORK=/tmp/cellar-locks-bench)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
WORK=${WORK:-/tmp/cellar-locks-bench}
CELLAR=${CELLAR:-$root/target/release/cellar}
DATA_MB=${DATA_MB:-2048}
[ -x "$CELLAR" ] || (cd "$root" && cargo build --release --locked >/dev/null)
export CELLAR_PASSWORD=bench AWS_REGION=us-east-1

mkdir -p "$WORK"
data=$WORK/data
if [ "$(cat "$data/.mb" 2>/dev/null)" != "$DATA_MB" ]; then
  rm -rf "$data"; mkdir -p "$data"
  for i in $(seq 1 $(( DATA_MB / 64 ))); do head -c $((64 << 20)) /dev/urandom >"$data/r$i.bin"; done
  echo "$DATA_MB" >"$data/.mb"
fi
cleanup() { "$root/tests/support/rgw.sh" stop "$WORK/rgw" >/dev/null 2>&1 || true; }
trap cleanup EXIT
rm -rf "$WORK/rgw" "$WORK/cache"
out=$("$root/tests/support/rgw.sh" start "$WORK/rgw" 2>"$WORK/rgw-start.err") || { cat "$WORK/rgw-start.err" >&2; exit 1; }
export AWS_ENDPOINT_URL=${out#RGW_ENDPOINT=} AWS_ACCESS_KEY_ID=cellartest AWS_SECRET_ACCESS_KEY=cellartestsecret
export CELLAR_CACHE_DIR=$WORK/cache
log=$WORK/rgw/logs/client.rgw.log
python3 -c "import boto3, os
from botocore.config import Config
s3 = boto3.client('s3', endpoint_url=os.environ['AWS_ENDPOINT_URL'], config=Config(s3={'addressing_style': 'path'}))
s3.create_bucket(Bucket='worm', ObjectLockEnabledForBucket=True)"
repo=s3://worm/r
"$CELLAR" --repo $repo init --object-lock governance --retain 30d --pack-size 1M --kdf-memory-kib 1024 >/dev/null 2>&1
"$CELLAR" --repo $repo backup "$data" >/dev/null 2>&1

now() { date +%s.%N; }
declare -A secs=() reqs=() json=()
run() { # NAME ARGS...: time one cellar command, count its requests by method
  local name=$1; shift
  local mark; mark=$(wc -l <"$log")
  local t0; t0=$(now)
  json[$name]=$("$CELLAR" --json "$@" 2>"$WORK/$name.err") || { cat "$WORK/$name.err" >&2; exit 1; }
  secs[$name]=$(echo "$(now) - $t0" | bc)
  reqs[$name]=$(tail -n +$((mark + 1)) "$log" | grep ' beast: ' | grep -v 'Boto3/' | sed -E 's/.*\] "([A-Z]+) .*/\1/' \
    | awk '{n++; c[$1]++} END {printf "%d (", n; s=""; for (k in c) {printf "%s%d %s", s, c[k], k; s=", "}; printf ")"}')
}
field() { python3 -c "import json, sys; print(json.loads(sys.argv[1]).get(sys.argv[2]))" "$1" "$2"; }
run extend-all --repo $repo locks extend --min-remaining 60d
run extend-none --repo $repo locks extend
snap=$("$CELLAR" --repo $repo snapshots --json | python3 -c 'import json, sys; print(json.load(sys.stdin)[0]["id"])')
"$CELLAR" --repo $repo forget "$snap" >/dev/null
"$CELLAR" --repo $repo prune --grace 0s >/dev/null 2>&1
run prune-locked --repo $repo prune --grace 0s

files=$(field "${json[extend-all]}" files_needed)
echo "| operation | seconds | requests | files extended | seconds per 1,000 needed files |"
echo "|---|---:|---|---:|---:|"
for op in extend-all extend-none; do
  printf "| locks extend (%s) | %.2f | %s | %s | %.2f |\n" "${op#extend-}" "${secs[$op]}" "${reqs[$op]}" \
    "$(field "${json[$op]}" files_extended)" "$(echo "scale=4; ${secs[$op]} * 1000 / $files" | bc)"
done
printf "| prune after forgetting everything | %.2f | %s | - | - |\n" "${secs[prune-locked]}" "${reqs[prune-locked]}"
echo
p=${json[prune-locked]}
echo "$files needed files ($(field "${json[extend-all]}" bytes_needed) bytes); after forgetting the only snapshot, prune keeps" \
  "$(field "$p" packs_locked) packs ($(field "$p" bytes_locked) bytes) locked until $(field "$p" locked_until_last);" \
  "cellar $(git -C "$root" rev-parse --short HEAD), Ceph RGW (stock, memstore), $(nproc) cores"
