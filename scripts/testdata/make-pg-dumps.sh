#!/usr/bin/env bash
# Produce a series of daily `pg_dump` plain-SQL dumps of a realistic, slowly changing
# application database (observability platform), using a real, private PostgreSQL.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: make-pg-dumps.sh OUT_DIR [DAYS]

Starts a throw-away PostgreSQL cluster (unix socket in a private temp dir only),
seeds database "dop" (orgs, users, teams, dashboards, alert_rules, alert_history,
silences, audit_log), then writes one dump per day:
  OUT_DIR/dop-YYYYMMDDHHMM.dump   (2025-04-01 12:00, 2025-04-02 12:00, ...)
Day 1 is the freshly seeded state; before each later dump the script appends
1-3% new alert_history / audit_log rows, updates 1-3% of rows scattered over the
big tables, resolves/expires things, deletes a few rows, and VACUUMs.

  DAYS     number of dumps (default 30)

Environment:
  SCALE=1        data volume multiplier (1 => ~20 MB per plain dump; decimals ok)
  SEED=42        data seed (same SEED/SCALE/DAYS => byte-identical dumps)
  GZIP=0         1: also write OUT_DIR/dop-*.dump.gz (gzip -6 -n) and drop the plain dump
  KEEP_PLAIN=0   1 (with GZIP=1): keep the plain .dump next to the .dump.gz
  CUSTOM=0       1: also write OUT_DIR/dop-*.custom (pg_dump -Fc, custom format, zlib at
                 pg_dump's default level; its header holds the time it was made, so
                 reruns are not byte-identical)
  APPEND_PCT=1-3 new alert_history / audit_log rows a day, in % of the table (range)
  PGBIN=         PostgreSQL bin dir (default /usr/lib/postgresql/15/bin, else newest)
  PGPORT=54329   port number (only names the unix socket; no TCP listener)

Existing dop-*.dump[.gz] files with the same names are overwritten.
Requires: apt-get install -y postgresql
EOF
}

die() { echo "make-pg-dumps: error: $*" >&2; exit 1; }

case "${1:-}" in -h|--help) usage; exit 0;; "") usage >&2; exit 2;; esac
OUT_DIR=$1
DAYS=${2:-30}
SCALE=${SCALE:-${SIZE:-1}}
SEED=${SEED:-42}
DO_GZIP=${GZIP:-0}
unset GZIP   # gzip(1) itself reads $GZIP as options
KEEP_PLAIN=${KEEP_PLAIN:-0}
DO_CUSTOM=${CUSTOM:-0}
PGPORT=${PGPORT:-54329}
APPEND_PCT=${APPEND_PCT:-1-3}

[[ "$DAYS" =~ ^[0-9]+$ ]] && (( DAYS > 0 )) || die "DAYS must be a positive integer (got '$DAYS')"
[[ "$SCALE" =~ ^[0-9]+([.][0-9]+)?$ ]] || die "SCALE must be a positive number (got '$SCALE')"
[[ "$SEED" =~ ^[0-9]+$ ]] || die "SEED must be a non-negative integer"
[[ "$PGPORT" =~ ^[0-9]+$ ]] || die "PGPORT must be a number"
[[ "$APPEND_PCT" =~ ^[0-9]+([.][0-9]+)?-[0-9]+([.][0-9]+)?$ ]] || die "APPEND_PCT must be a range like 1-3 (got '$APPEND_PCT')"
APP_LO=$(awk -v r="$APPEND_PCT" 'BEGIN { split(r, a, "-"); printf "%g", a[1] / 100 }')
APP_SPAN=$(awk -v r="$APPEND_PCT" 'BEGIN { split(r, a, "-"); printf "%g", (a[2] - a[1]) / 100 }')

if [[ -z "${PGBIN:-}" ]]; then
  PGBIN=/usr/lib/postgresql/15/bin
  if [[ ! -x $PGBIN/initdb ]]; then
    PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  fi
fi
for t in initdb pg_ctl psql pg_dump; do
  [[ -x "$PGBIN/$t" ]] || die "$PGBIN/$t not found; install PostgreSQL with: apt-get install -y postgresql (or set PGBIN)"
done
if [[ "$DO_GZIP" == 1 ]]; then command -v gzip >/dev/null || die "gzip not found"; fi

# initdb/postgres refuse to run as root: run the server as the 'postgres' user.
if (( EUID == 0 )); then
  id postgres >/dev/null 2>&1 || die "running as root but there is no 'postgres' user (install the postgresql package)"
  command -v runuser >/dev/null || die "runuser not found"
  as_pg() { runuser -u postgres -- "$@"; }
else
  as_pg() { "$@"; }
fi

