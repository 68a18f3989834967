"""Provider presets and local-server discovery: the request each preset makes (URL path,
auth and extra headers, placeholder key) against the scripted server, the preset table as
``GET codeinterp/config`` shows it, and discovery on loopback ports."""

from __future__ import annotations

import json
import socket
import threading

import pytest


from scripted_model import ScriptedModelServer, text

from jupyterlab_codeinterp.config import CodeInterp
from jupyterlab_codeinterp.llm.client import PLACEHOLDER_KEY, ModelClient
from jupyterlab_codeinterp.llm.discovery import (
    cached_discovery, default_ports, discover_local_servers, forget_discovery_cache,
)
from jupyterlab_codeinterp.llm.presets import PRESETS, get_preset, preset_for_url, public_presets
from jupyterlab_codeinterp.llm.types import ProviderError

MSGS = [{"role": "user", "content": "hi"}]
KEY = "sk-test-SECRETKEY-0123456789"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "CODEINTERP_MODEL"):
        monkeypatch.delenv(var, raising=False)
    forget_discovery_cache()
    yield
    forget_discovery_cache()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------- the table


def test_every_preset_is_there_with_its_defaults():
    assert list(PRESETS) == ["openai", "azure", "ollama", "vllm", "llamacpp", "lmstudio",
                             "openrouter"]
    assert default_ports() == {"ollama": 11434, "vllm": 8000, "llamacpp": 8080, "lmstudio": 1234}
    expected = {"openai": "https://api.openai.com/v1", "ollama": "http://localhost:11434/v1",
                "vllm": "http://localhost:8000/v1", "llamacpp": "http://localhost:8080/v1",
                "lmstudio": "http://localhost:1234/v1",
                "openrouter": "https://openrouter.ai/api/v1"}
    for name, url in expected.items():
        assert ModelClient(CodeInterp(preset=name)).base_url == url
    assert get_preset(" Ollama ") is PRESETS["ollama"] and get_preset("nope") is None
    # keys: hosted providers need one, local servers don't
    assert {p.name for p in PRESETS.values() if p.needs_key} == {"openai", "azure", "openrouter"}


def test_public_presets_shape_is_json_and_keyless():
    data = public_presets()
    json.dumps(data)
    assert [p["name"] for p in data] == list(PRESETS)
    for p in data:
        assert set(p) >= {"name", "label", "base_url", "needs_key", "local", "default_model",
                          "port", "fields", "headers", "start_hint"}
    azure = next(p for p in data if p["name"] == "azure")
    assert azure["fields"] == ["azure_deployment", "azure_api_version"]
    router = next(p for p in data if p["name"] == "openrouter")
    assert router["headers"] == ["HTTP-Referer", "X-Title"]


def test_preset_for_url():
    assert preset_for_url("https://myres.openai.azure.com").name == "azure"
    assert preset_for_url("http://127.0.0.1:11434/v1").name == "ollama"
    assert preset_for_url("http://localhost:1234/v1").name == "lmstudio"
    assert preset_for_url("https://openrouter.ai/api/v1").name == "openrouter"
    assert preset_for_url("http://10.0.0.5:8000/v1") is None  # only loopback guesses by port


# ---------------------------------------------------------------------------- request shapes


async def _one_request(server: ScriptedModelServer, cfg: CodeInterp) -> dict:
    server.set_script(text("hello"))
    async with ModelClient(cfg) as client:
        assert (await client.stream(MSGS)).text == "hello"
    entry = server.log[-1]
    entry["headers"] = {k.lower(): v for k, v in entry["headers"].items()}
    return entry


async def test_openai_preset_request(scripted_model):
    cfg = CodeInterp(preset="openai", base_url=scripted_model.base_url, api_key=KEY,
                     model="scripted-model")
    entry = await _one_request(scripted_model, cfg)
    assert entry["method"] == "POST" and entry["path"] == "/v1/chat/completions"
    assert entry["headers"]["authorization"] == f"Bearer {KEY}"
    assert "api-key" not in entry["headers"] and "x-title" not in entry["headers"]
    assert entry["body"]["model"] == "scripted-model"


