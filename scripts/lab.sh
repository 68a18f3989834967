#!/usr/bin/env bash
# Installs everything, then starts JupyterLab with the extension (extra arguments go to jupyter lab).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/jupyter lab "$@"