mkdir -p "$OUT_DIR"
OUT_DIR=$(cd "$OUT_DIR" && pwd)
PGTMP=$(mktemp -d "${TMPDIR:-/tmp}/pgdumps.XXXXXX")
(( EUID == 0 )) && chown postgres: "$PGTMP"
PGDATA=$PGTMP/data

cleanup() {
  local rc=$?
  if [[ -f "$PGDATA/postmaster.pid" ]]; then
    (cd "$PGTMP" && as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null 2>&1) || true
  fi
  if (( rc != 0 )) && [[ -f "$PGTMP/server.log" ]]; then
    echo "make-pg-dumps: last server log lines:" >&2; tail -n 20 "$PGTMP/server.log" >&2 || true
  fi
  rm -rf -- "$PGTMP"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

T0=$(date +%s)
cd "$PGTMP"
as_pg "$PGBIN/initdb" -D "$PGDATA" -U postgres -A trust -E UTF8 --locale=C --no-sync >/dev/null \
  || die "initdb failed"
# Private server: unix socket in $PGTMP only, no TCP; durability off for speed;
# autovacuum off (the script VACUUMs explicitly) so that dumps are reproducible.
as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -l "$PGTMP/server.log" -w -t 60 start -o "\
 -c listen_addresses='' -k $PGTMP -p $PGPORT -c fsync=off -c synchronous_commit=off \
 -c full_page_writes=off -c autovacuum=off -c timezone=UTC -c shared_buffers=128MB \
 -c max_wal_size=2GB -c max_parallel_workers_per_gather=0" >/dev/null || die "could not start PostgreSQL (see log above)"

export PGHOST=$PGTMP PGPORT PGUSER=postgres PGTZ=UTC
PSQL=("$PGBIN/psql" -X -q -v ON_ERROR_STOP=1)
"${PSQL[@]}" -d postgres -c "CREATE DATABASE dop" >/dev/null

# Session preamble: data-generation helpers as temp functions (never dumped).
PREAMBLE=$(cat <<'SQL'
SET client_min_messages = warning;
SET timezone = 'UTC';
CREATE FUNCTION pg_temp.pick(a text[]) RETURNS text LANGUAGE sql VOLATILE
  AS $$ SELECT a[1 + floor(random() * array_length(a, 1))::int] $$;
CREATE FUNCTION pg_temp.ri(lo int, hi int) RETURNS int LANGUAGE sql VOLATILE
  AS $$ SELECT lo + floor(random() * (hi - lo + 1))::int $$;
CREATE FUNCTION pg_temp.hex(n int) RETURNS text LANGUAGE sql VOLATILE
  AS $$ SELECT substr(md5(random()::text) || md5(random()::text), 1, n) $$;
CREATE FUNCTION pg_temp.uuid() RETURNS uuid LANGUAGE sql VOLATILE
  AS $$ SELECT md5(random()::text)::uuid $$;
CREATE FUNCTION pg_temp.alertname() RETURNS text LANGUAGE sql VOLATILE AS $$ SELECT pg_temp.pick(ARRAY[
  'HighErrorRate','HighLatencyP99','PodCrashLooping','KubePodNotReady','NodeDiskPressure',
  'NodeMemoryPressure','DiskWillFillIn4Hours','CertificateExpiringSoon','TargetDown',
  'KafkaConsumerLag','PostgresReplicationLag','PostgresTooManyConnections','RedisDown',
  'HTTPProbeFailed','IngressHigh5xx','CPUThrottlingHigh','ContainerOOMKilled',
  'PersistentVolumeFillingUp','JobFailed','DeploymentReplicasMismatch','SLOErrorBudgetBurn',
  'QueueBacklogGrowing','ElasticsearchClusterRed','MimirIngesterUnhealthy','LokiRequestErrors'])
$$;
CREATE FUNCTION pg_temp.ns() RETURNS text LANGUAGE sql VOLATILE AS $$ SELECT pg_temp.pick(ARRAY[
  'shop','payments','ml','data','infra','monitoring','auth','search','kube-system','ingress']) $$;
CREATE FUNCTION pg_temp.app() RETURNS text LANGUAGE sql VOLATILE AS $$ SELECT pg_temp.pick(ARRAY[
  'api-gateway','checkout','cart','catalog','payments','feature-store','model-server','trainer',
  'kafka-connect','airflow-worker','postgres','redis','ingress-nginx','mimir-ingester','loki-querier',
  'auth-service','search-indexer','notifier','scheduler','web']) $$;
SQL
)

run_sql() { # run_sql SQL-text [psql -v args...]
  local sql=$1; shift
  printf '%s\n%s\n' "$PREAMBLE" "$sql" | "${PSQL[@]}" -d dop "$@" -f - >/dev/null
}

seed_frac() { # deterministic setseed() argument for (SEED, day)
  awk -v s="$SEED" -v d="$1" 'BEGIN { x = ((s * 7919 + d * 104729) % 1000003) / 1000003.0; printf "%.6f", x }'
}

SCHEMA_SQL=$(cat <<'SQL'
CREATE TABLE organizations (
  id serial PRIMARY KEY,
  slug text NOT NULL UNIQUE,
  name text NOT NULL,
  plan text NOT NULL,
  created_at timestamptz NOT NULL,
  settings jsonb NOT NULL DEFAULT '{}'
);
CREATE TABLE users (
  id serial PRIMARY KEY,
  org_id int NOT NULL REFERENCES organizations(id),
  email text NOT NULL UNIQUE,
  display_name text NOT NULL,
  role text NOT NULL CHECK (role IN ('admin','editor','viewer')),
  password_hash text NOT NULL,
  created_at timestamptz NOT NULL,
  last_login_at timestamptz,
  is_disabled boolean NOT NULL DEFAULT false,
  preferences jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX users_org_id_idx ON users (org_id);
CREATE TABLE teams (
  id serial PRIMARY KEY,
  org_id int NOT NULL REFERENCES organizations(id),
  name text NOT NULL,
  created_at timestamptz NOT NULL,
  UNIQUE (org_id, name)
);
CREATE TABLE team_members (
  team_id int NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
  user_id int NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  role text NOT NULL DEFAULT 'member',
  PRIMARY KEY (team_id, user_id)
);
CREATE TABLE dashboards (
  id serial PRIMARY KEY,
  org_id int NOT NULL REFERENCES organizations(id),
  uid text NOT NULL UNIQUE,
  title text NOT NULL,
  folder text NOT NULL,
  version int NOT NULL DEFAULT 1,
  created_by int REFERENCES users(id) ON DELETE SET NULL,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  data jsonb NOT NULL
);
CREATE TABLE alert_rules (
  id serial PRIMARY KEY,
  org_id int NOT NULL REFERENCES organizations(id),
  uid text NOT NULL UNIQUE,
  title text NOT NULL,
  expr text NOT NULL,
  for_seconds int NOT NULL,
  severity text NOT NULL,
  labels jsonb NOT NULL,
  annotations jsonb NOT NULL,
  is_paused boolean NOT NULL DEFAULT false,
  updated_at timestamptz NOT NULL
);
CREATE TABLE alert_history (
  id bigserial PRIMARY KEY,
  org_id int NOT NULL,
  rule_id int NOT NULL REFERENCES alert_rules(id),
  fingerprint char(16) NOT NULL,
  labels jsonb NOT NULL,
  status text NOT NULL CHECK (status IN ('firing','resolved','suppressed')),
  starts_at timestamptz NOT NULL,
  ends_at timestamptz,
  annotations text NOT NULL,
  generator_url text,
  created_at timestamptz NOT NULL
);
CREATE INDEX alert_history_fingerprint_idx ON alert_history (fingerprint);
CREATE INDEX alert_history_starts_at_idx ON alert_history (starts_at);
CREATE INDEX alert_history_firing_idx ON alert_history (rule_id) WHERE status = 'firing';
CREATE TABLE silences (
  id uuid PRIMARY KEY,
  org_id int NOT NULL REFERENCES organizations(id),
  matchers jsonb NOT NULL,
  starts_at timestamptz NOT NULL,
  ends_at timestamptz NOT NULL,
  created_by int REFERENCES users(id) ON DELETE SET NULL,
  comment text NOT NULL,
  state text NOT NULL,
  updated_at timestamptz NOT NULL
);
CREATE INDEX silences_org_state_idx ON silences (org_id, state);
CREATE TABLE audit_log (
  id bigserial PRIMARY KEY,
  org_id int NOT NULL,
  user_id int,
  action text NOT NULL,
  resource text NOT NULL,
  details jsonb NOT NULL,
  client_ip inet,
  created_at timestamptz NOT NULL
);
CREATE INDEX audit_log_created_at_idx ON audit_log (created_at);
SQL
)

# Row generators shared by the seed and the daily increments.
# :now = logical current time; :'lo'/:'hi' = time window for new rows.
ALERTS_INSERT=$(cat <<'SQL'
INSERT INTO alert_history (org_id, rule_id, fingerprint, labels, status, starts_at, ends_at,
                           annotations, generator_url, created_at)
SELECT r.org_id, r.id,
       substr(md5(r.uid || ':' || s.inst), 1, 16),
       r.labels || jsonb_build_object('alertname', r.title, 'instance', '10.' || (r.id % 250) || '.' || s.inst || '.' || (10 + s.inst * 7) || ':9100',
                                     'pod', pg_temp.app() || '-' || substr(md5(r.uid), 1, 10) || '-' || substr(md5(s.inst::text || r.uid), 1, 5),
                                     'cluster', (ARRAY['prod-eu-west-1','prod-us-east-2','staging-eu-1'])[1 + r.id % 3]),
       CASE WHEN s.starts > :'now'::timestamptz - interval '6 hours' AND random() < 0.6 THEN 'firing'
            WHEN random() < 0.04 THEN 'suppressed' ELSE 'resolved' END,
       s.starts,
       s.starts + make_interval(secs => floor(exp(4 + random() * 6))),
       'summary: ' || r.title || ' on ' || pg_temp.app() || E'\n' ||
       'description: ' || pg_temp.pick(ARRAY[
          'Error rate is above 5% for the last 10 minutes.',
          'p99 latency exceeded 1.2s (current value: ' || round((1 + random() * 3)::numeric, 3) || 's).',
          'Pod has restarted ' || pg_temp.ri(3, 40) || ' times in the last hour.',
          'Disk usage is at ' || pg_temp.ri(85, 99) || '% and predicted to fill within 4h.',
          'Consumer group lag is ' || pg_temp.ri(10000, 900000) || ' messages.',
          'Target has been unreachable for more than 5 minutes.']) || E'\n' ||
       'runbook_url: https://runbooks.example.internal/alerts/' || lower(r.title) || E'\n' ||
       'value: ' || round((random() * 1000)::numeric, 4),
       'https://grafana.example.internal/alerting/grafana/' || r.uid || '/view?orgId=' || r.org_id,
       s.starts + make_interval(secs => pg_temp.ri(0, 90))
FROM (SELECT g,
             1 + floor(random() * :n_rules_now)::int AS rid,
             pg_temp.ri(1, 8) AS inst,
             :'lo'::timestamptz + (g::float8 / :n_new) * (:'hi'::timestamptz - :'lo'::timestamptz)
               + make_interval(secs => random() * 600) AS starts
      FROM generate_series(1, :n_new) g) s
JOIN alert_rules r ON r.id = s.rid
ORDER BY s.g;
SQL
)

AUDIT_INSERT=$(cat <<'SQL'
INSERT INTO audit_log (org_id, user_id, action, resource, details, client_ip, created_at)
SELECT u.org_id, u.id, s.action,
       CASE WHEN s.action LIKE 'dashboard.%' THEN 'dashboards/' || pg_temp.hex(9)
            WHEN s.action LIKE 'alert_rule.%' THEN 'alert-rules/' || pg_temp.hex(12)
            WHEN s.action LIKE 'silence.%' THEN 'silences/' || pg_temp.uuid()
            ELSE 'users/' || u.id END,
       jsonb_build_object('user_agent', pg_temp.pick(ARRAY[
           'Mozilla/5.0 (X11; Linux x86_64; rv:124.0) Gecko/20100101 Firefox/124.0',
           'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 Safari/605.1.15',
           'Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/123.0.0.0 Safari/537.36',
           'grafana-terraform-provider/2.14.3', 'curl/8.5.0']),
         'request_id', pg_temp.hex(32), 'status', pg_temp.pick(ARRAY['200','200','200','201','204','403'])),
       ('10.' || pg_temp.ri(0, 255) || '.' || pg_temp.ri(0, 255) || '.' || pg_temp.ri(1, 254))::inet,
       s.ts
FROM (SELECT g, 1 + floor(random() * :n_users_now)::int AS uid,
             pg_temp.pick(ARRAY['user.login','user.login','user.login','dashboard.update','dashboard.view',
               'alert_rule.update','silence.create','silence.expire','api_key.create','user.update']) AS action,
             :'lo'::timestamptz + (g::float8 / :n_new) * (:'hi'::timestamptz - :'lo'::timestamptz) AS ts
      FROM generate_series(1, :n_new) g) s
JOIN users u ON u.id = s.uid
ORDER BY s.g;
SQL
)

SILENCE_INSERT=$(cat <<'SQL'
INSERT INTO silences (id, org_id, matchers, starts_at, ends_at, created_by, comment, state, updated_at)
SELECT pg_temp.uuid(), u.org_id,
       jsonb_build_array(
         jsonb_build_object('name', 'alertname', 'value', pg_temp.alertname(), 'isRegex', false, 'isEqual', true),
         jsonb_build_object('name', 'namespace', 'value', pg_temp.ns(), 'isRegex', random() < 0.2, 'isEqual', true)),
       s.starts, s.starts + make_interval(hours => pg_temp.ri(1, 72)), u.id,
       pg_temp.pick(ARRAY['Planned maintenance window','Known issue, fix being rolled out',
         'Noisy during migration to new cluster','Flapping - investigating, see incident channel',
         'Load test in progress','Upstream provider outage']) || ' (' || pg_temp.pick(ARRAY['INC','OPS','CHG']) || '-' || pg_temp.ri(1000, 9999) || ')',
       'active', s.starts
FROM (SELECT g, 1 + floor(random() * :n_users_now)::int AS uid,
             :'lo'::timestamptz + random() * (:'hi'::timestamptz - :'lo'::timestamptz) AS starts
      FROM generate_series(1, :n_new) g) s
JOIN users u ON u.id = s.uid
ORDER BY s.g;
UPDATE silences SET state = CASE WHEN ends_at < :'now'::timestamptz THEN 'expired'
                                 WHEN starts_at > :'now'::timestamptz THEN 'pending' ELSE 'active' END,
                    updated_at = :'now'::timestamptz
WHERE state <> CASE WHEN ends_at < :'now'::timestamptz THEN 'expired'
                    WHEN starts_at > :'now'::timestamptz THEN 'pending' ELSE 'active' END;
SQL
)

SEED_SQL=$(cat <<'SQL'
SELECT setseed(:seed);
SELECT greatest(3, round(40 * :scale))::int    AS n_orgs,
       greatest(20, round(3000 * :scale))::int AS n_users,
       greatest(5, round(200 * :scale))::int   AS n_teams,
       greatest(10, round(600 * :scale))::int  AS n_dash,
       greatest(10, round(1500 * :scale))::int AS n_rules,
       greatest(100, round(24000 * :scale))::int AS n_hist,
       greatest(10, round(2500 * :scale))::int AS n_sil,
       greatest(50, round(10000 * :scale))::int AS n_audit \gset

INSERT INTO organizations (slug, name, plan, created_at, settings)
SELECT lower(w) || '-' || g, w || ' ' || pg_temp.pick(ARRAY['Labs','Systems','GmbH','Inc','Cloud','Analytics']),
       pg_temp.pick(ARRAY['free','team','team','enterprise']),
       :'now'::timestamptz - make_interval(days => pg_temp.ri(200, 1500)),
       jsonb_build_object('retention_days', pg_temp.pick(ARRAY['30','90','395']), 'sso_enabled', random() < 0.4,
                          'default_timezone', pg_temp.pick(ARRAY['UTC','Europe/Berlin','America/New_York','Asia/Tokyo']))
FROM (SELECT g, pg_temp.pick(ARRAY['Acme','Globex','Initech','Umbrella','Hooli','Stark','Wayne','Tyrell',
        'Cyberdyne','Soylent','Aperture','Vandelay','Wonka','Gringotts','Oscorp','Nakatomi']) AS w
      FROM generate_series(1, :n_orgs) g) s;

INSERT INTO users (org_id, email, display_name, role, password_hash, created_at, last_login_at, is_disabled, preferences)
SELECT 1 + (g % :n_orgs), lower(fn) || '.' || lower(ln) || g || '@' || pg_temp.pick(ARRAY['example.com','corp.example','mail.example.org']),
       fn || ' ' || ln, pg_temp.pick(ARRAY['viewer','viewer','viewer','editor','editor','admin']),
       '$2a$10$' || substr(encode(sha256((g || ':' || random())::bytea), 'base64'), 1, 53),
       created, created + random() * (:'now'::timestamptz - created), random() < 0.04,
       jsonb_build_object('theme', pg_temp.pick(ARRAY['dark','light','system']),
                          'timezone', pg_temp.pick(ARRAY['browser','UTC','Europe/Paris','America/Chicago']),
                          'locale', pg_temp.pick(ARRAY['en-US','en-GB','de-DE','fr-FR','ja-JP']))
FROM (SELECT g,
             pg_temp.pick(ARRAY['Anna','Ben','Chen','Dana','Elif','Farid','Greta','Hiro','Ines','Jonas','Kofi',
               'Lena','Marco','Nadia','Oleg','Priya','Quinn','Rosa','Sam','Tomas','Uma','Viktor','Wei','Yara','Zoe']) AS fn,
             pg_temp.pick(ARRAY['Schmidt','Nguyen','Garcia','Kowalski','Okafor','Tanaka','Rossi','Dubois','Silva',
               'Andersen','Novak','Haddad','Ivanova','Kim','Murphy','Patel','Yilmaz','Costa','Fischer','Lopez']) AS ln,
             :'now'::timestamptz - make_interval(days => pg_temp.ri(1, 1400)) AS created
      FROM generate_series(1, :n_users) g) s;

INSERT INTO teams (org_id, name, created_at)
SELECT 1 + (g % :n_orgs), pg_temp.pick(ARRAY['sre','platform','payments','ml-infra','data-eng','frontend',
         'backend','security','mobile','growth','search','core']) || '-' || g,
       :'now'::timestamptz - make_interval(days => pg_temp.ri(10, 900))
FROM generate_series(1, :n_teams) g;

INSERT INTO team_members (team_id, user_id, role)
SELECT DISTINCT ON (t, u) t, u, CASE WHEN random() < 0.1 THEN 'admin' ELSE 'member' END
FROM (SELECT 1 + floor(random() * :n_teams)::int AS t, 1 + floor(random() * :n_users)::int AS u
      FROM generate_series(1, :n_users * 2)) s
ORDER BY t, u;

INSERT INTO dashboards (org_id, uid, title, folder, version, created_by, created_at, updated_at, data)
SELECT d.org_id, d.uid, d.title, d.folder, d.version, d.created_by, d.created_at, d.updated_at,
       jsonb_build_object('uid', d.uid, 'title', d.title, 'schemaVersion', 39, 'editable', true,
         'refresh', pg_temp.pick(ARRAY['30s','1m','5m','']), 'time', jsonb_build_object('from', 'now-6h', 'to', 'now'),
         'tags', jsonb_build_array(d.folder, d.app),
         'templating', jsonb_build_object('list', jsonb_build_array(
            jsonb_build_object('name', 'cluster', 'type', 'query', 'query', 'label_values(up, cluster)'),
            jsonb_build_object('name', 'namespace', 'type', 'query', 'query', 'label_values(up{cluster="$cluster"}, namespace)'))),
         'panels', p.panels)
FROM (SELECT s0.g, 1 + (s0.g % :n_orgs) AS org_id, pg_temp.hex(9) AS uid, s0.app,
             initcap(replace(s0.app, '-', ' ')) || ' / ' || pg_temp.pick(ARRAY['Overview','Latency','Errors','Saturation','SLOs','Resources','Kafka','Capacity']) AS title,
             pg_temp.pick(ARRAY['General','Services','Infrastructure','Databases','Teams','SLOs']) AS folder,
             pg_temp.ri(1, 60) AS version, 1 + floor(random() * :n_users)::int AS created_by,
             :'now'::timestamptz - make_interval(days => pg_temp.ri(30, 900)) AS created_at,
             :'now'::timestamptz - make_interval(days => pg_temp.ri(0, 29), secs => pg_temp.ri(0, 86399)) AS updated_at,
             pg_temp.ri(4, 18) AS npanels
      FROM (SELECT g, pg_temp.app() AS app FROM generate_series(1, :n_dash) g) s0) d
CROSS JOIN LATERAL (
  SELECT jsonb_agg(jsonb_build_object(
           'id', p, 'type', pg_temp.pick(ARRAY['timeseries','timeseries','stat','gauge','table','heatmap','bargauge']),
           'title', pg_temp.pick(ARRAY['Request rate','Error ratio','p99 latency','CPU usage','Memory working set',
                     'Restarts','Queue depth','Disk free','Network RX','GC pause']) || ' (' || d.app || ')',
           'gridPos', jsonb_build_object('h', 8, 'w', 12, 'x', (p % 2) * 12, 'y', (p / 2) * 8),
           'datasource', jsonb_build_object('type', 'prometheus', 'uid', 'mimir-' || d.org_id),
           'targets', jsonb_build_array(jsonb_build_object('refId', 'A', 'legendFormat', '{{pod}}',
              'expr', pg_temp.pick(ARRAY['sum by (pod) (rate(http_requests_total{namespace="$namespace",job=~".*' || d.app || '"}[$__rate_interval]))',
                                         'histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{job=~".*' || d.app || '"}[$__rate_interval])))',
                                         'sum by (pod) (container_memory_working_set_bytes{namespace="$namespace",container="' || d.app || '"})',
                                         'sum by (pod) (rate(container_cpu_usage_seconds_total{namespace="$namespace",container="' || d.app || '"}[5m]))']))),
           'fieldConfig', jsonb_build_object('defaults', jsonb_build_object('unit', pg_temp.pick(ARRAY['reqps','percentunit','s','bytes','short']),
              'thresholds', jsonb_build_object('mode', 'absolute', 'steps', jsonb_build_array(
                 jsonb_build_object('color', 'green', 'value', null), jsonb_build_object('color', 'red', 'value', pg_temp.ri(50, 95))))))
         ) ORDER BY p) AS panels
  FROM generate_series(1, d.npanels) p) p
ORDER BY d.g;

INSERT INTO alert_rules (org_id, uid, title, expr, for_seconds, severity, labels, annotations, is_paused, updated_at)
SELECT 1 + (g % :n_orgs), pg_temp.hex(12), s.an,
       CASE floor(random() * 4)::int
         WHEN 0 THEN 'sum(rate(http_requests_total{job="' || s.ns || '/' || s.app || '",code=~"5.."}[5m])) / sum(rate(http_requests_total{job="' || s.ns || '/' || s.app || '"}[5m])) > 0.0' || pg_temp.ri(1, 9)
         WHEN 1 THEN 'histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{job="' || s.ns || '/' || s.app || '"}[5m]))) > ' || pg_temp.ri(1, 5)
         WHEN 2 THEN 'increase(kube_pod_container_status_restarts_total{namespace="' || s.ns || '"}[1h]) > ' || pg_temp.ri(3, 10)
         ELSE 'predict_linear(node_filesystem_avail_bytes{job="node"}[6h], 4 * 3600) < 0' END,
       pg_temp.pick(ARRAY['0','60','300','300','600','900'])::int, s.sev,
       jsonb_build_object('severity', s.sev, 'team', pg_temp.pick(ARRAY['sre','platform','payments','ml-infra','data-eng']), 'namespace', s.ns),
       jsonb_build_object('summary', s.an || ' in ' || s.ns || '/' || s.app,
                          'runbook_url', 'https://runbooks.example.internal/alerts/' || lower(s.an)),
       random() < 0.05, :'now'::timestamptz - make_interval(days => pg_temp.ri(0, 400))
FROM (SELECT g, pg_temp.alertname() AS an, pg_temp.ns() AS ns, pg_temp.app() AS app,
             pg_temp.pick(ARRAY['critical','warning','warning','info']) AS sev
      FROM generate_series(1, :n_rules) g) s;

SELECT :n_rules AS n_rules_now, :n_users AS n_users_now \gset

-- 90 days of alert history, oldest first (append-mostly table)
\set n_new :n_hist
SELECT (:'now'::timestamptz - interval '90 days')::text AS lo, :'now' AS hi \gset
SQL
)
SEED_SQL+=$'\n'"$ALERTS_INSERT"$'\n'
SEED_SQL+=$'\\set n_new :n_sil\n'"SELECT (:'now'::timestamptz - interval '60 days')::text AS lo, (:'now'::timestamptz + interval '1 day')::text AS hi \\gset"$'\n'"$SILENCE_INSERT"$'\n'
SEED_SQL+=$'\\set n_new :n_audit\n'"SELECT (:'now'::timestamptz - interval '60 days')::text AS lo, :'now' AS hi \\gset"$'\n'"$AUDIT_INSERT"$'\n'
SEED_SQL+=$'VACUUM ANALYZE;\n'

DAY_SQL=$(cat <<'SQL'
SELECT setseed(:seed);
SELECT (SELECT count(*) FROM alert_history) AS n_hist, (SELECT count(*) FROM audit_log) AS n_audit,
       (SELECT count(*) FROM silences) AS n_sil,
       (SELECT max(id) FROM alert_rules) AS n_rules_now, (SELECT max(id) FROM users) AS n_users_now,
       round((0.01 + 0.02 * random())::numeric, 4) AS frac,
       (:'now'::timestamptz - interval '1 day')::text AS lo, :'now' AS hi \gset

-- resolve most alerts that were firing
UPDATE alert_history SET status = 'resolved',
       ends_at = greatest(starts_at, :'lo'::timestamptz) + make_interval(secs => pg_temp.ri(60, 20000))
WHERE status = 'firing' AND random() < 0.8;

-- new alert history: 1-3%
SELECT greatest(1, round(:n_hist * (:app_lo + :app_span * random())))::int AS n_new \gset
SQL
)
DAY_SQL+=$'\n'"$ALERTS_INSERT"$'\n'
DAY_SQL+=$(cat <<'SQL'

-- scattered updates, 1-3% of the big tables
UPDATE alert_history SET
       annotations = annotations || E'\nacknowledged_by: user-' || pg_temp.ri(1, :n_users_now) || ' at ' || to_char(:'now'::timestamptz - make_interval(secs => pg_temp.ri(0, 80000)), 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
       labels = labels || jsonb_build_object('acknowledged', 'true')
WHERE random() < :frac;
UPDATE users SET last_login_at = :'now'::timestamptz - make_interval(secs => pg_temp.ri(0, 86399))
WHERE NOT is_disabled AND random() < :frac * 4;
UPDATE users SET preferences = preferences || jsonb_build_object('theme', pg_temp.pick(ARRAY['dark','light','system']))
WHERE random() < :frac / 3;
UPDATE dashboards SET version = version + 1, updated_at = :'now'::timestamptz - make_interval(secs => pg_temp.ri(0, 86399)),
       data = jsonb_set(jsonb_set(data, '{refresh}', to_jsonb(pg_temp.pick(ARRAY['30s','1m','5m','10s']))),
                        '{panels,0,title}', to_jsonb('Request rate v' || (version + 1)))
WHERE random() < :frac;
UPDATE alert_rules SET for_seconds = pg_temp.pick(ARRAY['60','300','600'])::int,
       is_paused = random() < 0.05, updated_at = :'now'::timestamptz - make_interval(secs => pg_temp.ri(0, 86399))
WHERE random() < :frac;
UPDATE audit_log SET details = details || jsonb_build_object('reviewed', true)
WHERE random() < :frac / 2;

-- a few deletions
DELETE FROM alert_history WHERE random() < 0.002;
DELETE FROM silences WHERE id IN (SELECT id FROM silences WHERE state = 'expired' AND ends_at < :'now'::timestamptz - interval '30 days'
                                   ORDER BY ends_at LIMIT greatest(1, :n_sil / 200));
DELETE FROM users WHERE id IN (SELECT id FROM users WHERE is_disabled ORDER BY random() LIMIT pg_temp.ri(0, 2));

-- new audit entries (1-3%) and some new silences
SELECT greatest(1, round(:n_audit * (:app_lo + :app_span * random())))::int AS n_new \gset
SQL
)
DAY_SQL+=$'\n'"$AUDIT_INSERT"$'\n'
DAY_SQL+=$'SELECT greatest(1, round(:n_sil * (0.01 + 0.02 * random())))::int AS n_new \\gset\n'"$SILENCE_INSERT"$'\n'
DAY_SQL+=$'VACUUM ANALYZE;\n'

# pg_dump >= 15.14 writes a random `\restrict KEY` line; derive the key from
# SEED and the date instead so that reruns produce byte-identical dumps.
RESTRICT=()
PGDUMP_HELP=$("$PGBIN/pg_dump" --help)
if [[ "$PGDUMP_HELP" == *--restrict-key* ]]; then HAVE_RESTRICT=1; else HAVE_RESTRICT=0; fi

BASE_EPOCH=$(date -u -d '2025-04-01 12:00:00' +%s)
echo "make-pg-dumps: PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') in $PGTMP, SCALE=$SCALE, DAYS=$DAYS" >&2
printf '%s\n%s\n' "$PREAMBLE" "$SCHEMA_SQL" | "${PSQL[@]}" -d dop -f - >/dev/null

files=()
for ((d = 0; d < DAYS; d++)); do
  epoch=$((BASE_EPOCH + d * 86400))
  now=$(date -u -d "@$epoch" '+%Y-%m-%d %H:%M:%S+00')
  stamp=$(date -u -d "@$epoch" '+%Y%m%d%H%M')
  if (( d == 0 )); then
    run_sql "$SEED_SQL" -v now="$now" -v scale="$SCALE" -v seed="$(seed_frac 0)"
  else
    run_sql "$DAY_SQL" -v now="$now" -v seed="$(seed_frac "$d")" -v app_lo="$APP_LO" -v app_span="$APP_SPAN"
  fi
  out=$OUT_DIR/dop-$stamp.dump
  if [[ "$HAVE_RESTRICT" == 1 ]]; then
    RESTRICT=(--restrict-key="$(printf 'cellar-%s-%s' "$SEED" "$stamp" | sha256sum | cut -c1-48)")
  fi
  "$PGBIN/pg_dump" "${RESTRICT[@]}" -d dop -f "$out.tmp"
  mv -f "$out.tmp" "$out"
  if [[ "$DO_CUSTOM" == 1 ]]; then
    "$PGBIN/pg_dump" -Fc -d dop -f "$OUT_DIR/dop-$stamp.custom.tmp"
    mv -f "$OUT_DIR/dop-$stamp.custom.tmp" "$OUT_DIR/dop-$stamp.custom"
  fi
  if [[ "$DO_GZIP" == 1 ]]; then
    gzip -6 -n -c "$out" > "$out.gz.tmp" || die "gzip failed for $out"
    mv -f "$out.gz.tmp" "$out.gz"
    [[ "$KEEP_PLAIN" == 1 ]] || rm -f "$out"
    files+=("$out.gz")
    [[ "$KEEP_PLAIN" == 1 ]] && files+=("$out")
  else
    files+=("$out")
  fi
  printf 'day %2d %s  %s\n' $((d + 1)) "$stamp" "$(du -h "${files[-1]}" | cut -f1)" >&2
done

rows=$("${PSQL[@]}" -d dop -At -c "
  SELECT string_agg(format('%s=%s', relname,
           (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM %I', relname), false, true, '')))[1]),
         ' ' ORDER BY relname)
  FROM pg_stat_user_tables")
echo
echo "Wrote ${#files[@]} files to $OUT_DIR in $(( $(date +%s) - T0 ))s (total $(du -ch "${files[@]}" | tail -n 1 | cut -f1))"
echo "  first: $(basename "${files[0]}") $(du -h "${files[0]}" | cut -f1)   last: $(basename "${files[-1]}") $(du -h "${files[-1]}" | cut -f1)"
echo "  final row counts: $rows"
