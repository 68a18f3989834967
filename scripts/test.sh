#!/usr/bin/env bash
# Installs everything, then runs every test suite: pytest, jest, and the Playwright/Galata
# browser tests in headless Debian chromium. Exits non-zero when any suite fails.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
bash scripts/setup.sh --with-browser || { echo "setup failed" >&2; exit 1; }
export PATH="$ROOT/.venv/bin:$PATH"
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1

status=0
run() {
  printf '\n==> %s\n' "$1"; shift
  if ! "$@"; then echo "FAILED: $*" >&2; status=1; fi
}
run "pytest" python -m pytest -q -p no:cacheprovider
run "lint (eslint, prettier, stylelint)" jlpm lint:check
run "jest" jlpm test
run "type-check the browser tests" node_modules/.bin/tsc --noEmit -p ui-tests
# the three Playwright configs: the main one, through a real JupyterHub, and with the kernels
# behind a real Jupyter Kernel Gateway
run "browser tests (Galata, headless chromium)" bash -c "cd ui-tests && jlpm test"
exit $status
