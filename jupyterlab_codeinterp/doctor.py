"""``jupyter codeinterp doctor``: check the configured model endpoint and say what to change.

It runs the same client the chat uses (same base URL, key, preset, headers, quirks) and
checks, in order — stopping at the first failure that makes the later checks pointless:

1. **reachable** — ``GET /models`` answers (connection refused, DNS, TLS and timeouts are
   told apart);
2. **key** — not refused (401/403); the key itself is never printed;
3. **model** — the configured model is in the endpoint's model list (when it has one);
4. **streaming** — a tiny streamed chat completion arrives, with or without usage;
5. **tools** — whether the endpoint accepts ``tools`` and the model calls one (or prints the
   call as text, which we recognise); a rejection means the code-block protocol is used.

Exit code 0 only when every check passed (warnings, such as "usage will be estimated" or
"tools not supported → code blocks", are fine); 1 otherwise.
"""

from __future__ import annotations

import sys
import time
from typing import Optional, TextIO

from .config import CodeInterp

OK, WARN, FAIL, INFO = "✓", "!", "✗", "·"


class _Report:
    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.failed = False
        self.warned = False

    def line(self, mark: str, what: str, text: str, fix: str = "") -> None:
        if mark == FAIL:
            self.failed = True
        elif mark == WARN:
            self.warned = True
        self.out.write(f"{mark} {what:<10} {text}\n")
        if fix:
            self.out.write(f"  {'':<10} → {fix}\n")
        self.out.flush()

    def raw(self, text: str = "") -> None:
        self.out.write(text + "\n")
        self.out.flush()


def _copy_config(cfg: CodeInterp) -> CodeInterp:
    """A private copy (the checks lower max_tokens and retries)."""
    c = CodeInterp()
    for name in cfg.trait_names(config=True):
        setattr(c, name, getattr(cfg, name))
    return c


def _show_models(models: list[str], limit: int = 12) -> str:
    shown = ", ".join(models[:limit])
    return shown + (f" and {len(models) - limit} more" if len(models) > limit else "")


async def _local_servers_note(report: _Report, cfg: CodeInterp) -> None:
    from .llm.discovery import discover_local_servers

    found = await discover_local_servers(dict(cfg.local_server_ports) or None)
    for s in found:
        models = f" (models: {_show_models(s['models'], 4)})" if s["models"] else ""
        report.line(INFO, "found", f"{s['label']} running at {s['base_url']}{models}",
                    f"c.CodeInterp.preset = {s['preset']!r}" +
                    (f" and c.CodeInterp.model = {s['models'][0]!r}" if s["models"] else ""))


