#!/usr/bin/env bash
# Submit the testbed's job mix, wait until its finished jobs are in slurmdbd, write state.json.
# The logic lives in jobmix.py (stdlib only) so the fixture and humans run the same thing.
set -euo pipefail
exec /usr/bin/python3 "$(dirname "$0")/jobmix.py" "$@"
