#!/bin/sh
# Make sure what the tests need is here: PostgreSQL and Redis up (started when down), and Chromium for the
# dashboard's browser tests (installed from Debian's packages when missing and we are root).
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
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "services: installing Chromium (Debian package chromium) for the browser tests" >&2
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  fi
  command -v chromium >/dev/null 2>&1 || {
    echo "services: Chromium is missing; install the Debian package chromium (or run pytest -m 'not browser')" >&2
    exit 1
  }
fi
echo "services: PostgreSQL, Redis and Chromium are ready" >&2
