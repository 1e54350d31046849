#!/usr/bin/env bash
# Two #7 targets on incompressible data:
#  - CPU: cellar's backup throughput per CPU-second against `b3sum --num-threads 1` (the
#    hashing floor) reading the same files from the page cache;
#  - memory: peak RSS of a backup of SIZE_MB and of 10 × SIZE_MB (flat means ≤ 1.2×).
# Usage: benches/cpu-and-memory.sh [SIZE_MB]   (default 512; needs ~22 × SIZE_MB of disk)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
size=${1:-512}
cellar=${CELLAR:-$root/target/release/cellar}
[ -x "$cellar" ] || (cd "$root" && cargo build --release --locked >/dev/null)
command -v b3sum >/dev/null || { echo "needs b3sum (apt-get install b3sum)" >&2; exit 2; }
work=$(mktemp -d /tmp/cellar-cpumem.XXXXXX)
trap 'rm -rf "$work"' EXIT
export CELLAR_PASSWORD=bench
mkdir -p "$work/small" "$work/big"
# 64 MiB files of random bytes; the big set is 10 copies of the small one's size in new bytes.
for ((i = 0; i < size / 64; i++)); do head -c $((64 << 20)) /dev/urandom >"$work/small/f$i"; done
for ((i = 0; i < 10 * size / 64; i++)); do head -c $((64 << 20)) /dev/urandom >"$work/big/f$i"; done
cpu() { # prints "cpu_seconds peak_rss_kib wall user sys" of a command
  /usr/bin/time -f "%U %S %M %e" "$@" 2>&1 >/dev/null | tail -1 | awk '{printf "%.2f %d %.2f %.2f %.2f\n", $1 + $2, $3, $4, $1, $2}'
}
cat "$work"/small/* >/dev/null
read -r b3_cpu _ b3_wall _ _ < <(cpu b3sum --num-threads 1 "$work"/small/*)
"$cellar" -r "$work/repo-small" init >/dev/null 2>&1
# Fixed cost of any command: opening the repository (Argon2id key derivation).
read -r open_cpu _ _ _ _ < <(cpu "$cellar" -r "$work/repo-small" snapshots)
read -r c_cpu c_rss c_wall c_user c_sys < <(cpu "$cellar" -r "$work/repo-small" backup -q "$work/small")
cat "$work"/big/* >/dev/null 2>&1 || true
"$cellar" -r "$work/repo-big" init >/dev/null 2>&1
read -r g_cpu g_rss g_wall _ _ < <(cpu "$cellar" -r "$work/repo-big" backup -q "$work/big")
echo "| measurement | ${size} MB | $((10 * size)) MB |"
echo "|---|---|---|"
echo "| b3sum (1 thread): CPU s / wall s | $b3_cpu / $b3_wall | |"
echo "| cellar backup: CPU s / wall s | $c_cpu / $c_wall | $g_cpu / $g_wall |"
echo "| cellar backup: user s / system s (writing packs) / opening the repository (KDF) | $c_user / $c_sys / $open_cpu | |"
echo "| cellar CPU per byte ÷ b3sum's: all / user only, without the KDF | $(python3 -c "print(f'{$c_cpu/$b3_cpu:.1f} / {($c_user-$open_cpu)/$b3_cpu:.1f}')") | |"
echo "| cellar backup peak RSS | $((c_rss / 1024)) MB | $((g_rss / 1024)) MB ($(python3 -c "print(f'{$g_rss/$c_rss:.2f}')")×) |"
