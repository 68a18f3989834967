"""Provider presets: where each kind of OpenAI-compatible server listens by default.

Kept as plain data so the settings UI, ``jupyter codeinterp doctor`` and the local-server
discovery can all read the same table.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in [
        Preset("openai", "OpenAI", OPENAI_URL, True),
        Preset("azure", "Azure OpenAI", "", True,
               start_hint="set c.CodeInterp.base_url to https://<resource>.openai.azure.com and "
               "c.CodeInterp.azure_deployment to the deployment name"),
        Preset("ollama", "Ollama", "http://localhost:11434/v1", False, local=True,
               start_hint="start it with `ollama serve` and pull a model (`ollama pull qwen2.5-coder`)"),
        Preset("vllm", "vLLM", "http://localhost:8000/v1", False, local=True,
               start_hint="start it with `vllm serve MODEL`"),
        Preset("llamacpp", "llama.cpp server", "http://localhost:8080/v1", False, local=True,
               start_hint="start it with `llama-server -m MODEL.gguf --jinja` or "
               "`python -m llama_cpp.server --model MODEL.gguf`"),
        Preset("lmstudio", "LM Studio", "http://localhost:1234/v1", False, local=True,
               start_hint="start LM Studio's local server (Developer tab, or `lms server start`)"),
        Preset("openrouter", "OpenRouter", "https://openrouter.ai/api/v1", True,
               default_headers={"HTTP-Referer": "https://github.com/jupyterlab-codeinterp",
                                "X-Title": "jupyterlab-codeinterp"}),
    ]
}


def get_preset(name: str) -> Preset | None:
    return PRESETS.get((name or "").strip().lower())
