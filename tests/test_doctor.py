"""``jupyter codeinterp doctor`` against the scripted server: one test per situation it must
diagnose, checking both the report a user reads and the exit code."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys

from scripted_model import call, error, text, tool_calls

from jupyterlab_codeinterp.doctor import run_doctor

KEY = "sk-test-SECRETKEY-0123456789"


async def doctor(cfg) -> tuple[int, str]:
    out = io.StringIO()
    code = await run_doctor(cfg, out=out)
    report = out.getvalue()
    assert KEY not in report and "SECRETKEY" not in report
    return code, report


def line(report: str, what: str) -> str:
    """The report line of one check (with its → fix line, if any)."""
    lines = report.splitlines()
    for i, l in enumerate(lines):
        if l[:1] in "✓!✗·" and (l[2:].startswith(what + " ") or l[2:].rstrip() == what):
            nxt = lines[i + 1] if i + 1 < len(lines) and "→" in lines[i + 1] else ""
            return l + "\n" + nxt
    raise AssertionError(f"no {what!r} line in:\n{report}")


async def test_reachable_and_all_well(scripted_model, scripted_config):
    scripted_model.set_script(text("ready"), tool_calls(call("run_code", {"code": "print(6 * 7)"})))
    code, report = await doctor(scripted_config)
    assert code == 0, report
    assert line(report, "reachable").startswith("✓") and "2 models" in report
    assert line(report, "key").startswith("✓ key        accepted")
    assert line(report, "model").startswith("✓") and "'scripted-model' is served" in report
    assert line(report, "streaming").startswith("✓") and "'ready'" in report
    assert line(report, "usage").startswith("✓")
    assert line(report, "tools").startswith("✓ tools      supported: the model called run_code")
    assert "All is well." in report
    chat = scripted_model.requests
    assert "tools" not in chat[0] and chat[1]["tools"][0]["function"]["name"] == "run_code"


async def test_wrong_key(scripted_model, scripted_config):
    scripted_model.set_quirks(api_key="sk-the-right-one-xyz")  # and it echoes the wrong key back
    code, report = await doctor(scripted_config)
    assert code == 1
    assert line(report, "reachable").startswith("✓")
    key = line(report, "key")
    assert key.startswith("✗") and "refused" in key and "OPENAI_API_KEY" in key
    assert "streaming" not in report  # no point going on
    assert "api key    set (not shown)" in report


async def test_wrong_model_lists_the_models(scripted_model, scripted_config):
    scripted_config.model = "gpt-5-turbo-nonexistent"
    code, report = await doctor(scripted_config)
    assert code == 1
    model = line(report, "model")
    assert model.startswith("✗") and "'gpt-5-turbo-nonexistent' is not served" in model
    assert "Available: scripted-model, scripted-large" in model
    assert "c.CodeInterp.model = 'scripted-model'" in model
    assert scripted_model.requests == []  # decided from /models, no chat request wasted


async def test_wrong_model_without_models_route(scripted_model, scripted_config):
    # Ollama-style: /models missing, the chat request 404s with the model's name
    scripted_model.set_quirks(models_endpoint=False)
    scripted_config.model = "llama9"
    code, report = await doctor(scripted_config)
    assert code == 1
    assert "no /models list" in line(report, "reachable")
    assert line(report, "model").startswith("✗") and "'llama9' is not available" in report


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_dead_port_through_the_cli(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI", "CODEINTERP"))}
    env["JUPYTER_CONFIG_DIR"] = str(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "jupyterlab_codeinterp.cli", "doctor", "--base-url",
         f"http://127.0.0.1:{port}/v1", "--model", "m", "--api-key", KEY],
        capture_output=True, text=True, env=env, timeout=60)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    reach = line(proc.stdout, "reachable")
    assert reach.startswith("✗") and "connection refused" in reach
    assert f"127.0.0.1:{port}" in reach and "base_url" in reach
    assert KEY not in proc.stdout + proc.stderr


async def test_dead_port_suggests_a_running_local_server(scripted_model, scripted_config,
                                                         monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    scripted_config.api_key = ""
    scripted_config.base_url = f"http://127.0.0.1:{free_port()}/v1"
    scripted_config.local_server_ports = {"ollama": scripted_model.port}
    code, report = await doctor(scripted_config)
    assert code == 1
    found = line(report, "found")
    assert f"Ollama running at http://127.0.0.1:{scripted_model.port}/v1" in found
    assert "c.CodeInterp.preset = 'ollama'" in found and "'scripted-model'" in found


async def test_endpoint_rejecting_tools(scripted_model, scripted_config):
    scripted_model.set_quirks(reject_tools="llamacpp")
    scripted_model.set_script(text("ready"))
    code, report = await doctor(scripted_config)
    assert code == 0, report  # auto protocol: the agent works, with code blocks
    tools = line(report, "tools")
    assert tools.startswith("! tools      not supported → protocol codeblocks will be used")
    assert "Works (see the notes marked !)" in report


async def test_tools_rejected_when_protocol_forces_tools(scripted_model, scripted_config):
    scripted_config.protocol = "tools"
    scripted_model.set_quirks(reject_tools="vllm")
    scripted_model.set_script(text("ready"))
    code, report = await doctor(scripted_config)
    assert code == 1
    assert "protocol = 'auto' or 'codeblocks'" in line(report, "tools")


async def test_tool_call_printed_as_text_and_no_usage(scripted_model, scripted_config):
    scripted_model.set_quirks(stream_usage=False)
    scripted_model.set_script(
        text("ready"),
        text('```json\n{"name": "run_code", "arguments": {"code": "print(6 * 7)"}}\n```'))
    code, report = await doctor(scripted_config)
    assert code == 0, report
    assert line(report, "usage").startswith("! usage") and "estimated" in report
    assert "prints calls as text" in line(report, "tools")


async def test_server_error_on_chat_fails(scripted_model, scripted_config):
    scripted_model.set_script(error(500, "model crashed", type="server_error"))
    code, report = await doctor(scripted_config)
    assert code == 1
    assert line(report, "streaming").startswith("✗") and "500" in report