async def test_azure_preset_request(scripted_model):
    scripted_model.set_quirks(api_key=KEY)
    cfg = CodeInterp(preset="azure", base_url=scripted_model.url, api_key=KEY, model="gpt-4o",
                     azure_deployment="prod-gpt4o", azure_api_version="2024-10-21")
    entry = await _one_request(scripted_model, cfg)
    assert entry["path"] == "/openai/deployments/prod-gpt4o/chat/completions"
    assert entry["query"] == "api-version=2024-10-21"
    assert entry["headers"]["api-key"] == KEY
    assert "authorization" not in entry["headers"]
    # the deployment defaults to the model name
    cfg = CodeInterp(preset="azure", base_url=scripted_model.url, api_key=KEY, model="gpt-4o")
    entry = await _one_request(scripted_model, cfg)
    assert entry["path"] == "/openai/deployments/gpt-4o/chat/completions"


@pytest.mark.parametrize("preset", ["ollama", "vllm", "llamacpp", "lmstudio"])
async def test_keyless_local_preset_request(scripted_model, preset):
    cfg = CodeInterp(preset=preset, base_url=scripted_model.base_url, model="scripted-model")
    assert cfg.api_key == ""
    entry = await _one_request(scripted_model, cfg)
    assert entry["path"] == "/v1/chat/completions"
    assert entry["headers"]["authorization"] == f"Bearer {PLACEHOLDER_KEY}"
    assert "x-title" not in entry["headers"]


@pytest.mark.parametrize("preset", ["ollama", "vllm", "llamacpp", "lmstudio"])
async def test_local_preset_not_running_says_how_to_start_it(preset):
    cfg = CodeInterp(preset=preset, base_url=f"http://127.0.0.1:{free_port()}/v1", model="m",
                     connect_timeout=1.0, max_retries=0)
    async with ModelClient(cfg) as client:
        with pytest.raises(ProviderError) as info:
            await client.stream(MSGS)
    assert info.value.kind == "connection"
    assert PRESETS[preset].start_hint in info.value.hint


async def test_openrouter_preset_request(scripted_model):
    scripted_model.set_quirks(models=["openai/gpt-4.1-mini"])
    cfg = CodeInterp(preset="openrouter", base_url=scripted_model.base_url, api_key=KEY,
                     model="openai/gpt-4.1-mini", extra_headers={"X-Team": "data"})
    entry = await _one_request(scripted_model, cfg)
    h = entry["headers"]
    assert entry["path"] == "/v1/chat/completions"
    assert h["authorization"] == f"Bearer {KEY}"
    assert h["http-referer"] == "https://github.com/jupyterlab-codeinterp"
    assert h["x-title"] == "jupyterlab-codeinterp"
    assert h["x-team"] == "data"  # extra_headers add to the preset's
    assert entry["body"]["model"] == "openai/gpt-4.1-mini"


async def test_models_list_comes_from_the_endpoint(scripted_model):
    scripted_model.set_quirks(models=["qwen2.5-coder:1.5b", "llama3.2"])
    cfg = CodeInterp(preset="ollama", base_url=scripted_model.base_url)
    async with ModelClient(cfg) as client:
        assert await client.list_models() == ["qwen2.5-coder:1.5b", "llama3.2"]
    assert scripted_model.log[-1]["path"] == "/v1/models"


# ---------------------------------------------------------------------------- discovery


