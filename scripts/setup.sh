#!/usr/bin/env bash
# Installs everything the extension and its tests need, idempotently, from the package
# registries only: a Python venv (.venv) with the extension in editable mode (which builds
# the frontend through jlpm), the browser-test dependencies and Debian's chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
PY=${PYTHON:-python3}

step() { printf '\n==> %s\n' "$*"; }

if [ ! -x .venv/bin/python ]; then
  step "creating .venv"
  "$PY" -m venv .venv
fi
export PATH="$ROOT/.venv/bin:$PATH"

# the browser tests also run the extension behind a real JupyterHub
EXTRAS=test
[ "${1:-}" = "--with-browser" ] && EXTRAS=test,hub

step "installing the Python package and test dependencies (builds the frontend)"
# on a second run, pip would write the package's install.json through the link that
# `labextension develop` made into the build folder, and the run after that would refuse
# to build a wheel holding that file twice: drop the link and the stray file first
LINK=.venv/share/jupyter/labextensions/jupyterlab-codeinterp
[ -L "$LINK" ] && rm "$LINK"
rm -f jupyterlab_codeinterp/labextension/install.json
python -m pip install -q --upgrade pip
python -m pip install -q -e ".[$EXTRAS]"

step "linking the labextension and enabling the server extension"
jupyter labextension develop --overwrite . >/dev/null
jupyter server extension enable --sys-prefix jupyterlab_codeinterp >/dev/null
# an editable install does not build when the build output exists; rebuild so sources win
jlpm build

if [ "${1:-}" = "--with-browser" ]; then
  if ! command -v chromium >/dev/null 2>&1; then
    step "installing Debian's chromium for the browser tests"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
  fi
  step "installing the browser-test dependencies (ui-tests)"
  (cd ui-tests && jlpm install)
fi
