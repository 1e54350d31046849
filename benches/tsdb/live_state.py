#!/usr/bin/env python3
"""Lay out the state of a live Mimir tenant at the end of day N, from a directory holding
every block a real run produced: the ingesters' 2h replicas (level 1), the compactor's 2h
merges (level 2) and its 6h/18h blocks (level 3+).

A block is uploaded/produced some time after its maxTime (level 1: at once, level 2: 3h,
level 3+: 6h). A block is replaced once a block whose compaction.sources strictly include
its own is available: it then carries a deletion mark for 12h (both per-block and in
markers/), and is gone afterwards. Files are hard links; block directories keep the
source's times, so a block laid out again on the next day is unchanged.

Usage: live_state.py ALL_BLOCKS_DIR OUT_DIR DAY|final
"""
import json, os, sys

H = 3600 * 1000
DELAY = {1: 0, 2: 3 * H}
MARK_FOR = 12 * H


def main():
    src, out, day = sys.argv[1], sys.argv[2], sys.argv[3]
    blocks = []
    for name in os.listdir(src):
        p = os.path.join(src, name, "meta.json")
        if os.path.exists(p):
            m = json.load(open(p))
            blocks.append((name, m, set(m["compaction"].get("sources") or [name])))
    start = min(m["minTime"] for _, m, _ in blocks) // (24 * H) * (24 * H)
    now = float("inf") if day == "final" else start + int(day) * 24 * H
    avail = {n: m["maxTime"] + DELAY.get(m["compaction"]["level"], 6 * H) for n, m, _ in blocks}
    # Compaction sources form a laminar family (each block is the input of at most one
    # compaction), so the blocks holding a block's sources are those holding any one of
    # them: index them by source instead of comparing every pair of blocks.
    holders = {}
    for c, _, s in blocks:
        for x in s:
            holders.setdefault(x, []).append((c, s))
    os.makedirs(os.path.join(out, "markers"), exist_ok=True)
    for name, m, srcs in blocks:
        if avail[name] > now:
            continue
        some = next(iter(srcs))
        replaced_at = min((avail[c] for c, s in holders[some] if s > srcs and avail[c] <= now), default=None)
        if replaced_at is not None and now >= replaced_at + MARK_FOR:
            continue
        d = os.path.join(out, name)
        for dp, _, files in os.walk(os.path.join(src, name)):
            rel = os.path.relpath(dp, os.path.join(src, name))
            os.makedirs(os.path.join(d, rel), exist_ok=True)
            for f in files:
                os.link(os.path.join(dp, f), os.path.join(d, rel, f))
        if replaced_at is not None:
            mark = json.dumps({"id": name, "deletion_time": replaced_at // 1000, "version": 1})
            for p in (os.path.join(d, "deletion-mark.json"), os.path.join(out, "markers", name + "-deletion-mark.json")):
                with open(p, "w") as f:
                    f.write(mark + "\n")
                os.utime(p, ns=(replaced_at * 10**6, replaced_at * 10**6))  # written then
        # Directories keep their source's times: an object store has no directories, so
        # laying out the same block again must not look like a change of it.
        for dp, _, _ in os.walk(os.path.join(src, name), topdown=False):
            st = os.stat(dp)
            rel = os.path.relpath(dp, os.path.join(src, name))
            os.utime(os.path.join(d, rel), ns=(st.st_atime_ns, st.st_mtime_ns))


main()
