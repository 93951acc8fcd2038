#!/usr/bin/env bash
# The main job: set up .venv, then execute the tutorial notebooks against the simulator
# and write executed notebooks + HTML pages to demo_output/.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[demo]'
exec .venv/bin/nanobanana demo "$@"
