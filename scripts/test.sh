#!/usr/bin/env bash
# Lint, type-check (mypy --strict over src/), then run the whole test suite. Extra arguments go to pytest.
set -uo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check src tests benchmarks scripts || exit 1
.venv/bin/mypy || exit 1  # strict, over src/ ([tool.mypy] in pyproject.toml)
.venv/bin/python -m pytest "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
  # pytest's "no tests collected": never a silent success.
  echo "error: pytest collected no tests (arguments: ${*:-none}); check the selection" >&2
  exit 1
fi
exit "$rc"
