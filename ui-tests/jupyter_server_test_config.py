"""Jupyter server configuration for the Galata tests.

Galata's helper turns off token and XSRF checks (the pytest suite covers the
real auth); we add root permission in containers, an optional JupyterHub-style
base URL, and point the extension at the scripted model server.
"""

from __future__ import annotations

import os

from jupyterlab.galata import configure_jupyter_server

c = get_config()  # noqa: F821  (provided by traitlets when loading config files)

configure_jupyter_server(c)

c.ServerApp.port = int(os.environ.get("CODEINTERP_LAB_PORT", "8888"))

if hasattr(os, "geteuid") and os.geteuid() == 0:
    c.ServerApp.allow_root = True

base_url = os.environ.get("CODEINTERP_BASE_URL", "/")
if base_url != "/":
    c.ServerApp.base_url = base_url

port = int(os.environ.get("SCRIPTED_MODEL_PORT", "8765"))
c.CodeInterp.base_url = f"http://127.0.0.1:{port}/v1"
c.CodeInterp.api_key = "scripted-test-key"
c.CodeInterp.model = "scripted-model"
c.CodeInterp.history_dir = os.path.join(c.ServerApp.root_dir, ".codeinterp-history")

# Notebook 7 exposes its app to the tests like JupyterLab does.
c.JupyterNotebookApp.expose_app_in_browser = True

# Quiet logs in CI.
c.ServerApp.log_level = "INFO"
