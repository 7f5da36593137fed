#!/bin/sh
# The install steps of the aifinops image, one source for the Dockerfile (every RUN calls this script) and for
# deploy/container/check_image.py, which runs the same steps in a fresh environment where no container engine
# can run. Usage:
#   steps.sh build SRC WHEELS     wheels of aifinops and of every dependency, built from the source tree SRC
#   steps.sh install WHEELS VENV  a fresh virtual environment with aifinops installed from WHEELS only (offline)
#   steps.sh datadir DIR          the directory the non-root user keeps its SQLite file and spool in
# PYTHON names the interpreter (default python3); pip's own settings (PIP_INDEX_URL, …) apply to `build`.
set -eu
python=${PYTHON:-python3}
step=${1:?usage: steps.sh build|install|datadir ARGS}
shift
case "$step" in
build)
    src=${1:?steps.sh build SRC WHEELS}
    wheels=${2:?steps.sh build SRC WHEELS}
    "$python" -m pip wheel --quiet --no-cache-dir --wheel-dir "$wheels" "$src"
    ;;
install)
    wheels=${1:?steps.sh install WHEELS VENV}
    venv=${2:?steps.sh install WHEELS VENV}
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --no-cache-dir --no-index --find-links "$wheels" aifinops
    "$venv/bin/aifinops" --help >/dev/null
    ;;
datadir)
    dir=${1:?steps.sh datadir DIR}
    mkdir -p "$dir"
    ;;
*)
    echo "steps.sh: unknown step $step (build, install or datadir)" >&2
    exit 2
    ;;
esac
