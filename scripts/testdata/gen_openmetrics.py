#!/usr/bin/env python3
"""Generate realistic OpenMetrics text for `promtool tsdb create-blocks-from openmetrics`.

Stdlib only, deterministic for a given --seed/--tenant.

The data imitates what a Mimir tenant receives from Prometheus scraping a few
Kubernetes workloads: per target `up`, process/runtime gauges and counters,
`http_requests_total{method,code}` counters with a diurnal traffic pattern,
an `http_request_duration_seconds` histogram, occasional scrape outages
(gaps, up=0) and rare pod restarts (counter resets).  Timestamps carry
per-target scrape offsets and a little jitter (millisecond precision).

Replication: with --ingesters K --rf R every series is placed on R consecutive
ingesters of a K-slot hash ring, and one output file is written per ingester
(OUT_PREFIX-<i>.om).  Replicas carry identical samples, except that each
ingester independently misses a sample with probability --drop-rate, like a
real ingester that missed a push.
"""

import argparse
import hashlib
import math
import random
import sys

# Histogram bucket boundaries (seconds), typical of client_golang defaults.
BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]

TENANT_PROFILES = {
    # tenant -> (cluster, [(namespace, app, port), ...])
    "anonymous": ("prod-eu-west-1", [
        ("shop", "api-gateway", 8080), ("shop", "checkout", 8080),
        ("shop", "cart", 9090), ("shop", "payments", 8443),
        ("shop", "catalog", 8080), ("infra", "ingress-nginx", 10254),
    ]),
    "team-a": ("prod-us-east-2", [
        ("ml", "feature-store", 8000), ("ml", "model-server", 8501),
        ("ml", "trainer", 9100), ("data", "kafka-connect", 8083),
        ("data", "airflow-worker", 8793),
    ]),
}
GENERIC_APPS = [("default", "web", 8080), ("default", "worker", 9100),
                ("default", "cron", 9100), ("default", "db-proxy", 6432)]

FULL_TARGET_SERIES = 5 + 6 + len(BUCKETS) + 3  # simple + http counters + histogram
HTTP_COMBOS = [("GET", "200", 1.0), ("GET", "404", 0.02), ("GET", "500", 0.004),
               ("POST", "200", 0.25), ("POST", "400", 0.01), ("POST", "500", 0.002)]


