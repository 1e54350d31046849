#!/usr/bin/env bash
# A real single-node Ceph RADOS Gateway (Ceph 16.2 "pacific", Debian 12 packages ceph-mon,
# ceph-osd, radosgw, ceph-common) on 127.0.0.1, for integration tests. No systemd; runs as root
# (or any user who can write DIR). All state lives under DIR; nothing reads or writes /etc/ceph,
# /var/lib/ceph, /var/run/ceph or /var/log/ceph.
#
#   tests/support/rgw.sh start DIR
#       Makes a fresh cluster in DIR (created if missing; an earlier cluster there is stopped
#       and its files replaced): one mon, one BlueStore OSD on a 10 GiB sparse file, radosgw
#       (beast frontend, stock settings) on a free port of 127.0.0.1. Creates the S3 user
#       access key "cellartest" / secret "cellartestsecret" and the storage classes
#       STANDARD_IA, GLACIER, DEEP_ARCHIVE (each with its own data pool), then checks with
#       boto3 that it serves S3 (create bucket, PUT with StorageClass=GLACIER, GET, delete).
#       Success: exactly one line on stdout, "RGW_ENDPOINT=http://127.0.0.1:PORT", exit 0.
#       Failure: log tails on stderr, everything it started is stopped, exit 1.
#       Progress goes to stderr; daemon logs to DIR/logs. Daemons run detached (own session),
#       they hold none of the caller's file descriptors, so $(rgw.sh start DIR) returns.
#   tests/support/rgw.sh stop DIR
#       SIGTERM to radosgw, then the OSD, then the mon (by DIR/run/*.pid), waiting for each
#       (SIGKILL after 10 s). Idempotent; leaves DIR in place (rm -rf it yourself).
#   Environment: RGW_START_TIMEOUT (s, default 120), RGW_OSD_STORE=memstore (data in RAM,
#   starts ~2 s faster). Needs python3 with boto3 on PATH.
#
# Measured on the 2-core dev machine (ext4): start 5.3-5.5 s with BlueStore (6-6.6 s each when
# two start at once; ~4 s with memstore), stop ~0.7 s; DIR is ~45 MB on disk after start (10 GiB apparent: the sparse block
# file), mostly the mon's RocksDB. Several clusters in different DIRs run side by side.
#
# What RGW 16.2.15 does (checked with boto3 1.43 against this harness):
# - PutObject with If-None-Match: * on an existing key: 412, <Code>PreconditionFailed</Code>,
#   empty <Message>; the object is unchanged. On a new key: 200.
# - CompleteMultipartUpload with If-None-Match: * (header is sent) on an existing key: 200, the
#   object IS REPLACED -- RGW 16.2 ignores the precondition there. The
#   CompleteMultipartUploadResult's <ETag> is EMPTY (HEAD the object for its ETag).
# - RestoreObject (POST ?restore) on a GLACIER object, on a STANDARD one, even on a missing key:
#   501, <Code>NotImplemented</Code>, empty <Message>. GET of a GLACIER object just works
#   (200, x-amz-storage-class: GLACIER); storage classes here are only placement labels.
# - PUT / CreateMultipartUpload / CopyObject with an undeclared storage class (ONEZONE_IA,
#   INTELLIGENT_TIERING, REDUCED_REDUNDANCY): 400, <Code>InvalidArgument</Code>, empty
#   <Message>. Declared ones (STANDARD_IA, GLACIER, DEEP_ARCHIVE) are accepted and reported back
#   by HEAD/GET/ListObjectsV2. CopyObject onto itself with StorageClass=GLACIER changes the class.
# - Storage classes added with radosgw-admin while radosgw runs are NOT seen until radosgw is
#   restarted (no realm/period here, so no `period update --commit`; there is no realm at all).
#   This script declares them before radosgw first starts.
# - Object Lock: CreateBucket ObjectLockEnabledForBucket=True works and turns versioning on
#   (Status Enabled). PutObject with ObjectLockMode=COMPLIANCE + RetainUntilDate: 200 with a
#   VersionId; GetObjectRetention returns it. DeleteObject of that version: 403
#   <Code>AccessDenied</Code> <Message>forbidden by object lock</Message>, also with
#   x-amz-bypass-governance-retention. DeleteObject without VersionId: 204, delete marker.
#   GOVERNANCE: 403 as above, 204 with BypassGovernanceRetention=True. Bucket default retention
#   (PutObjectLockConfiguration COMPLIANCE 1 day) applies to a plain PUT. DeleteObjects of a
#   locked version: 200 with Errors=[{Code: AccessDenied, Message: AccessDenied}].
# - Latency, stock beast (no tcp_nodelay): GET of a small object (100 B or 4 KiB) on a reused
#   keep-alive connection takes ~44 ms (Nagle on the server + the client's delayed ACK); a
#   64 KiB or 1 MiB GET takes 3-5 ms, HEAD ~3.5 ms, a 100 B PUT ~8 ms, and a GET on a fresh
#   connection (curl) ~1.5 ms. With `tcp_nodelay=1` in rgw frontends small GETs drop to
#   ~3-4 ms -- this harness deliberately keeps the stock setting.
# - With `auth ... required = none`, radosgw (not radosgw-admin or ceph) never reaches the mon
#   unless `ms mon client mode` allows crc: its log repeats "send_auth_request
#   get_initial_auth_request returned -13" and it never listens.
#
# Fragile points: the two ports are picked by binding port 0 and released before the daemons
# bind them (a race with other programs, very unlikely); unix-socket paths are limited to 107
# bytes, so a DIR longer than ~80 characters loses the admin sockets (logged, harmless: nothing
# here uses them); the mon refuses to run if the filesystem of DIR is over 99% full.
set -euo pipefail

