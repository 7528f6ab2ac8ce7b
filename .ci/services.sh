#!/usr/bin/env bash
# Services for the annotation project's tests (sourced by .ci/run): Debian's PostgreSQL, started locally, for
# the store tests on PostgreSQL, and Debian's Chromium for the browser test. Exports
#   LESIONLAB_TEST_POSTGRES_URL  a server URL; the PostgreSQL tests fail (not skip) if it is set and unreachable
#   LESIONLAB_TEST_CHROMIUM      the browser; the browser test fails (not skip) if it is set and missing
# Installing needs root and apt-get; elsewhere install `postgresql chromium` yourself first.

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  need=()
  command -v pg_ctlcluster >/dev/null || need+=(postgresql)
  [ -x /usr/bin/chromium ] || need+=(chromium)
  if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  fi
fi

pg_version=$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -1)
if [ -n "$pg_version" ] && command -v pg_ctlcluster >/dev/null; then
  pg_lsclusters -h | grep -q "^$pg_version main " || pg_createcluster "$pg_version" main >/dev/null
  pg_lsclusters -h | grep -q "^$pg_version main .* online" || pg_ctlcluster "$pg_version" main start
  pg_port=$(pg_lsclusters -h | awk -v v="$pg_version" '$1 == v && $2 == "main" {print $3}')
  as_postgres=(runuser -u postgres --)
  [ "$(id -u)" = 0 ] || as_postgres=(sudo -u postgres)
  "${as_postgres[@]}" psql -q -p "$pg_port" -c "DO \$\$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'lesionlab_ci') THEN
      CREATE ROLE lesionlab_ci LOGIN CREATEDB PASSWORD 'lesionlab_ci';
    END IF; END \$\$;"
  export LESIONLAB_TEST_POSTGRES_URL="postgresql+psycopg://lesionlab_ci:lesionlab_ci@127.0.0.1:${pg_port}/postgres"
else
  # Still set: the PostgreSQL tests then fail and say the server is unreachable, rather than skip in CI.
  export LESIONLAB_TEST_POSTGRES_URL="postgresql+psycopg://lesionlab_ci:lesionlab_ci@127.0.0.1:5432/postgres"
fi
export LESIONLAB_TEST_CHROMIUM=/usr/bin/chromium
