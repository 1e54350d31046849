#!/usr/bin/env python3
"""The storage floor of a Mimir-like bucket, and what record-grouping rules cost.

Floor = unique chunk records (bytes, deduplicated across all segment files)
      + every distinct `index` file zstd'd (level 3)
      + every other small file (meta.json, ...) once per distinct content.

For each grouping rule, prints the bytes of unique groups plus an estimate of per-reference
metadata (32-byte id per group reference, 92 bytes of pack-header + index entry per unique
group), so rules can be compared before they are built into cellar.

Usage: floor.py BUCKET_DIR
"""
import hashlib, os, struct, subprocess, sys

MAGIC = 0x85BD40DD
TWO_H = 7200 * 1000


def uvarint(b, i):
    x = s = 0
    while True:
        c = b[i]; i += 1
        x |= (c & 0x7F) << s
        if c < 0x80:
            return x, i
        s += 7


def varint(b, i):
    u, i = uvarint(b, i)
    return (u >> 1) ^ -(u & 1), i


def records(data):
    """(bytes, first_ts or None) per record; None when the file does not parse."""
    if len(data) < 8 or struct.unpack(">I", data[:4])[0] != MAGIC:
        return None
    out, i = [], 8
    while i < len(data):
        start = i
        n, i = uvarint(data, i)
        enc = data[i]
        body = data[i + 1:i + 1 + n]
        i += 1 + n + 4
        if i > len(data):
            return None
        ts = None
        if enc == 1 and len(body) > 2:
            ts, _ = varint(body, 2)
        out.append((data[start:i], ts))
    return out


def group(recs, rule):
    groups, cur, first, prev = [], [], None, None
    for r, ts in recs:
        new = not cur
        if rule == "record":
            new = True
        elif rule.startswith("s2h-cap"):
            cap = int(rule[7:])
            if ts is None or prev is None or ts <= prev or ts // TWO_H != first // TWO_H or len(cur) >= cap:
                new = True
        elif rule.startswith("s2h-hash"):
            k = int(rule[8:])
            if ts is None or prev is None or ts <= prev or ts // TWO_H != first // TWO_H:
                new = True
            elif int.from_bytes(hashlib.blake2b(cur[-1], digest_size=8).digest(), "little") % k == 0:
                new = True
        elif rule in ("series", "series-2h"):
            if ts is None or prev is None or ts <= prev:
                new = True
            if rule == "series-2h" and ts is not None and first is not None and ts // TWO_H != first // TWO_H:
                new = True
            if cur and sum(len(x) for x in cur) + len(r) > 65536:
                new = True
        elif rule.startswith("hash"):
            n = int(rule[4:])
            new = not cur or int.from_bytes(hashlib.blake2b(cur[-1], digest_size=8).digest(), "little") % n == 0
        if new and cur:
            groups.append(b"".join(cur)); cur = []
        if not cur:
            first = ts
        cur.append(r); prev = ts
    if cur:
        groups.append(b"".join(cur))
    return groups


def main():
    root = sys.argv[1]
    total = 0
    segs, indexes, small = [], {}, {}
    for d, _, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            b = open(p, "rb").read()
            total += len(b)
            if os.path.basename(d) == "chunks":
                segs.append(b)
            elif f == "index":
                indexes[hashlib.sha256(b).digest()] = b
            else:
                small[hashlib.sha256(b).digest()] = len(b)
    parsed = [records(s) for s in segs]
    uniq = {}
    nrec = 0
    for recs in parsed:
        for r, _ in recs or []:
            uniq[hashlib.sha256(r).digest()] = len(r)
            nrec += 1
    idx_z = sum(len(subprocess.run(["zstd", "-3", "-c"], input=b, capture_output=True).stdout) for b in indexes.values())
    small_b = sum(small.values())
    rec_b = sum(uniq.values())
    floor = rec_b + idx_z + small_b
    M = 1e6
    print(f"bucket: {total / M:.1f} MB; {len(segs)} segment files, {nrec} records ({len(uniq)} unique)")
    print(f"floor: unique records {rec_b / M:.2f} MB + zstd'd index files {idx_z / M:.2f} MB + small files {small_b / M:.2f} MB = {floor / M:.2f} MB")
    print(f"record dedup: {sum(len(r) for p in parsed for r, _ in p or []) / rec_b:.2f}x")
    print()
    print("| rule | groups | unique | unique bytes | + metadata est. | vs floor records |")
    print("|---|---|---|---|---|---|")
    for rule in (sys.argv[2].split(",") if len(sys.argv) > 2 else ["record", "series", "series-2h", "hash4", "hash8"]):
        refs, ug = 0, {}
        for recs in parsed:
            for g in group(recs or [], rule):
                refs += 1
                ug[hashlib.sha256(g).digest()] = len(g)
        ub = sum(ug.values())
        meta = refs * 32 + len(ug) * 92
        print(f"| {rule} | {refs} | {len(ug)} | {ub / M:.2f} MB | {(ub + meta) / M:.2f} MB | {(ub + meta) / rec_b:.2f}x |")


main()