async def run_doctor(cfg: CodeInterp, *, out: Optional[TextIO] = None) -> int:
    """Print the report to ``out`` (stdout); return the exit code (0: all is well)."""
    from .agent.tools import TOOL_SPECS, TOOL_NAMES
    from .agent.textual_calls import parse_textual_tool_calls
    from .llm.client import ModelClient, forget_endpoint_cache
    from .llm.types import ProviderError

    report = _Report(out or sys.stdout)
    cfg = _copy_config(cfg)
    cfg.max_retries = 0
    forget_endpoint_cache()  # judge the endpoint afresh, not by what this process learned
    client = ModelClient(cfg)
    preset = client.preset
    where = client._where

    report.raw("jupyter codeinterp doctor")
    report.raw(f"  endpoint   {where}" + (f"  (preset: {preset.name})" if preset else ""))
    if client.azure:
        report.raw(f"  azure      deployment {client.deployment!r}, api-version "
                   f"{cfg.azure_api_version}")
    report.raw(f"  model      {client.model}")
    if client.has_key:
        report.raw("  api key    set (not shown)")
    else:
        keyless = preset is not None and not preset.needs_key
        report.raw("  api key    not set" + (" (a placeholder is sent; local servers ignore it)"
                                             if keyless or not preset else ""))
    report.raw(f"  protocol   {cfg.protocol}")
    report.raw()

    try:
        # 1-3: reachable, key, model -------------------------------------------------
        models: Optional[list[str]] = None
        started = time.monotonic()
        try:
            models = await client.list_models(timeout=max(2.0, min(cfg.request_timeout, 15.0)))
            took = time.monotonic() - started
            if client.azure:
                report.line(INFO, "reachable", "Azure lists no deployments to API keys; the chat "
                            "check below tells whether the endpoint answers")
                models = None
            else:
                report.line(OK, "reachable", f"{where}/models answered in {took:.2f} s "
                            f"({len(models)} model{'s' if len(models) != 1 else ''})")
        except ProviderError as err:
            if err.kind in ("connection", "timeout"):
                report.line(FAIL, "reachable", err.message, err.hint)
                if not client.has_key and cfg.discover_local_servers:
                    await _local_servers_note(report, cfg)
                return 1
            if err.kind == "auth":
                report.line(OK, "reachable", f"{where} answered")
                report.line(FAIL, "key", err.message, err.hint)
                return 1
            if err.kind == "forbidden":
                report.line(OK, "reachable", f"{where} answered")
                report.line(FAIL, "key", err.message, err.hint)
                return 1
            # 404 and friends: no /models route; the chat check decides
            report.line(OK, "reachable", f"{where} answered, but has no /models list "
                        f"({err.status or err.kind}); the model is checked by a chat request")
        if models is not None:
            report.line(OK, "key", "accepted" if client.has_key else
                        "none needed (the placeholder was accepted)")
            if models and client.model not in models and client.deployment not in models:
                report.line(FAIL, "model", f"{client.model!r} is not served at {where}. "
                            f"Available: {_show_models(models)}",
                            f"set c.CodeInterp.model = {models[0]!r} (or --model, "
                            "$CODEINTERP_MODEL)" + (f"; or `ollama pull {client.model}`"
                                                   if preset and preset.name == "ollama" else ""))
                return 1
            if models:
                report.line(OK, "model", f"{client.model!r} is served")
            else:
                report.line(WARN, "model", "the endpoint lists no models; the chat check "
                            "below tells whether it serves this one")

        # 4: streaming -----------------------------------------------------------------
        chunks = 0

        def count(_text: str) -> None:
            nonlocal chunks
            chunks += 1

        cfg.max_tokens = 512 if client.is_reasoning() else 32
        client.max_tokens = cfg.max_tokens
        started = time.monotonic()
        try:
            reply = await client.stream(
                [{"role": "user", "content": "Reply with the single word: ready"}], on_text=count)
        except ProviderError as err:
            if err.kind == "empty_answer":
                report.line(WARN, "streaming", f"the stream worked but the model said nothing "
                            f"({err.message})", err.hint)
            else:
                what = {"auth": "key", "forbidden": "key", "model_not_found": "model"}.get(
                    err.kind, "streaming")
                hint = err.hint
                report.line(FAIL, what, err.message, hint)
                return 1
        else:
            took = time.monotonic() - started
            answer = " ".join(reply.text.split())[:60]
            report.line(OK, "streaming", f"{chunks} chunk{'s' if chunks != 1 else ''} in "
                        f"{took:.1f} s: {answer!r}")
            if reply.usage.estimated:
                report.line(WARN, "usage", "the endpoint streams no token usage; counts in the "
                            "chat are estimated")
            else:
                report.line(OK, "usage", f"reported by the endpoint ({reply.usage.prompt_tokens} "
                            f"in, {reply.usage.completion_tokens} out)")

        # 5: tools ---------------------------------------------------------------------
        if cfg.protocol == "codeblocks":
            report.line(INFO, "tools", "not checked: protocol is codeblocks (fenced code blocks, "
                        "no tool calls)")
        else:
            cfg.max_tokens = 1024 if client.is_reasoning() else 96
            client.max_tokens = cfg.max_tokens
            messages = [
                {"role": "system", "content": "You run Python code with the run_code tool."},
                {"role": "user", "content": "Call run_code with the code print(6 * 7)."}]
            try:
                reply = await client.stream(messages, tools=TOOL_SPECS)
            except ProviderError as err:
                if err.kind == "tools_unsupported":
                    if cfg.protocol == "auto":
                        said = err.message.split("(server said: ", 1)[-1].rstrip(".)")
                        report.line(WARN, "tools", "not supported → protocol codeblocks will be "
                                    f"used (server said: {said})",
                                    "nothing to do; or enable tool calling on the server "
                                    + (f"({preset.start_hint})" if preset and preset.start_hint
                                       else "") + " and restart")
                    else:
                        report.line(FAIL, "tools", f"not supported, but protocol is 'tools' "
                                    f"({err.message})", "set c.CodeInterp.protocol = 'auto' or "
                                    "'codeblocks'")
                elif err.kind == "empty_answer":
                    report.line(WARN, "tools", "accepted, but the model answered nothing",
                                "small local models may do better with protocol 'codeblocks'")
                else:
                    report.line(FAIL, "tools", err.message, err.hint)
            else:
                if reply.tool_calls:
                    report.line(OK, "tools", f"supported: the model called "
                                f"{reply.tool_calls[0].name}")
                elif parse_textual_tool_calls(reply.text, TOOL_NAMES):
                    report.line(OK, "tools", "accepted; the model prints calls as text (JSON), "
                                "which codeinterp recognises and runs")
                else:
                    report.line(WARN, "tools", "accepted, but the model did not call the tool "
                                "when asked", "if it ignores tools in chats too, set "
                                "c.CodeInterp.protocol = 'codeblocks'")
    finally:
        await client.close()
        forget_endpoint_cache()

    report.raw()
    if report.failed:
        report.raw("Some checks failed: see → above.")
        return 1
    report.raw("All is well." if not report.warned else "Works (see the notes marked !).")
    return 0
