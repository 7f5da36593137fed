#!/bin/sh
# Make sure what the tests need is here: PostgreSQL and Redis up (started when down), Chromium for the
# dashboard's browser tests and the review pack's PDF, promtool (Debian package prometheus) for the alerting
# rules' unit tests, and pdftotext (poppler-utils) to read the PDF back — installed from Debian's packages
# when missing and we are root.
# Addresses: AIFINOPS_TEST_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/test) and
# AIFINOPS_TEST_REDIS_URL (default redis://127.0.0.1:6379/15).
set -eu

pg_up() { pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; }
redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; }

if ! pg_up; then
  echo "services: starting PostgreSQL" >&2
  if command -v pg_ctlcluster >/dev/null 2>&1; then
    for version in $(ls /etc/postgresql 2>/dev/null); do
      pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    done
  fi
  i=0; while ! pg_up && [ $i -lt 30 ]; do sleep 1; i=$((i + 1)); done
  pg_up || { echo "services: PostgreSQL is not reachable on 127.0.0.1:5432; start it and retry" >&2; exit 1; }
fi

if ! redis_up; then
  echo "services: starting Redis" >&2
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
  i=0; while ! redis_up && [ $i -lt 30 ]; do sleep 1; i=$((i + 1)); done
  redis_up || { echo "services: Redis is not reachable on 127.0.0.1:6379; start it and retry" >&2; exit 1; }
fi
# install_missing COMMAND PACKAGE WHAT: apt-get install PACKAGE as root when COMMAND is missing.
install_missing() {
  command -v "$1" >/dev/null 2>&1 && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "services: installing $3 (Debian package $2)" >&2
    if [ -z "${APT_UPDATED:-}" ]; then apt-get update -qq >/dev/null; APT_UPDATED=1; fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
  fi
  command -v "$1" >/dev/null 2>&1 || {
    echo "services: $1 is missing; install the Debian package $2 ($3)" >&2
    exit 1
  }
}

install_missing chromium chromium "Chromium, for the browser tests and PDF review packs"
install_missing promtool prometheus "promtool, for the Prometheus rules' unit tests"
install_missing pdftotext poppler-utils "pdftotext, to read review pack PDFs back"
echo "services: PostgreSQL, Redis, Chromium, promtool and pdftotext are ready" >&2