class _Silent:
    """A port that accepts connections and never answers (a wedged server)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        try:
            while True:
                self.conns.append(self.sock.accept()[0])
        except OSError:
            pass

    def close(self) -> None:
        for c in self.conns:
            c.close()
        self.sock.close()


async def test_discovery_finds_a_running_server_and_its_models(scripted_model):
    scripted_model.set_quirks(models=["qwen2.5-coder:1.5b", "llama3.2"])
    silent = _Silent()
    try:
        found = await discover_local_servers({"ollama": scripted_model.port,
                                              "lmstudio": free_port(),  # nothing listening
                                              "vllm": silent.port})      # never answers
    finally:
        silent.close()
    assert found == [{"preset": "ollama", "label": "Ollama",
                      "base_url": f"http://127.0.0.1:{scripted_model.port}/v1",
                      "models": ["qwen2.5-coder:1.5b", "llama3.2"]}]
    # keyless: the probe sends the placeholder, never a configured key
    assert scripted_model.log[-1]["headers"]["Authorization"] == f"Bearer {PLACEHOLDER_KEY}"


async def test_discovery_ignores_servers_that_are_not_openai_compatible(scripted_model):
    scripted_model.set_quirks(models_endpoint=False)  # 404 on /models
    assert await discover_local_servers({"llamacpp": scripted_model.port}) == []
    assert await discover_local_servers({}) == []


async def test_discovery_is_cached(scripted_model):
    ports = {"llamacpp": scripted_model.port}
    first = await cached_discovery(ports)
    second = await cached_discovery(ports)
    assert first == second and len(first) == 1
    assert sum(1 for e in scripted_model.log if e["path"] == "/v1/models") == 1
    forget_discovery_cache()
    await cached_discovery(ports)
    assert sum(1 for e in scripted_model.log if e["path"] == "/v1/models") == 2


# ---------------------------------------------------------------------------- GET config


def _start_keyless_jupyter(tmp, model_url: str, extra: list[str]):
    """A real jupyter server with our extension and NO api key (server_fixtures always sets one)."""
    import os
    import subprocess
    import sys
    import time

    from server_fixtures import TOKEN, JupyterServer

    root, runtime, history = (os.path.join(tmp, d) for d in ("root", "runtime", "history"))
    for d in (root, runtime, history):
        os.makedirs(d, exist_ok=True)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI", "CODEINTERP"))}
    env.update(JUPYTER_CONFIG_DIR=os.path.join(tmp, "config"), JUPYTER_RUNTIME_DIR=runtime,
               JUPYTER_PLATFORM_DIRS="1")
    log_path = os.path.join(tmp, "server.log")
    args = [sys.executable, "-m", "jupyter_server", "--no-browser", f"--port={port}",
            "--ip=127.0.0.1", f"--ServerApp.token={TOKEN}", f"--ServerApp.root_dir={root}",
            "--ServerApp.jpserver_extensions={'jupyterlab_codeinterp': True}",
            f"--CodeInterp.base_url={model_url}", "--CodeInterp.model=scripted-model",
            f"--CodeInterp.history_dir={history}", *extra]
    if os.geteuid() == 0:
        args.append("--allow-root")
    proc = subprocess.Popen(args, stdout=open(log_path, "w"), stderr=subprocess.STDOUT, env=env,
                            cwd=root)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, open(log_path).read()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            time.sleep(0.2)
    return JupyterServer(f"http://127.0.0.1:{port}/", TOKEN, root, runtime, proc, history, log_path)


async def test_get_config_offers_presets_and_local_servers(tmp_path, scripted_model):
    from server_fixtures import stop_jupyter_server

    scripted_model.set_quirks(models=["qwen2.5-coder:1.5b"])
    ports = {"ollama": scripted_model.port, "lmstudio": free_port()}
    server = _start_keyless_jupyter(str(tmp_path), scripted_model.base_url,
                                    [f"--CodeInterp.local_server_ports={ports!r}"])
    try:
        resp = await server.fetch("codeinterp/config")
        assert resp.code == 200, open(server.log_path).read()[-3000:]
        data = json.loads(resp.body)
    finally:
        stop_jupyter_server(server)
    assert data["has_api_key"] is False
    assert [p["name"] for p in data["presets"]] == list(PRESETS)
    assert data["local_servers"] == [{
        "preset": "ollama", "label": "Ollama",
        "base_url": f"http://127.0.0.1:{scripted_model.port}/v1",
        "models": ["qwen2.5-coder:1.5b"]}]
    assert data["models"] == ["qwen2.5-coder:1.5b"]  # the configured endpoint's /models
