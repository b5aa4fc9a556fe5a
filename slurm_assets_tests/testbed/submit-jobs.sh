#!/usr/bin/env bash
# Submit the testbed's job mix, wait until its finished jobs are in slurmdbd, write state.json.
# The logic lives in jobmix.py (stdlib only) so the pytest fixture and humans run the same thing.
set -euo pipefail
PY=/usr/bin/python3
[ -x "$PY" ] || PY="$(command -v python3)"
exec "$PY" "$(dirname "$0")/jobmix.py" "$@"