def stable_seed(*parts):
    h = hashlib.sha256("\x00".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(h[:8], "big")


def fmt_labels(labels):
    return "{" + ",".join('%s="%s"' % (k, v) for k, v in labels) + "}"


def fmt_float(v):
    if v == math.inf:
        return "+Inf"
    if float(v).is_integer() and abs(v) < 1e15:
        return str(int(v))
    return repr(float(v))


class Target:
    def __init__(self, tenant, seed, idx, start_ms, end_ms, step_ms):
        cluster, apps = TENANT_PROFILES.get(tenant, ("prod-" + tenant, GENERIC_APPS))
        self.rng = random.Random(stable_seed(seed, tenant, "target", idx))
        ns, app, port = apps[idx % len(apps)]
        replica = idx // len(apps)
        rs_hash = "%08x" % stable_seed(seed, tenant, app, "rs")
        suffix = "".join(self.rng.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5))
        self.pod = "%s-%s-%s" % (app, rs_hash[:10], suffix)
        ip = "10.%d.%d.%d" % (self.rng.randint(0, 255), self.rng.randint(0, 255), self.rng.randint(2, 254))
        self.labels = [("cluster", cluster), ("instance", "%s:%d" % (ip, port)),
                       ("job", "%s/%s" % (ns, app)), ("namespace", ns), ("pod", self.pod)]
        self.app = app
        self.replica = replica
        self.step_ms = step_ms
        self.offset_ms = self.rng.randint(0, step_ms - 1)
        # Scrape timestamps with small jitter, shared by all series of the target.
        self.times = []
        t = start_ms + self.offset_ms
        while t < end_ms:
            j = self.rng.choice((0, 0, 0, 0, 0, 0, 0, 1, -1, 2, 3)) if self.rng.random() < 0.3 else 0
            self.times.append(t + j)
            t += step_ms
        n = len(self.times)
        # Scrape outage: a short window of failed scrapes (series have gaps, up=0).
        self.outage = set()
        if self.rng.random() < 0.25 and n > 20:
            s = self.rng.randrange(n - 10)
            self.outage = set(range(s, s + self.rng.randint(2, 8)))
        # Pod restart: counters reset to 0 at this scrape index.
        self.restart_at = self.rng.randrange(n // 4, n) if (self.rng.random() < 0.1 and n > 8) else None
        self.load = self.rng.lognormvariate(0, 0.8)  # relative traffic of this target
        self.phase = self.rng.uniform(0, 2 * math.pi) * 0.1

    def diurnal(self, t_ms):
        day = (t_ms / 1000.0) % 86400 / 86400.0
        return 1.0 + 0.45 * math.sin(2 * math.pi * (day - 0.30) + self.phase)


def counter_stream(tgt, rng, rate_fn, initial, quantum=1.0, ndigits=None):
    """Yields counter values at tgt.times. rate_fn(t_ms) is per-second rate."""
    v = initial
    out = []
    step_s = tgt.step_ms / 1000.0
    for i, t in enumerate(tgt.times):
        if tgt.restart_at is not None and i == tgt.restart_at:
            v = 0.0
        mean = max(0.0, rate_fn(t) * step_s)
        inc = max(0.0, rng.gauss(mean, math.sqrt(mean) + 1e-9)) if mean > 0 else 0.0
        inc = math.floor(inc / quantum) * quantum
        v += inc
        out.append(round(v, ndigits) if ndigits is not None else v)
    return out


class Series:
    __slots__ = ("name", "labels", "values", "key")

    def __init__(self, name, labels, values):
        self.name = name
        self.labels = labels
        self.values = values  # list aligned with target.times (None = no sample)
        self.key = name + fmt_labels(labels)


def build_target_families(tgt, seed, tenant, budget):
    """Returns list of (family_name, type, help, [groups]) where a group is a list of
    Series that belong to one MetricPoint group (1 series, or all histogram parts)."""
    fams = []
    r = lambda *p: random.Random(stable_seed(seed, tenant, tgt.pod, *p))
    base = tgt.labels
    n = len(tgt.times)
    used = 0

    def add(fname, ftype, fhelp, group):
        nonlocal used
        fams.append((fname, ftype, fhelp, group))
        used += len(group)

    # up
    add("up", "gauge", "1 if the target is up.",
        [Series("up", base, [0.0 if i in tgt.outage else 1.0 for i in range(n)])])
    if used >= budget:
        return fams, used
    # process_cpu_seconds_total
    rng = r("cpu")
    cores = rng.uniform(0.05, 1.5) * tgt.load
    vals = counter_stream(tgt, rng, lambda t: cores * tgt.diurnal(t), rng.uniform(100, 50000), 0.01, 2)
    add("process_cpu_seconds", "counter", "Total user and system CPU time spent in seconds.",
        [Series("process_cpu_seconds_total", base, vals)])
    if used >= budget:
        return fams, used
    # process_resident_memory_bytes: GC sawtooth around a base
    rng = r("mem")
    baseline = rng.uniform(40e6, 900e6)
    period = rng.randint(8, 40)
    vals = []
    for i, t in enumerate(tgt.times):
        saw = (i % period) / period
        v = baseline * (1 + 0.25 * saw) * (0.9 + 0.2 * tgt.diurnal(t) / 1.45) + rng.gauss(0, baseline * 0.01)
        vals.append(float(int(v) // 4096 * 4096))
    add("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
        [Series("process_resident_memory_bytes", base, vals)])
    if used >= budget:
        return fams, used
    # go_goroutines: bounded integer random walk
    rng = r("gr")
    g = rng.randint(20, 400)
    lo, hi = max(5, g // 2), g * 2
    vals = []
    for t in tgt.times:
        g = min(hi, max(lo, g + rng.choice((-3, -2, -1, 0, 0, 0, 0, 1, 2, 3))))
        vals.append(float(g))
    add("go_goroutines", "gauge", "Number of goroutines that currently exist.",
        [Series("go_goroutines", base, vals)])
    if used >= budget:
        return fams, used
    # node_filesystem_avail_bytes-like: slowly shrinking disk with cleanups
    rng = r("fs")
    size = rng.choice((20, 50, 100, 200)) * 1024 ** 3
    avail = size * rng.uniform(0.3, 0.9)
    vals = []
    for t in tgt.times:
        avail -= abs(rng.gauss(2e5, 1e5)) * tgt.load
        if rng.random() < 0.002:
            avail = min(size * 0.95, avail + size * 0.1)
        vals.append(float(int(avail) // 4096 * 4096))
    add("container_fs_available_bytes", "gauge", "Available bytes on the container filesystem.",
        [Series("container_fs_available_bytes", sorted(base + [("device", "/dev/nvme0n1p1")]), vals)])
    # http_requests_total
    for method, code, frac in HTTP_COMBOS:
        if used >= budget:
            return fams, used
        rng = r("http", method, code)
        rps = 40.0 * tgt.load * frac
        vals = counter_stream(tgt, rng, lambda t, rps=rps: rps * tgt.diurnal(t), float(rng.randint(0, 10 ** 6)))
        lbl = sorted(base + [("code", code), ("method", method)])
        add("http_requests", "counter", "Total HTTP requests.", [Series("http_requests_total", lbl, vals)])
    # histogram: needs len(BUCKETS)+3 series
    hsize = len(BUCKETS) + 3
    if budget - used >= hsize:
        rng = r("hist")
        mu, sigma = math.log(rng.uniform(0.01, 0.3)), rng.uniform(0.5, 1.2)
        rps = 40.0 * tgt.load
        cdf = [0.5 * (1 + math.erf((math.log(b) - mu) / (sigma * math.sqrt(2)))) for b in BUCKETS]
        mean_lat = math.exp(mu + sigma * sigma / 2)
        bvals = [[] for _ in range(len(BUCKETS) + 1)]
        svals, cvals = [], []
        step_s = tgt.step_ms / 1000.0
        state, total_sum = None, 0.0
        for i, t in enumerate(tgt.times):
            if i == 0:
                run0 = rng.randint(0, 10 ** 5)
                state = [float(int(run0 * c)) for c in cdf] + [float(run0)]
                total_sum = round(run0 * mean_lat, 6)
            elif tgt.restart_at is not None and i == tgt.restart_at:
                state, total_sum = [0.0] * (len(BUCKETS) + 1), 0.0
            nreq = max(0, int(rng.gauss(rps * step_s * tgt.diurnal(t), math.sqrt(rps * step_s) + 1)))
            # per-bucket cumulative increments, monotonic and <= nreq
            ks = [max(0, min(nreq, int(round(nreq * c + rng.gauss(0, 0.3))))) for c in cdf]
            for bi in range(1, len(ks)):
                ks[bi] = max(ks[bi], ks[bi - 1])
            for bi, k in enumerate(ks):
                state[bi] += k
            state[-1] += nreq
            for bi in range(len(state)):
                bvals[bi].append(state[bi])
            total_sum = round(total_sum + nreq * mean_lat * rng.uniform(0.9, 1.1), 6)
            svals.append(total_sum)
            cvals.append(state[-1])
        lbl = sorted(base + [("handler", "/api/v1/*"), ("method", "GET")])
        group = []
        for bi, b in enumerate(BUCKETS + [math.inf]):
            group.append(Series("http_request_duration_seconds_bucket",
                                sorted(lbl + [("le", "+Inf" if b == math.inf else repr(b))]), bvals[bi]))
        group.append(Series("http_request_duration_seconds_count", lbl, cvals))
        group.append(Series("http_request_duration_seconds_sum", lbl, svals))
        add("http_request_duration_seconds", "histogram", "HTTP request latencies in seconds.", group)
    # Last (partial) target: fill the rest of the budget with per-queue gauges so
    # that the total number of series is exactly --series.
    q = 0
    while budget < FULL_TARGET_SERIES and used < budget:
        rng = r("queue", q)
        level = rng.uniform(0, 500)
        vals = []
        for t in tgt.times:
            level = max(0.0, level + rng.gauss(0, 8) + (tgt.diurnal(t) - 1) * 3)
            vals.append(float(int(level)))
        add("app_queue_length", "gauge", "Items waiting in the work queue.",
            [Series("app_queue_length", sorted(base + [("queue", "q%d" % q)]), vals)])
        q += 1
    return fams, used


def ring_placement(key, seed, ingesters, rf):
    h = stable_seed(seed, "ring", key) % ingesters
    return [(h + k) % ingesters for k in range(min(rf, ingesters))]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tenant", required=True)
    ap.add_argument("--series", type=int, default=200)
    ap.add_argument("--hours", type=float, default=6)
    ap.add_argument("--step", type=int, default=15, help="scrape interval, seconds")
    ap.add_argument("--start", type=int, default=1743465600, help="unix seconds (default 2025-04-01T00:00Z)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--ingesters", type=int, default=1)
    ap.add_argument("--rf", type=int, default=1)
    ap.add_argument("--drop-rate", type=float, default=0.0005)
    ap.add_argument("--out-prefix", required=True, help="writes OUT_PREFIX-<ingester>.om")
    a = ap.parse_args()
    if a.series < 1 or a.hours <= 0 or a.step < 1 or a.ingesters < 1 or a.rf < 1:
        ap.error("series, hours, step, ingesters and rf must be positive")

    start_ms, end_ms, step_ms = a.start * 1000, int((a.start + a.hours * 3600) * 1000), a.step * 1000
    targets, fams_by_target, remaining, idx = [], [], a.series, 0
    while remaining > 0:
        tgt = Target(a.tenant, a.seed, idx, start_ms, end_ms, step_ms)
        fams, used = build_target_families(tgt, a.seed, a.tenant, remaining)
        targets.append(tgt)
        fams_by_target.append(fams)
        remaining -= used
        idx += 1

    # Group by metric family (OpenMetrics requires families to be contiguous).
    order, by_family = [], {}
    for tgt, fams in zip(targets, fams_by_target):
        for fname, ftype, fhelp, group in fams:
            if fname not in by_family:
                by_family[fname] = (ftype, fhelp, [])
                order.append(fname)
            by_family[fname][2].append((tgt, group))

    outs = [open("%s-%d.om" % (a.out_prefix, i), "w", buffering=1 << 20) for i in range(a.ingesters)]
    drop_rngs = [random.Random(stable_seed(a.seed, a.tenant, "drop", i)) for i in range(a.ingesters)]
    counts = [0] * a.ingesters
    nseries = 0
    for fname in order:
        ftype, fhelp, groups = by_family[fname]
        # Only write the family header to ingesters that get at least one series of it.
        placements = []
        for tgt, group in groups:
            placements.append([ring_placement(s.key, a.seed, a.ingesters, a.rf) for s in group])
        present = sorted({i for pl in placements for p in pl for i in p})
        for i in present:
            outs[i].write("# HELP %s %s\n# TYPE %s %s\n" % (fname, fhelp, fname, ftype))
        for (tgt, group), pl in zip(groups, placements):
            nseries += len(group)
            for i, t in enumerate(tgt.times):
                if i in tgt.outage and fname != "up":
                    continue  # failed scrape: no samples
                ts = "%d.%03d" % divmod(t, 1000)
                for s, ings in zip(group, pl):
                    v = s.values[i]
                    if v is None:
                        continue
                    line = "%s%s %s %s\n" % (s.name, fmt_labels(s.labels), fmt_float(v), ts)
                    for ing in ings:
                        if a.drop_rate > 0 and drop_rngs[ing].random() < a.drop_rate:
                            continue
                        outs[ing].write(line)
                        counts[ing] += 1
    for f in outs:
        f.write("# EOF\n")
        f.close()
    print("tenant=%s targets=%d series=%d ingesters=%d rf=%d samples_per_ingester=%s"
          % (a.tenant, len(targets), nseries, a.ingesters, a.rf, counts), file=sys.stderr)


if __name__ == "__main__":
    main()
