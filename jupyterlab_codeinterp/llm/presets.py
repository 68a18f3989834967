"""Provider presets: where each kind of OpenAI-compatible server listens, and how to talk to it.

Kept as plain data so the settings UI (``GET codeinterp/config`` → ``presets``),
``jupyter codeinterp doctor`` and the local-server discovery all read the same table.

What a preset decides (see :class:`~jupyterlab_codeinterp.llm.client.ModelClient`):

* the base URL when ``c.CodeInterp.base_url`` is empty;
* whether a key is needed — keyless local servers get a placeholder key, since the SDK
  insists on one and sending ``Authorization: Bearer`` with nothing makes some proxies choke;
* extra headers (OpenRouter's ``HTTP-Referer``/``X-Title`` attribution);
* for Azure, the request shape: ``/openai/deployments/{deployment}/chat/completions
  ?api-version=…`` with an ``api-key`` header instead of a bearer token;
* the protocol to start with: local servers that are known to need a flag for tool calling
  (llama.cpp without ``--jinja``, vLLM without ``--enable-auto-tool-choice``) still start
  with ``auto``: the first rejection switches to code blocks, once per process.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional
from urllib.parse import urlsplit

OPENAI_URL = "https://api.openai.com/v1"


@dataclass(frozen=True)
class Preset:
    name: str
    label: str
    base_url: str
    needs_key: bool
    """False for local servers: they get a placeholder key (the SDK insists on one)."""
    local: bool = False
    default_headers: dict = field(default_factory=dict)
    start_hint: str = ""
    """How to start the server, shown when nothing listens at its URL."""
    default_model: str = ""
    """A sensible model to suggest when none is configured ('' = take the first of /models)."""
    port: Optional[int] = None
    """Default port on loopback, for discovery of running local servers."""
    fields: tuple = ()
    """Extra settings this preset needs besides base_url/api_key/model (for the settings UI)."""
    docs: str = ""

    def public(self) -> dict[str, Any]:
        """The shape the settings UI reads (``GET codeinterp/config`` → ``presets``)."""
        return {
            "name": self.name,
            "label": self.label,
            "base_url": self.base_url,
            "needs_key": self.needs_key,
            "local": self.local,
            "default_model": self.default_model,
            "port": self.port,
            "fields": list(self.fields),
            "headers": sorted(self.default_headers),
            "start_hint": self.start_hint,
            "docs": self.docs,
        }


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in [
        Preset("openai", "OpenAI", OPENAI_URL, True, default_model="gpt-4.1-mini",
               docs="https://platform.openai.com/docs/models"),
        Preset("azure", "Azure OpenAI", "", True,
               start_hint="set c.CodeInterp.base_url to https://<resource>.openai.azure.com and "
               "c.CodeInterp.azure_deployment to the deployment name",
               fields=("azure_deployment", "azure_api_version"),
               docs="https://learn.microsoft.com/azure/ai-services/openai/reference"),
        Preset("ollama", "Ollama", "http://localhost:11434/v1", False, local=True, port=11434,
               default_model="qwen2.5-coder",
               start_hint="start it with `ollama serve` and pull a model (`ollama pull qwen2.5-coder`)",
               docs="https://github.com/ollama/ollama/blob/main/docs/openai.md"),
        Preset("vllm", "vLLM", "http://localhost:8000/v1", False, local=True, port=8000,
               start_hint="start it with `vllm serve MODEL --enable-auto-tool-choice "
               "--tool-call-parser hermes` (without the flags, code blocks are used)",
               docs="https://docs.vllm.ai/en/latest/serving/openai_compatible_server.html"),
        Preset("llamacpp", "llama.cpp server", "http://localhost:8080/v1", False, local=True,
               port=8080,
               start_hint="start it with `llama-server -m MODEL.gguf --jinja` or "
               "`python -m llama_cpp.server --model MODEL.gguf`",
               docs="https://github.com/ggml-org/llama.cpp/tree/master/tools/server"),
        Preset("lmstudio", "LM Studio", "http://localhost:1234/v1", False, local=True, port=1234,
               start_hint="start LM Studio's local server (Developer tab, or `lms server start`)",
               docs="https://lmstudio.ai/docs/app/api/endpoints/openai"),
        Preset("openrouter", "OpenRouter", "https://openrouter.ai/api/v1", True,
               default_model="openai/gpt-4.1-mini",
               default_headers={"HTTP-Referer": "https://github.com/jupyterlab-codeinterp",
                                "X-Title": "jupyterlab-codeinterp"},
               docs="https://openrouter.ai/docs/quickstart"),
    ]
}

LOCAL_PRESETS = [p for p in PRESETS.values() if p.local and p.port]


def get_preset(name: str) -> Preset | None:
    return PRESETS.get((name or "").strip().lower())


def preset_for_url(base_url: str) -> Preset | None:
    """The preset a URL most likely belongs to (by host, or by a local default port)."""
    try:
        parts = urlsplit(base_url)
        host, port = (parts.hostname or "").lower(), parts.port
    except ValueError:
        return None
    if host.endswith("openai.azure.com") or host.endswith("cognitiveservices.azure.com"):
        return PRESETS["azure"]
    if host == "api.openai.com":
        return PRESETS["openai"]
    if host == "openrouter.ai":
        return PRESETS["openrouter"]
    if host in ("localhost", "127.0.0.1", "::1", "0.0.0.0") and port:
        for p in LOCAL_PRESETS:
            if p.port == port:
                return p
    return None


def public_presets() -> list[dict[str, Any]]:
    return [p.public() for p in PRESETS.values()]
