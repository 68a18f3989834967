"""The API key never leaves the server: no HTTP response, socket message, log line (debug
level), notebook, chat history file or kernel environment contains it.

The decision on kernel environments (see SECURITY.md): a key configured for the extension
(``c.CodeInterp.api_key`` in a config file, ``--api-key`` for the CLI) is never put into a
kernel's environment. A key the user exported as ``OPENAI_API_KEY`` before starting Jupyter
is part of the user's environment, which kernels inherit like every other variable (the
user's own code may rely on it); the extension does not scrub it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from hardening_support import kernel_eval, open_tab, server_with
from scripted_model import run_code, text
from server_fixtures import stop_jupyter_server

CFG_KEY = "sk-cfg-CONFIGKEY-0123456789abcdef"
ENV_KEY = "sk-env-USERKEY-fedcba9876543210"
NB = "secret.ipynb"
ENV_DUMP = "import os, json\nprint(json.dumps(sorted(os.environ.items())))"


@pytest.fixture(scope="module")
def server(tmp_path_factory, scripted_server_session):
    tmp = str(tmp_path_factory.mktemp("secrets"))
    os.makedirs(os.path.join(tmp, "config"), exist_ok=True)
    with open(os.path.join(tmp, "config", "jupyter_server_config.py"), "w") as fh:
        fh.write(f"c.CodeInterp.api_key = {CFG_KEY!r}\n")
    srv = server_with(tmp, scripted_server_session.base_url, "--debug", api_key="",
                      env={"OPENAI_API_KEY": ENV_KEY})
    yield srv
    stop_jupyter_server(srv)


def _everything_on_disk(*folders: str) -> str:
    parts = []
    for base in folders:
        for folder, _dirs, files in os.walk(base):
            for name in files:
                try:
                    with open(os.path.join(folder, name), encoding="utf-8", errors="replace") as fh:
                        parts.append(fh.read())
                except OSError:
                    pass
    return "\n".join(parts)


async def test_config_key_reaches_no_response_log_history_notebook_or_kernel(server, scripted_model):
    scripted_model.set_quirks(api_key=CFG_KEY)  # the endpoint only accepts the configured key
    kernel_id = await server.start_session(NB)
    seen: list[str] = []
    for route in ("codeinterp/config", f"codeinterp/context?path={NB}", "api/sessions", "api/kernels"):
        resp = await server.fetch(route)
        assert resp.code == 200, route
        seen.append(resp.body.decode())

    tab = await open_tab(server, kernel_id)
    try:
        scripted_model.set_script(run_code(ENV_DUMP),
                                  lambda req: text("env listed"))
        end, msgs = await tab.turn("sec", NB, "show the environment")
        assert end["status"] == "done"
        # the endpoint refuses a key and quotes it back in its error (careless servers do)
        scripted_model.set_quirks(api_key="sk-something-else-entirely", echo_key_in_errors=True)
        end, msgs2 = await tab.turn("sec", NB, "again")
        assert end["status"] == "failed"
        err = next(m for m in msgs2 if m["type"] == "error")
        assert err["code"] == "auth"
        await tab.send({"type": "history_request", "id": "h", "notebook_path": NB, "chat_id": "sec"})
        hist = await tab.serve_until({"history"})
    finally:
        tab.close()
    # the model did get the key, in the Authorization header and nowhere else
    auth = [r["headers"].get("Authorization") for r in scripted_model.log if r["path"].endswith("completions")]
    assert auth[0] == f"Bearer {CFG_KEY}"
    assert CFG_KEY not in json.dumps(scripted_model.requests)

    seen += [json.dumps(m) for m in tab.received] + [json.dumps(hist), json.dumps(tab.cells)]
    seen.append(server.log())
    seen.append(_everything_on_disk(server.history_dir, server.root))
    kernel_env = await kernel_eval(server, kernel_id, ENV_DUMP)
    env = dict(json.loads(kernel_env))
    seen.append(kernel_env)
    for where, blob in enumerate(seen):
        assert CFG_KEY not in blob, where
        assert CFG_KEY[8:24] not in blob, where  # no fragment either
    # the key is not on the server's command line (a config file, not --CodeInterp.api_key=...)
    with open(f"/proc/{server.proc.pid}/cmdline", "rb") as fh:
        assert CFG_KEY.encode() not in fh.read()
    # the user's own exported variable is the user's environment: kernels inherit it
    assert env.get("OPENAI_API_KEY") == ENV_KEY
    assert "[D " in server.log()  # the log really was at debug level


def test_cli_key_reaches_neither_kernel_nor_notebook_nor_output(tmp_path, scripted_model):
    scripted_model.set_quirks(api_key=CFG_KEY)
    scripted_model.set_script(run_code(ENV_DUMP), lambda req: text("done: " + str(CFG_KEY in json.dumps(req))))
    nb = tmp_path / "cli.ipynb"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI", "CODEINTERP"))}
    proc = subprocess.run(
        [sys.executable, "-m", "jupyterlab_codeinterp.cli", "run", str(nb), "-m", "env please",
         "--base-url", scripted_model.base_url, "--api-key", CFG_KEY, "--model", "scripted-model", "-v"],
        capture_output=True, text=True, env=env, timeout=180, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "done: False" in proc.stdout  # the cell output the model saw had no key
    assert CFG_KEY not in proc.stdout + proc.stderr
    assert CFG_KEY not in nb.read_text()
    assert "OPENAI_API_KEY" not in nb.read_text()
