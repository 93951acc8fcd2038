#!/usr/bin/env bash
# The whole test suite: set up .venv with the test extra, check lint and format (ruff) and
# types (mypy), then run pytest. Browser tests need Debian's chromium (apt-get install -y chromium);
# without it they skip, unless E2E_REQUIRED=1 (as in CI), where they fail.
# With no arguments the in-process tests, which mostly wait on simulated tasks, run in
# six pytest-xdist workers (on two cores: they wait far more than they compute), then the
# real kernels and the browser one at a time;
# arguments go to a single pytest run as they are.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
.venv/bin/ruff check nanobanana_magic tests benchmarks notebooks
.venv/bin/ruff format --check nanobanana_magic tests benchmarks notebooks
.venv/bin/mypy  # configuration in pyproject.toml: the core strict, the whole package clean
if [ "$#" -gt 0 ]; then
    exec .venv/bin/python -m pytest "$@"
fi
.venv/bin/python -m pytest -n 6 -m "not browser and not kernel"
exec .venv/bin/python -m pytest -m "browser or kernel"
