#!/usr/bin/env bash
# Request-counting S3 benchmark: a repository in S3 restored into a directory, restored
# into a bucket, and copied to a second S3 repository: wall time and requests of each.
# Restores into a bucket and copies should cost about what a directory restore costs (pack
# runs are read with one ranged GET each, whatever the target), not one GET per blob.
#
#   benches/e2e/s3-requests.sh [moto] [rgw]        (default: both)
#
# moto:  moto's server behind tests/support/s3_proxy.py adding LATENCY_MS (default 30) to
#        every request: what a user sees on real object storage. Requests are counted from
#        the proxy's log.
# rgw:   a stock Ceph RGW (tests/support/rgw.sh: beast without tcp_nodelay, as operators run
#        it), no proxy. Requests are counted from RGW's own access log (cellar's requests
#        only, by user agent).
# Data: a Mimir-like bucket of real promtool blocks (TSDB_SERIES=300 TSDB_HOURS=8, backed
# up from S3) plus COPY_MB=150 of random data in 16 MiB files, in one snapshot.
# Environment: WORK=/tmp/cellar-s3-bench, CELLAR=target/release/cellar. Prints a markdown
# table; "vs dir" is the operation's time over the directory restore's (lower is better).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
WORK=${WORK:-/tmp/cellar-s3-bench}
CELLAR=${CELLAR:-$root/target/release/cellar}
LATENCY_MS=${LATENCY_MS:-30}
COPY_MB=${COPY_MB:-150}
servers=${*:-moto rgw}
[ -x "$CELLAR" ] || (cd "$root" && cargo build --release --locked >/dev/null)
export CELLAR_PASSWORD=bench AWS_REGION=us-east-1

mkdir -p "$WORK"
data=$WORK/data
if [ ! -e "$data/.done" ]; then
  rm -rf "$data"
  mkdir -p "$data/random"
  REPLICAS=3 VERIFY=0 "$root/scripts/testdata/make-mimir-bucket.sh" "$data/mimir" "${TSDB_SERIES:-300}" "${TSDB_HOURS:-8}" >/dev/null
  for i in $(seq 1 $(( COPY_MB / 16 ))); do head -c $((16 << 20)) /dev/urandom >"$data/random/r$i.bin"; done
  touch "$data/.done"
fi

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -d "$WORK/rgw" ] && "$root/tests/support/rgw.sh" stop "$WORK/rgw" >/dev/null 2>&1 || true
}
trap cleanup EXIT

py() { python3 -c "import boto3, sys, os
from botocore.config import Config
s3 = boto3.client('s3', endpoint_url=os.environ['UPSTREAM'], config=Config(s3={'addressing_style': 'path'}))
$1" "${@:2}"; }

# Requests since the last mark, as "N (G GET, P PUT, O other)".
mark() {
  case $server in
    moto) : >"$WORK/proxy.log" ;;
    rgw) rgw_mark=$(wc -l <"$WORK/rgw/logs/client.rgw.log") ;;
  esac
}
requests() {
  local lines
  case $server in
    moto) lines=$(cut -d' ' -f1 "$WORK/proxy.log") ;;
    rgw) lines=$(tail -n +$((rgw_mark + 1)) "$WORK/rgw/logs/client.rgw.log" | grep ' beast: ' | grep -v 'Boto3/' \
                 | sed -E 's/.*\] "([A-Z]+) .*/\1/') ;;
  esac
  awk '{n++; if ($1=="GET") g++; else if ($1=="PUT") p++; else o++}
       END {printf "%d (%d GET, %d PUT, %d other)", n, g, p, o}' <<<"$lines"
}

now() { date +%s.%N; }
run() { # NAME ARGS...: time one cellar command, count its requests
  local name=$1; shift
  mark
  local t0; t0=$(now)
  "$CELLAR" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err" || { cat "$WORK/$name.err" >&2; exit 1; }
  secs[$name]=$(echo "$(now) - $t0" | bc)
  reqs[$name]=$(requests)
}

echo "| server | operation | seconds | vs dir restore | requests |"
echo "|---|---|---:|---:|---|"
for server in $servers; do
  declare -A secs=() reqs=()
  case $server in
    moto)
      port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
      python3 -m moto.server -H 127.0.0.1 -p "$port" >/dev/null 2>&1 & pids+=($!)
      until curl -s -o /dev/null "http://127.0.0.1:$port/"; do sleep 0.2; done
      export UPSTREAM=http://127.0.0.1:$port AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
      : >"$WORK/proxy.log"
      LATENCY_MS=$LATENCY_MS python3 "$root/tests/support/s3_proxy.py" "$UPSTREAM" "$WORK/proxy.log" >"$WORK/proxy.port" & pids+=($!)
      until grep -q listening "$WORK/proxy.port" 2>/dev/null; do sleep 0.1; done
      endpoint=http://127.0.0.1:$(awk '{print $2}' "$WORK/proxy.port")
      label="moto + ${LATENCY_MS} ms/request"
      ;;
    rgw)
      out=$("$root/tests/support/rgw.sh" start "$WORK/rgw" 2>"$WORK/rgw-start.err") || { cat "$WORK/rgw-start.err" >&2; exit 1; }
      export UPSTREAM=${out#RGW_ENDPOINT=} AWS_ACCESS_KEY_ID=cellartest AWS_SECRET_ACCESS_KEY=cellartestsecret
      endpoint=$UPSTREAM
      label="Ceph RGW 16 (stock)"
      ;;
  esac
  export AWS_ENDPOINT_URL=$endpoint CELLAR_CACHE_DIR=$WORK/cache-$server
  rm -rf "$CELLAR_CACHE_DIR" "$WORK/out-$server"
  py "for b in ['mimir', 'archive', 'offsite', 'restored']: s3.create_bucket(Bucket=b)
root = sys.argv[1]
for d, _, fs in os.walk(root):
    for f in fs:
        p = os.path.join(d, f)
        s3.upload_file(p, 'mimir', os.path.relpath(p, root))" "$data/mimir"
  "$CELLAR" --repo s3://archive/r init --kdf-memory-kib 1024 >/dev/null 2>&1
  "$CELLAR" --repo s3://offsite/r init --kdf-memory-kib 1024 >/dev/null 2>&1
  run backup --repo s3://archive/r backup --allow-corrupted s3://mimir "$data/random"
  run restore-dir --repo s3://archive/r restore latest --target "$WORK/out-$server"
  run restore-s3 --repo s3://archive/r restore latest --target s3://restored
  run copy --repo s3://archive/r copy --to-repo s3://offsite/r
  base=${secs[restore-dir]}
  for op in backup restore-dir restore-s3 copy; do
    printf "| %s | %s | %.2f | %s | %s |\n" "$label" "$op" "${secs[$op]}" \
      "$(echo "scale=2; ${secs[$op]} / $base" | bc)x" "${reqs[$op]}"
  done
  cleanup
  pids=()
  rm -rf "$WORK/rgw"
done
echo
echo "cellar $(git -C "$root" rev-parse --short HEAD), $(du -sh "$data/mimir" | cut -f1) of TSDB blocks + ${COPY_MB} MiB random, $(nproc) cores"
