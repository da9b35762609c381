#!/usr/bin/env bash
# Install flexrec and flexsim into a virtual environment, every dependency from requirements.lock
# (exact versions, hashes checked), then the two local packages on top without resolving
# anything; `pip check` proves the lock covers what they declare.
#
# The one install path: `make setup` (people, tests and CI) runs it with --editable, the
# Dockerfile without, so the image holds exactly what the tests ran against.
#
# usage: scripts/install-python.sh VENV [--editable]
set -euo pipefail

venv="${1:?usage: scripts/install-python.sh VENV [--editable]}"
mode="${2:-}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-python3}"
pip_version="${PIP_VERSION:-26.3}"

"$python" -m venv "$venv"
"$venv/bin/pip" install --quiet "pip==$pip_version"
"$venv/bin/pip" install --quiet --require-hashes -r "$root/requirements.lock"
if [ "$mode" = "--editable" ]; then
    "$venv/bin/pip" install --quiet --no-deps --no-build-isolation \
        -e "$root/flexsim" -e "$root[dev,sim]"
else
    "$venv/bin/pip" install --quiet --no-deps --no-build-isolation "$root/flexsim" "$root"
fi
"$venv/bin/pip" check