RGW_ACCESS_KEY=cellartest
RGW_SECRET_KEY=cellartestsecret
START_TIMEOUT=${RGW_START_TIMEOUT:-120}
OSD_STORE=${RGW_OSD_STORE:-bluestore}

log() { echo "rgw.sh: $*" >&2; }

usage() {
    echo "usage: $0 start DIR | stop DIR" >&2
    exit 2
}

[ $# -eq 2 ] || usage
cmd=$1
dir=$(realpath -m -- "$2")
case "$dir" in
    *[[:space:]\$\;\#]*) log "DIR must not contain spaces, '\$', ';' or '#': $dir"; exit 2 ;;
esac
conf=$dir/ceph.conf
run=$dir/run
logs=$dir/logs

daemons="rgw osd.0 mon.a"   # stop order

# alive and not a zombie
running() {
    [ -r "/proc/$1/stat" ] && ! sed -E 's/^[0-9]+ \(.*\) //' "/proc/$1/stat" 2>/dev/null | grep -q '^Z'
}

# A pid from a pid file is only signalled if that process runs with our ceph.conf (guards
# against pid reuse).
is_ours() {
    tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF -- "$conf"
}

# One by one, radosgw first: a radosgw whose OSD and mon are already gone hangs in its
# shutdown (its own alarm is 120 s).
stop_cluster() {
    local name pidf pid i
    for name in $daemons; do
        pidf=$run/$name.pid
        [ -f "$pidf" ] || continue
        pid=$(cat "$pidf" 2>/dev/null || true)
        if [ -n "$pid" ] && running "$pid" && is_ours "$pid"; then
            kill -TERM "$pid" 2>/dev/null || true
            for i in $(seq 100); do
                running "$pid" || break
                sleep 0.1
            done
            if running "$pid"; then
                log "$name (pid $pid) still alive 10 s after SIGTERM, sending SIGKILL"
                kill -KILL "$pid" 2>/dev/null || true
                while running "$pid"; do sleep 0.1; done
            fi
        fi
        rm -f "$pidf"
    done
}

if [ "$cmd" = stop ]; then
    [ -d "$run" ] && stop_cluster
    exit 0
fi
[ "$cmd" = start ] || usage

# ---------------------------------------------------------------------------------- start
t0=$EPOCHREALTIME
elapsed() { echo $(( (${EPOCHREALTIME/./} - ${t0/./}) / 100000 )) | sed -E 's/([0-9])$/.\1/; s/^\./0./'; }

fail() {
    trap - ERR INT TERM HUP
    log "FAILED: $*"
    local f
    for f in "$logs"/*.out "$logs"/mon.a.log "$logs"/osd.0.log "$logs"/client.rgw.log; do
        [ -s "$f" ] || continue
        echo "----- tail of $f -----" >&2
        grep -v '^$' "$f" | tail -n 20 >&2
    done
    stop_cluster
    exit 1
}
trap 'fail "command failed at line $LINENO"' ERR
trap 'fail "interrupted"' INT TERM HUP

deadline=$(( ${EPOCHREALTIME%.*} + START_TIMEOUT ))
check_deadline() {
    [ "${EPOCHREALTIME%.*}" -lt "$deadline" ] || fail "timed out (${START_TIMEOUT}s) while $1"
}

if [ -d "$run" ]; then
    stop_cluster   # an earlier cluster in DIR
fi
rm -rf -- "$conf" "$dir/monmap" "$dir/keyring" "$dir/mon" "$dir/osd" "$dir/rgw" "$run" "$logs" \
    "$dir/crash"
mkdir -p "$dir" "$run" "$logs" "$dir/mon" "$dir/osd/0" "$dir/rgw" "$dir/crash"

for tool in ceph-mon ceph-osd radosgw radosgw-admin monmaptool ceph python3 setsid timeout; do
    command -v "$tool" >/dev/null \
        || fail "missing $tool (apt-get install ceph-mon ceph-osd radosgw ceph-common)"
done
python3 -c 'import boto3' 2>/dev/null || fail "python3 has no boto3 (python3 -m pip install boto3)"

read -r mon_port rgw_port < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])')
fsid=$(cat /proc/sys/kernel/random/uuid)
osd_uuid=$(cat /proc/sys/kernel/random/uuid)

cat >"$conf" <<EOF
# generated by tests/support/rgw.sh
[global]
fsid = $fsid
mon host = [v2:127.0.0.1:$mon_port]
mon initial members = a
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind msgr1 = false
ms bind msgr2 = true
ms bind ipv6 = false
auth cluster required = none
auth service required = none
auth client required = none
# with auth none radosgw's msgr2 connection to the mon fails with -13 unless crc is allowed
ms mon client mode = crc secure
mon warn on insecure global id reclaim allowed = false
keyring = $dir/keyring
run dir = $run
crash dir = $dir/crash
log file = $logs/\$name.log
mon cluster log file = $logs/cluster.log
log to stderr = false
err to stderr = true
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon max pg per osd = 1000
mon warn on pool no redundancy = false
mon data avail warn = 2
mon data avail crit = 1
osd objectstore = $OSD_STORE
# RGW creates its ~10 pools one at a time, each waiting for a new osdmap epoch; the mon
# batches proposals for paxos_propose_interval (1 s by default): that alone cost ~15 s of start
paxos propose interval = 0.05
paxos min wait = 0.01

[mon]
mon data = $dir/mon/\$id
admin socket = $run/\$name.asok

[osd]
osd data = $dir/osd/\$id
admin socket = $run/\$name.asok
bluestore block create = true
bluestore block size = 10737418240
bluestore block db create = false
bluestore block wal create = false
bluestore fsck on mkfs = false
# each close of the block file waits out the aio thread's poll timeout (250 ms by default);
# mkfs + boot close it ~15 times: 20 ms saves ~3 s of start
bdev aio poll ms = 20
memstore device bytes = 10737418240
osd memory target = 1073741824

[client.rgw]
rgw data = $dir/rgw
admin socket = $run/\$name.asok
rgw frontends = beast endpoint=127.0.0.1:$rgw_port
EOF

ceph_() { timeout 60 ceph -c "$conf" --connect-timeout 30 "$@"; }
radosgw_admin() { timeout 60 radosgw-admin -c "$conf" "$@" >>"$logs/radosgw-admin.out" 2>&1; }

# A daemon in the foreground (-f) in its own session, so it outlives this script and no signal
# to the caller's process group reaches it; setsid execs it, so $! is the daemon's pid.
launch() {
    local name=$1; shift
    setsid "$@" -c "$conf" -f </dev/null >"$logs/$name.out" 2>&1 &
    echo $! >"$run/$name.pid"
}
alive() { running "$(cat "$run/$1.pid")"; }

# --- mon
touch "$dir/keyring"
monmaptool --create --clobber --fsid "$fsid" --addv a "[v2:127.0.0.1:$mon_port]" \
    "$dir/monmap" >"$logs/monmaptool.out" 2>&1 || fail "monmaptool"
ceph-mon -c "$conf" -i a --mkfs --monmap "$dir/monmap" >"$logs/mon-mkfs.out" 2>&1 \
    || fail "ceph-mon --mkfs"
launch mon.a ceph-mon -i a
log "mon launched ($(elapsed)s)"

# --- OSD
osd_id=$(ceph_ osd new "$osd_uuid" 0 2>"$logs/osd-new.out") || fail "ceph osd new"
[ "$osd_id" = 0 ] || fail "ceph osd new returned '$osd_id'"
ceph-osd -c "$conf" -i 0 --mkfs --osd-uuid "$osd_uuid" >"$logs/osd-mkfs.out" 2>&1 \
    || fail "ceph-osd --mkfs"
launch osd.0 ceph-osd -i 0
# Wait for the OSD before the first pool exists: an op sent to a PG that is not created yet
# sits until the client's objecter tick (5 s) resends it.
until grep -q 'state: booting -> active' "$logs/osd.0.log" 2>/dev/null; do
    alive osd.0 || fail "ceph-osd exited"
    alive mon.a || fail "ceph-mon exited"
    check_deadline "waiting for the OSD to boot"
    sleep 0.1
done
log "osd up ($(elapsed)s)"

# --- zone, user, storage classes, before radosgw starts: a running radosgw would only see
# new storage classes after a restart. The first radosgw-admin call that touches RADOS
# creates the default zonegroup, zone and pools; without a realm no period commit is needed.
radosgw_admin user create --uid cellartest --display-name "cellar tests" \
    --access-key "$RGW_ACCESS_KEY" --secret-key "$RGW_SECRET_KEY" || fail "radosgw-admin user create"
for sc in STANDARD_IA GLACIER DEEP_ARCHIVE; do
    pool=default.rgw.$(echo "$sc" | tr 'A-Z_' 'a-z-').data
    radosgw_admin zonegroup placement add --rgw-zonegroup default \
        --placement-id default-placement --storage-class "$sc" \
        || fail "radosgw-admin zonegroup placement add $sc"
    radosgw_admin zone placement add --rgw-zone default \
        --placement-id default-placement --storage-class "$sc" --data-pool "$pool" \
        || fail "radosgw-admin zone placement add $sc"
done
log "user and storage classes ready ($(elapsed)s)"

# --- radosgw
launch rgw radosgw -n client.rgw
http_up() {
    if command -v curl >/dev/null; then
        curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$rgw_port/"
    else
        (exec 3<>"/dev/tcp/127.0.0.1/$rgw_port") 2>/dev/null
    fi
}
until http_up; do
    alive rgw || fail "radosgw exited"
    check_deadline "waiting for radosgw to answer HTTP on port $rgw_port"
    sleep 0.1
done
log "radosgw answers HTTP ($(elapsed)s)"

endpoint=http://127.0.0.1:$rgw_port
RGW_ENDPOINT=$endpoint python3 - >>"$logs/selftest.out" 2>&1 <<'EOF' || fail "S3 self-test (see $logs/selftest.out)"
import os, uuid, boto3
from botocore.config import Config
s3 = boto3.client("s3", endpoint_url=os.environ["RGW_ENDPOINT"], region_name="us-east-1",
                  aws_access_key_id="cellartest", aws_secret_access_key="cellartestsecret",
                  config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3}))
b = "rgw-sh-selftest-" + uuid.uuid4().hex[:8]
s3.create_bucket(Bucket=b)
s3.put_object(Bucket=b, Key="k", Body=b"hello", StorageClass="GLACIER")
r = s3.get_object(Bucket=b, Key="k")
assert r["Body"].read() == b"hello"
assert r.get("StorageClass") == "GLACIER", r.get("StorageClass")
s3.delete_object(Bucket=b, Key="k")
s3.delete_bucket(Bucket=b)
print("self-test ok")
EOF
trap - ERR INT TERM HUP
log "S3 self-test ok; started in $(elapsed)s"
echo "RGW_ENDPOINT=$endpoint"
