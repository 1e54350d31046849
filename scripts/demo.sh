#!/usr/bin/env bash
# Install cellar from this checkout and run a complete backup → restore → verify demo.
set -euo pipefail
cd "$(dirname "$0")/.."
root=${CELLAR_INSTALL_ROOT:-$HOME/.cargo}
echo "== building and installing cellar into $root/bin (profile dist: optimized, no debuginfo;"
echo "   about 10 minutes on 2 cores the first time; cargo shows its progress below)"
cargo install --locked --profile dist --path . --root "$root"
export PATH="$root/bin:$PATH"
echo "== installed $(command -v cellar) ($(du -h "$root/bin/cellar" | cut -f1)): $(cellar version | head -1)"

work=$(mktemp -d /tmp/cellar-demo.XXXXXX)
trap 'rm -rf "$work"' EXIT
export CELLAR_REPO="$work/repo" CELLAR_PASSWORD="demo password (use a password file in real life)"

echo "== sample data: a bucket-like tree with a TSDB-style block and two daily dumps"
blk="$work/data/mimir/anonymous/01JDEMA0000000000000000000"
mkdir -p "$blk/chunks" "$work/data/backup/postgres-backup"
head -c 3000000 /dev/urandom >"$blk/chunks/000001"
head -c 400000 /dev/urandom >"$blk/index"
echo '{"ulid":"01JDEMA0000000000000000000","minTime":1745236800000,"maxTime":1745244000000,"version":1}' >"$blk/meta.json"
for i in $(seq 1 20000); do echo "INSERT INTO alert_history VALUES ($i, 'fp$((i % 97))', 'firing');"; done >"$work/day1.sql"
{ cat "$work/day1.sql"; echo "INSERT INTO alert_history VALUES (20001, 'fp1', 'resolved');"; } >"$work/day2.sql"
gzip -c "$work/day1.sql" >"$work/data/backup/postgres-backup/dop-202504211200.dump.gz"

echo "== cellar init"; cellar init
echo "== cellar backup (first)"; cellar backup "$work/data/mimir" "$work/data/backup"
gzip -c "$work/day2.sql" >"$work/data/backup/postgres-backup/dop-202504221200.dump.gz"
echo "== cellar backup (second: only the new dump is read)"; cellar backup "$work/data/mimir" "$work/data/backup"
echo "== cellar backup --stdin"; cellar backup --stdin --stdin-name dop.sql <"$work/day2.sql"
echo "== cellar snapshots"; cellar snapshots
echo "== cellar ls (first lines)"; cellar ls latest | head -5
echo "== cellar restore latest --path mimir (the newest snapshot of the mimir source, not the stdin one)"
cellar restore latest --path mimir --target "$work/restored"
diff -r "$work/data/mimir" "$work/restored/mimir" && diff -r "$work/data/backup" "$work/restored/backup" && echo "restored tree is identical"
echo "== cellar dump latest dop.sql | cmp"; cellar dump latest dop.sql | cmp - "$work/day2.sql" && echo "dump is identical"
echo "== cellar check --read-data"; cellar check --read-data
echo "== cellar stats"; cellar stats
echo "demo OK"
