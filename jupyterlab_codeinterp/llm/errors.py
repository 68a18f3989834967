"""Provider failures in words a user can act on: which URL, which setting, never the key.

:class:`ErrorMapping` is the part of :class:`~.client.ModelClient` that turns the SDK's
status and connection errors (and empty answers) into :class:`ProviderError`; it reads the
client's ``model``, ``base_url``, ``_where``, ``_api_key``, ``preset``, timeouts and
``list_models``.  A 400 that only asks for a changed parameter becomes :class:`_Adapt`.
"""

from __future__ import annotations

import email.utils
import json
import re
import time
from typing import Any, Iterator, Optional, Union
from urllib.parse import urlsplit, urlunsplit

import openai

from .types import ModelReply, ProviderError

def _exception_chain(e: BaseException, *, limit: int, implicit: bool) -> Iterator[BaseException]:
    """``e`` and the exceptions behind it: ``__cause__``, and ``__context__`` too when
    ``implicit``; at most ``limit``, each once."""
    seen: set[int] = set()
    c: Optional[BaseException] = e
    while c is not None and id(c) not in seen and len(seen) < limit:
        seen.add(id(c))
        yield c
        c = c.__cause__ or (c.__context__ if implicit else None)



_TOOLS_REJECTED = re.compile(
    r"does not support tools|tools? (param(eter)?s? )?(is |are )?(not supported|unsupported)"
    r"|requires --jinja|enable-auto-tool-choice|tool[_ ]choice.*requires"
    r"|(tool|function)[ _-]?call(ing|s)? (is |are )?not (supported|enabled|available)"
    r"|(unsupported|unrecognized|unknown|unexpected)[^.]{0,40}\btools\b"
    r"|\btools\b[^.]{0,40}(not (supported|allowed|permitted)|unsupported|extra (field|input))",
    re.I,
)
_MODEL_MISSING = re.compile(
    r"model.{0,80}(not found|does not exist|doesn't exist|not exist|not available"
    r"|not a valid|no such|not loaded)|(unknown|invalid|no such) model|try pulling",
    re.I,
)
_REQUEST_INVALID = re.compile(
    r"validation errors? for|input should be|field required|extra inputs are not permitted"
    r"|[\"']loc[\"']\s*:|invalid_request_error", re.I)
"""A body saying the request itself is malformed (pydantic/FastAPI servers answer so, some
with a 500): the same request would fail again, so it is not retried."""
_PYDANTIC_URL = re.compile(r"\s*For further information visit \S+", re.I)
_SHOWN_CHARS = 300
_CONNECT_TIMEOUT = re.compile(r"connect(ion)?timeout|connection timeout to host")
_SECRET_PATTERNS = [
    re.compile(r"\b((?:sk|rk|pk)-)[A-Za-z0-9_\-]{6,}"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9_\-\.=:/+]{6,}"),
    re.compile(r"(?i)(api[-_ ]?key[\"'=:\s]+)[A-Za-z0-9_\-\.]{8,}"),
]


def _redact_secrets(text: str) -> str:
    for pat in _SECRET_PATTERNS:
        text = pat.sub(lambda m: m.group(1) + "***", text)
    return text



class _Adapt(Exception):
    """A 400 that tells us how to change the request (dropped parameter) and try again."""

    def __init__(self, quirk: str) -> None:
        self.quirk = quirk



