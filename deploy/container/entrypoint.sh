#!/bin/sh
# The image's entrypoint: `serve` (the default), `gateway`, `collect` or any other aifinops command and its
# options. AIFINOPS_MIGRATE=1 runs `aifinops db upgrade` first; replicas that all do so are safe on
# PostgreSQL (upgrades take an advisory lock and the second one finds the schema current).
set -eu
if [ "${AIFINOPS_MIGRATE:-0}" = "1" ]; then
    aifinops db upgrade
fi
[ $# -eq 0 ] && set -- serve
exec aifinops "$@"
