"""JupyterHub configuration for the browser test through a real hub (tests/hub.spec.ts).

A real ``jupyterhub`` with the real ``configurable-http-proxy`` (from this folder's
node_modules), ``DummyAuthenticator`` with a shared password and ``SimpleLocalProcessSpawner``
(every user's single-user server runs as the hub's own OS user, home under the state folder).
The single-user servers load the extension from this environment and reach the scripted
model through the spawner's environment, as a deployment would set the real endpoint and key:
the key stays in the single-user server's process, never in the browser.

Everything the hub writes (sqlite database, cookie secret, proxy pid file, the users' homes)
goes to ``$CODEINTERP_HUB_STATE`` (a new temporary folder when unset), which is removed when
the hub exits. Started by playwright-hub.config.js::

    python -m jupyterhub -f ui-tests/jupyterhub_config.py
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile

from jupyterhub.utils import random_port

c = get_config()  # noqa: F821  (provided by traitlets when loading config files)

here = os.path.dirname(os.path.abspath(__file__))
state = os.environ.get("CODEINTERP_HUB_STATE") or tempfile.mkdtemp(prefix="codeinterp-hub-")
os.makedirs(state, exist_ok=True)
atexit.register(shutil.rmtree, state, ignore_errors=True)

public_port = int(os.environ.get("CODEINTERP_HUB_PORT", "8000"))
model_port = int(os.environ.get("SCRIPTED_MODEL_PORT", "8765"))

# ---- the hub and its proxy: loopback only; the internal ports are free ones ------------------
c.JupyterHub.bind_url = f"http://127.0.0.1:{public_port}"
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = random_port()
c.JupyterHub.db_url = f"sqlite:///{os.path.join(state, 'jupyterhub.sqlite')}"
c.JupyterHub.cookie_secret_file = os.path.join(state, "jupyterhub_cookie_secret")
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{random_port()}"
c.ConfigurableHTTPProxy.pid_file = os.path.join(state, "jupyterhub-proxy.pid")
c.ConfigurableHTTPProxy.command = [
    os.path.join(here, "node_modules", ".bin", "configurable-http-proxy")
]
# stop the users' servers and the proxy when the hub stops (the test command ends it)
c.JupyterHub.cleanup_servers = True
c.JupyterHub.cleanup_proxy = True

# ---- who may log in: anyone with the shared password -----------------------------------------
c.JupyterHub.authenticator_class = "dummy"
c.DummyAuthenticator.password = os.environ.get("CODEINTERP_HUB_PASSWORD", "hub-test-password")

# ---- each user's server: this environment's Python, the user's home under the state folder ---
c.JupyterHub.spawner_class = "simple"
c.SimpleLocalProcessSpawner.home_dir_template = os.path.join(state, "users", "{username}")
c.Spawner.cmd = [sys.executable, "-m", "jupyterhub.singleuser"]
c.Spawner.default_url = "/lab"
c.Spawner.args = [
    # the tests read the notebook through the JupyterLab app object, as Galata does
    "--LabApp.expose_app_in_browser=True",
]
if hasattr(os, "geteuid") and os.geteuid() == 0:
    # containers and CI run as root; SimpleLocalProcessSpawner does not switch users
    c.Spawner.args.append("--allow-root")
# the model's endpoint, key and name, read by the extension (c.CodeInterp defaults)
c.Spawner.environment = {
    "OPENAI_BASE_URL": f"http://127.0.0.1:{model_port}/v1",
    "OPENAI_API_KEY": os.environ.get("CODEINTERP_HUB_MODEL_KEY", "hub-scripted-key"),
    "CODEINTERP_MODEL": "scripted-model",
}
# a loaded 2-core machine starts JupyterLab slowly
c.Spawner.start_timeout = 180
c.Spawner.http_timeout = 120