def _redact_url(url: str) -> str:
    """The URL without credentials or query (both can hold keys)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))



class ErrorMapping:
    """Error mapping of :class:`~.client.ModelClient` (a mixin: it uses the client's state)."""

    model: str
    base_url: str
    max_tokens: int
    request_timeout: float
    connect_timeout: float
    requested_protocol: str
    _where: str
    _api_key: Optional[str]
    preset: Any

    @property
    def has_key(self) -> bool:
        return bool(self._api_key)

    async def list_models(self, *, timeout: Optional[float] = None) -> list[str]:  # pragma: no cover
        raise NotImplementedError

    def _empty_answer(self, reply: ModelReply) -> ProviderError:
        if reply.finish_reason == "length":
            msg = (f"The model {self.model} used up max_tokens={self.max_tokens} before writing "
                   "any answer" + (" (it spent them reasoning)." if reply.reasoning else "."))
            hint = "Raise c.CodeInterp.max_tokens."
        elif reply.finish_reason == "content_filter":
            msg = f"The provider's content filter withheld the answer of {self.model}."
            hint = "Rephrase the request."
        else:
            msg = f"The model {self.model} returned an empty answer."
            hint = "Ask again; small local models sometimes stop at once."
        err = ProviderError("empty_answer", msg, hint=hint, retryable=True)
        err.reply = reply  # type: ignore[attr-defined]
        return err

    def _redact(self, text: str) -> str:
        """Remove the configured key and anything shaped like a key or bearer token."""
        if not text:
            return ""
        if self._api_key and len(self._api_key) >= 4:
            text = text.replace(self._api_key, "***")
        return _redact_secrets(text)

    @staticmethod
    def _server_message(body: Any) -> str:
        if isinstance(body, dict):
            inner = body.get("error", body)
            if isinstance(inner, dict):
                msg = inner.get("message") or inner.get("detail") or ""
                return msg if isinstance(msg, str) else json.dumps(msg)
            if isinstance(inner, str):
                return inner
            msg = body.get("message") or body.get("detail")
            if isinstance(msg, str):
                return msg
            return ""
        if isinstance(body, str):
            return body.strip()[:500]
        return ""

    @staticmethod
    def _cause(e: BaseException) -> str:
        """The root of ``e``'s explicit ``raise ... from`` chain, in words."""
        *_, root = _exception_chain(e, limit=6, implicit=False)
        return f"{type(root).__name__}: {root}" if root is not e else str(e)

    @staticmethod
    def _retry_after(headers: Any) -> Optional[float]:
        if headers is None:
            return None
        ms = headers.get("retry-after-ms")
        if ms:
            try:
                return float(ms) / 1000.0
            except ValueError:
                pass
        ra = headers.get("retry-after")
        if ra:
            try:
                return float(ra)
            except ValueError:
                parsed = email.utils.parsedate_tz(ra)
                if parsed:
                    return max(0.0, email.utils.mktime_tz(parsed) - time.time())
        return None

    def _error(self, kind: str, message: str, hint: str = "", **kw: Any) -> ProviderError:
        return ProviderError(kind, self._redact(message), hint=self._redact(hint), **kw)

    async def _map_status(self, e: openai.APIStatusError, params: dict, *,
                          probe_models: bool = True) -> Union[ProviderError, _Adapt]:
        status = e.status_code
        body = e.body
        detail = self._redact(self._server_message(body) or e.response.reason_phrase or "")
        said = f" (server said: {detail})" if detail else ""
        code = str(body.get("code") or "") if isinstance(body, dict) else ""
        param = str(body.get("param") or "") if isinstance(body, dict) else ""
        low = detail.lower()

        if params.get("tools") and status in (400, 404, 422, 500, 501) and (
                param in ("tools", "tool_choice") or _TOOLS_REJECTED.search(detail)):
            switching = self.requested_protocol == "auto"
            return self._error(
                "tools_unsupported",
                f"{self._where} does not accept tool calls for {self.model}{said}.",
                hint=("Switching to the code-block protocol." if switching else
                      "Set c.CodeInterp.protocol = 'codeblocks' (or 'auto')."), status=status)

        inner = body.get("error", body) if isinstance(body, dict) else None  # the SDK unwraps it
        error_type = inner.get("type") if isinstance(inner, dict) else None
        if status >= 500 and (_REQUEST_INVALID.search(detail)
                              or error_type == "invalid_request_error"):
            if "stream_options" in params and "stream_options" in low:
                return _Adapt("no_stream_options")
            return self._invalid_request(status, detail)

        if status in (400, 422):
            if "stream_options" in params and "stream_options" in low:
                return _Adapt("no_stream_options")
            if "max_tokens" in params and "max_tokens" in low and (
                    "max_completion_tokens" in low or "unsupported" in low):
                return _Adapt("max_completion_tokens")
            if "temperature" in params and "temperature" in low and (
                    "unsupported" in low or "not support" in low or "only the default" in low):
                return _Adapt("no_temperature")
            if code == "context_length_exceeded" or "context length" in low or \
                    "context window" in low or "maximum context" in low:
                return self._error(
                    "bad_request", f"The conversation is longer than {self.model}'s context "
                    f"window{said}.", hint="Start a new chat, or lower "
                    "c.CodeInterp.context_token_budget.", status=status)
            if code == "model_not_found" or (("model" in param) or _MODEL_MISSING.search(detail)):
                return await self._model_not_found(status, said, probe_models)
            if _REQUEST_INVALID.search(detail):
                return self._invalid_request(status, detail)
            return self._error("bad_request", f"{self._where} rejected the request "
                               f"({status}){said}.", status=status)

        if status == 401:
            if not self.has_key:
                msg = f"{self._where} requires an API key and none is configured{said}."
            else:
                msg = f"The API key was refused by {self._where}{said}."
            return self._error(
                "auth", msg, hint="Set OPENAI_API_KEY in the environment JupyterLab starts from, "
                "or c.CodeInterp.api_key in jupyter_server_config.py, then restart the server.",
                status=status)
        if status == 403:
            return self._error(
                "forbidden", f"{self._where} refused access to {self.model} (403 Forbidden){said}.",
                hint="The key is valid but lacks permission for this model, project or region; "
                "check its permissions, or choose another model.", status=status)
        if status == 404:
            if code == "model_not_found" or _MODEL_MISSING.search(detail) or "model" in low:
                return await self._model_not_found(status, said, probe_models)
            if probe_models:
                try:
                    models = await self.list_models(timeout=min(5.0, self.request_timeout))
                except ProviderError:
                    models = []
                if models and self.model not in models:
                    return self._model_not_found_msg(status, said, models)
            return self._error(
                "bad_request", f"{self._where} has no chat-completions route (404 Not Found "
                f"for {e.request.url.path}){said}.",
                hint="Check c.CodeInterp.base_url: OpenAI-compatible servers usually serve under "
                "/v1 (e.g. http://localhost:11434/v1).", status=status)
        if status == 429:
            retry_after = self._retry_after(e.response.headers)
            if code == "insufficient_quota" or "quota" in low or "billing" in low:
                return self._error(
                    "rate_limit", f"The account's quota at {self._where} is used up{said}.",
                    hint="Check the plan and billing details of the key; retrying will not help.",
                    status=status)
            return self._error(
                "rate_limit", f"Rate limited by {self._where} (429){said}.",
                hint="Wait a moment, or raise c.CodeInterp.max_retries / max_retry_wait.",
                retryable=True, status=status, retry_after=retry_after)
        if status == 408 or status >= 500:
            return self._error(
                "server_error", f"{self._where} failed with {status} "
                f"{e.response.reason_phrase}{said}.",
                hint="The provider or model server had a problem; try again shortly.",
                retryable=True, status=status, retry_after=self._retry_after(e.response.headers))
        return self._error("bad_request", f"{self._where} rejected the request ({status}){said}.",
                           status=status)

    def _invalid_request(self, status: int, detail: str) -> ProviderError:
        """The server found the request malformed: say what it objected to, briefly."""
        shown = " ".join(_PYDANTIC_URL.sub("", detail).split())
        if len(shown) > _SHOWN_CHARS:
            shown = shown[:_SHOWN_CHARS - 1] + "…"
        return self._error(
            "bad_request", f"{self._where} rejected the request as invalid ({status}): "
            f"{shown or 'no details'}.",
            hint="Not retried: the same request would be rejected again. Please report this "
            "message with the server's name and version.", status=status)

    async def _model_not_found(self, status: int, said: str, probe: bool) -> ProviderError:
        models: list[str] = []
        if probe:
            try:
                models = await self.list_models(timeout=min(5.0, self.request_timeout))
            except ProviderError:
                models = []
        return self._model_not_found_msg(status, said, models)

    def _model_not_found_msg(self, status: int, said: str, models: list[str]) -> ProviderError:
        hint = "Set c.CodeInterp.model (or CODEINTERP_MODEL) to a model the endpoint serves."
        if models:
            shown = ", ".join(models[:20]) + (f" and {len(models) - 20} more"
                                              if len(models) > 20 else "")
            hint = f"Available models: {shown}. " + hint
        if self.preset and self.preset.name == "ollama":
            hint += f" For Ollama: `ollama pull {self.model}`."
        err = self._error("model_not_found", f"The model '{self.model}' is not available at "
                          f"{self._where}{said}.", hint=hint, status=status)
        err.models = models  # type: ignore[attr-defined]
        return err

    @staticmethod
    def _chain_text(e: BaseException) -> str:
        """Every exception behind ``e`` in words, lower-case (aiohttp's os_error included)."""
        parts: list[str] = []
        for c in _exception_chain(e, limit=8, implicit=True):
            parts.append(f"{type(c).__name__}: {c}")
            os_error = getattr(c, "os_error", None)
            if isinstance(os_error, BaseException):
                parts.append(f"{type(os_error).__name__}: {os_error}")
        return " | ".join(parts).lower()

    def _map_connection(self, e: openai.APIConnectionError) -> ProviderError:
        cause = self._cause(e)
        low = self._chain_text(e)
        refused = any(s in low for s in ("refused", "all connection attempts failed", "errno 111",
                                         "connect call failed"))
        unresolved = any(s in low for s in ("name or service not known", "nodename nor servname",
                                            "getaddrinfo", "name resolution"))
        # aiohttp reports a refused connection as a ClientConnectionError, which the SDK's
        # aiohttp transport maps to ConnectTimeout: not a timeout when the cause says refused
        if isinstance(e, openai.APITimeoutError) and not (refused or unresolved):
            # httpx: ConnectTimeout; aiohttp: ConnectionTimeoutError "Connection timeout to host"
            if _CONNECT_TIMEOUT.search(low):
                return self._error(
                    "timeout", f"Could not connect to {self._where} within "
                    f"connect_timeout={self.connect_timeout:g} s.",
                    hint="Check the host and any proxy, or raise c.CodeInterp.connect_timeout.")
            return self._error(
                "timeout", f"{self._where} did not answer within "
                f"request_timeout={self.request_timeout:g} s.",
                hint="A slow or busy (local) model may need more time: raise "
                "c.CodeInterp.request_timeout.", retryable=False)
        start = f" {self.preset.start_hint}." if self.preset and self.preset.start_hint else ""
        if refused:
            return self._error(
                "connection", f"Nothing is listening at {self._where} (connection refused).",
                hint="Start the model server or fix c.CodeInterp.base_url / OPENAI_BASE_URL."
                + start)
        if unresolved:
            host = urlsplit(self.base_url).hostname or self._where
            return self._error(
                "connection", f"Cannot resolve the host '{host}' of {self._where}.",
                hint="Check c.CodeInterp.base_url for typos, and the network/DNS.")
        if "certificate" in low or "ssl" in low or "tls" in low:
            return self._error(
                "connection", f"TLS handshake with {self._where} failed ({cause}).",
                hint="Check the URL scheme (http vs https) and the server's certificate.")
        return self._error(
            "connection", f"Cannot reach {self._where} ({cause}).",
            hint="Check that the model server is running and c.CodeInterp.base_url is right.",
            retryable="connecterror" not in low.replace(" ", ""))

