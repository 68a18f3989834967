"""The ``CodeInterp`` traitlets configurable: every server-side setting in one place.

Precedence (lowest to highest): built-in defaults, the environment
(``OPENAI_API_KEY``, ``OPENAI_BASE_URL``, ``CODEINTERP_MODEL``), traitlets
config files (``c.CodeInterp.model = ...``), then per-user settings sent by the
UI for the options a user may change (see :meth:`CodeInterp.public_config`).
The API key never leaves the server.
"""

from __future__ import annotations

import os
from typing import Any

from traitlets import Bool, Dict, Enum, Float, Int, List, Unicode, default
from traitlets.config import Configurable

DEFAULT_MODEL = "gpt-4.1-mini"


class CodeInterp(Configurable):
    """Configuration of jupyterlab-codeinterp (``c.CodeInterp.<name>``)."""

    # ---- provider -----------------------------------------------------------
    preset = Unicode(
        "",
        help="Provider preset: openai, azure, ollama, vllm, llamacpp, lmstudio, openrouter, "
        "or empty for a plain OpenAI-compatible endpoint given by base_url.",
    ).tag(config=True)
    base_url = Unicode(
        help="Base URL of the OpenAI-compatible endpoint (default: $OPENAI_BASE_URL, "
        "else the preset's URL, else the OpenAI API)."
    ).tag(config=True)
    api_key = Unicode(
        help="API key (default: $OPENAI_API_KEY). Stays on the server; never sent to the browser."
    ).tag(config=True)
    model = Unicode(help="Model name (default: $CODEINTERP_MODEL, else gpt-4.1-mini).").tag(
        config=True
    )
    models = List(
        Unicode(),
        default_value=[],
        help="Models offered in the model picker; empty means ask the endpoint's /models.",
    ).tag(config=True)
    extra_headers = Dict(
        key_trait=Unicode(), value_trait=Unicode(), default_value={},
        help="Extra HTTP headers sent with every model request.",
    ).tag(config=True)
    azure_api_version = Unicode("2024-10-21", help="api-version for Azure OpenAI.").tag(config=True)
    azure_deployment = Unicode("", help="Azure OpenAI deployment name (defaults to model).").tag(
        config=True
    )
    request_timeout = Float(120.0, help="Seconds before a model request times out.").tag(config=True)
    connect_timeout = Float(10.0, help="Seconds to wait for a TCP connection to the endpoint.").tag(
        config=True
    )
    max_retries = Int(3, help="Retries on 429 and 5xx answers (Retry-After is honoured).").tag(
        config=True
    )
    max_retry_wait = Float(30.0, help="Longest single wait between retries, in seconds.").tag(
        config=True
    )
    http_backend = Enum(
        ["auto", "aiohttp", "httpx"],
        default_value="auto",
        help="The openai SDK's HTTP transport for model calls: aiohttp (the SDK's option for "
        "many concurrent streams; about half the CPU per streamed token) or httpx (the SDK's "
        "default). auto: aiohttp when installed.",
    ).tag(config=True)
    model_io_thread = Bool(
        False,
        help="Read model streams on a separate event-loop thread instead of jupyter_server's "
        "own loop. Pays with dozens of chats streaming at once on one server (200 chats: "
        "p99 loop lag ~100 ms on the loop, 8-30 ms with the thread); with a handful it makes "
        "no difference to the loop's p99 and costs 15-20% more CPU per turn (bench/README.md).",
    ).tag(config=True)
    gil_switch_interval = Float(
        0.0,
        help="With model_io_thread on, set Python's thread switch interval (seconds; Python's "
        "default is 0.005) for the whole server process, so its loop waits less for the GIL "
        "while the model thread works (e.g. 0.001 for a server streaming 200 chats at once). "
        "Applied only if nothing else changed the interval. 0 (default): leave it alone.",
    ).tag(config=True)
    protocol = Enum(
        ["auto", "tools", "codeblocks"],
        default_value="auto",
        help="How the model asks to run code: OpenAI tool calls, fenced code blocks, or auto "
        "(tools, switching to code blocks for the endpoint when it rejects tools or its model writes "
        "tool calls as text, as models behind servers whose chat template drops tools do).",
    ).tag(config=True)
    prompt_style = Enum(
        ["full", "compact"],
        default_value="full",
        help="System prompt: full, or compact (~100 tokens, no examples) for small local models "
        "with little context or slow prompt processing.",
    ).tag(config=True)
    temperature = Float(0.2, allow_none=True, help="Sampling temperature (None: don't send).").tag(
        config=True
    )
    max_tokens = Int(4096, help="Upper bound on tokens in one model answer.").tag(config=True)
    reasoning_model = Bool(
        None,
        allow_none=True,
        help="Send reasoning-model parameters (max_completion_tokens, no temperature). "
        "None: guess from the model name (o1, o3, o4, gpt-5...).",
    ).tag(config=True)
    prices = Dict(
        default_value={},
        help='Prices in USD per million tokens by model, over the built-in table of well-known '
        'models (prices change: override here): {"gpt-4.1-mini": {"input": 0.4, "output": 1.6}}.',
    ).tag(config=True)
    builtin_prices = Bool(
        True, help="Fall back to the built-in price table (llm/prices.py) for models not in prices."
    ).tag(config=True)
    discover_local_servers = Bool(
        True,
        help="With no API key configured, look for model servers on this machine (loopback only, "
        "their default ports, /v1/models with a short timeout) and offer them in the settings.",
    ).tag(config=True)
    local_server_ports = Dict(
        key_trait=Unicode(), value_trait=Int(), default_value={},
        help='Ports probed by the local-server discovery, by preset: {"ollama": 11434, '
        '"lmstudio": 1234, "vllm": 8000, "llamacpp": 8080}. Empty: those defaults.',
    ).tag(config=True)

    # ---- agent --------------------------------------------------------------
    max_repairs = Int(3, help="Automatic repairs per failed generated cell.").tag(config=True)
    max_steps = Int(12, help="Model calls per turn before the agent stops and reports.").tag(
        config=True
    )
    cell_timeout = Float(
        600.0, help="Seconds a generated cell may run before it is interrupted."
    ).tag(config=True)
    auto_run = Bool(True, help="Run generated cells without asking (destructive code always asks).").tag(
        config=True
    )
    vision = Bool(False, help="Send images produced by cells to vision-capable models.").tag(
        config=True
    )

    # ---- context ------------------------------------------------------------
    context_token_budget = Int(
        6000, help="Tokens of context (variables, files, cells) sent with each turn."
    ).tag(config=True)
    probe_timeout = Float(
        2.0, help="Seconds to wait for the kernel probe before going on without variables."
    ).tag(config=True)
    probe_max_bytes = Int(16000, help="Upper bound on the kernel probe's output, in bytes.").tag(
        config=True
    )

    # ---- storage ------------------------------------------------------------
    history_dir = Unicode(
        help="Where chat histories are kept (default: <jupyter data dir>/codeinterp/chats)."
    ).tag(config=True)
    history_scope = Unicode(
        "",
        help="Names the storage notebooks live in, for keying chat histories, when the contents "
        "manager is not a file system (e.g. 's3://bucket/prefix'): servers with the same scope "
        "share the chats of a notebook path. Empty: a file-system manager keys chats by the "
        "notebook's absolute path; any other by its class, root_dir and the server's root folder. "
        "Setting it also replaces the absolute path for file-system managers.",
    ).tag(config=True)

    @default("base_url")
    def _default_base_url(self) -> str:
        return os.environ.get("OPENAI_BASE_URL", "")

    @default("api_key")
    def _default_api_key(self) -> str:
        return os.environ.get("OPENAI_API_KEY", "")

    @default("model")
    def _default_model(self) -> str:
        return os.environ.get("CODEINTERP_MODEL", "")

    @default("history_dir")
    def _default_history_dir(self) -> str:
        from jupyter_core.paths import jupyter_data_dir

        return os.path.join(jupyter_data_dir(), "codeinterp", "chats")

    def effective_model(self) -> str:
        return self.model or DEFAULT_MODEL

    def public_config(self) -> dict[str, Any]:
        """What the browser may see: everything but secrets."""
        return {
            "preset": self.preset,
            "base_url": self.base_url,
            "model": self.effective_model(),
            "model_configured": bool(self.model or self.api_key or self.base_url),
            "models": list(self.models),
            "protocol": self.protocol,
            "max_repairs": self.max_repairs,
            "auto_run": self.auto_run,
            "vision": self.vision,
            "context_token_budget": self.context_token_budget,
            "has_api_key": bool(self.api_key),
        }
