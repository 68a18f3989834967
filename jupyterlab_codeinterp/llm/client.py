"""The provider client: one streaming chat-completions call, with our own retries.

Everything the openai SDK knows stays here; the agent sees :class:`ModelReply` and
:class:`ProviderError` only.  Why we do things ourselves rather than leave them to the SDK:

* **Retries** (SDK ``max_retries=0``): we honour ``Retry-After``/``retry-after-ms``, give up
  at once when the endpoint asks for a longer wait than ``max_retry_wait`` (waiting less
  would only earn another 429), and report each wait through ``on_retry`` so the chat can
  say "retrying in 4 s".
* **Errors** become a specific sentence a user can act on (which URL, which setting), and
  never contain the API key, even when a careless server echoes it back.
* **Endpoint quirks** are learned once per (base_url, model) and remembered for the process:
  an endpoint that rejects ``tools`` switches ``protocol="auto"`` to code blocks, one that
  rejects ``stream_options`` stops getting it, one that wants ``max_completion_tokens`` or
  no ``temperature`` (reasoning models) gets that.
* **Streaming cost**: the streamed body is decoded by :mod:`.sse` (one ``json.loads`` per
  event, not a pydantic object per token), over the SDK's aiohttp transport when installed
  (``http_backend``); bench/README.md has the numbers.
"""

from __future__ import annotations

import asyncio
import email.utils
import importlib
import inspect
import itertools
import json
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Iterator, Optional, Union
from urllib.parse import urlsplit, urlunsplit

import openai

from ..config import CodeInterp
from ..context.tokens import estimate_messages_tokens, estimate_tokens
from .presets import OPENAI_URL, get_preset
from .sse import MalformedEvent, SSEDecoder
from .types import ModelReply, ProviderError, TokenUsage, ToolCall


def _http_modules() -> list[Any]:
    """The HTTP library the openai SDK uses: ``httpx`` in openai 1.x and 2.x, ``httpx2`` in
    3.x (which may have ``httpx`` installed next to it), the SDK's own first."""
    mods = []
    for name in ("httpx2", "httpx"):
        try:
            mods.append(importlib.import_module(name))
        except ImportError:
            continue
    return mods


_HTTP_MODULES = _http_modules()

#: timeouts and broken connections of that library: raised as they are while we read the body
_HTTP_TIMEOUTS: tuple[type[BaseException], ...] = tuple(mod.TimeoutException for mod in _HTTP_MODULES)
_HTTP_BROKEN: tuple[type[BaseException], ...] = tuple(
    err for mod in _HTTP_MODULES for err in (mod.TransportError, mod.StreamError))

#: the SDK returns the HTTP response unread when asked for this type with this header
_RAW_RESPONSE = _HTTP_MODULES[0].Response
_STREAM_RAW = {"X-Stainless-Raw-Response": "stream"}
_REQUEST_IDS = itertools.count(1)


def _exception_chain(e: BaseException, *, limit: int, implicit: bool) -> Iterator[BaseException]:
    """``e`` and the exceptions behind it: ``__cause__``, and ``__context__`` too when
    ``implicit``; at most ``limit``, each once."""
    seen: set[int] = set()
    c: Optional[BaseException] = e
    while c is not None and id(c) not in seen and len(seen) < limit:
        seen.add(id(c))
        yield c
        c = c.__cause__ or (c.__context__ if implicit else None)


PLACEHOLDER_KEY = "sk-no-key"
"""Sent to endpoints when no key is configured: the SDK requires one, local servers ignore it."""

TextCallback = Callable[[str], Union[Awaitable[None], None]]

# (base_url, model) -> what we learned about that endpoint, for the life of the process
_PROTOCOL_CACHE: dict[tuple[str, str], str] = {}
_QUIRK_CACHE: dict[tuple[str, str], set[str]] = {}

_REASONING_NAME = re.compile(r"^(o\d+(-mini|-pro|-preview)?|gpt-5(?!.*chat))", re.I)

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


_RETRIED_HERE = {"rate_limit", "server_error", "stream_broken", "connection"}
"""Kinds retried inside ``stream``; other retryable errors (empty_answer, timeout after text)
are left to the agent, which may change the prompt first."""


def forget_endpoint_cache() -> None:
    """Forget the protocol and parameter quirks learned about endpoints (tests, settings change)."""
    _PROTOCOL_CACHE.clear()
    _QUIRK_CACHE.clear()


def is_reasoning_model(model: str) -> bool:
    """o1/o3/o4/gpt-5 style names (after a ``provider/`` prefix) take reasoning parameters."""
    return bool(_REASONING_NAME.match(model.rsplit("/", 1)[-1]))


@dataclass
class RetryNotice:
    """What ``on_retry`` receives before each wait."""

    attempt: int
    """The retry about to happen, 1-based."""
    max_retries: int
    wait: float
    error: ProviderError

    @property
    def message(self) -> str:
        return (f"{self.error.message} Retrying in {self.wait:.0f} s "
                f"(retry {self.attempt} of {self.max_retries}).")


class _Adapt(Exception):
    """A 400 that tells us how to change the request (dropped parameter) and try again."""

    def __init__(self, quirk: str) -> None:
        self.quirk = quirk


async def _maybe_await(value: Any) -> None:
    if inspect.isawaitable(value):
        await value


def _redact_url(url: str) -> str:
    """The URL without credentials or query (both can hold keys)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class ModelClient:
    """Streams chat completions from one OpenAI-compatible endpoint.

    ``ModelClient(config)`` takes base URL, key, model, headers, timeouts and retry policy
    from a :class:`CodeInterp`; ``model``/``base_url``/``api_key``/``protocol`` override it
    (a chat may pick another model).
    """

    def __init__(
        self,
        config: CodeInterp,
        *,
        model: Optional[str] = None,
        base_url: Optional[str] = None,
        api_key: Optional[str] = None,
        protocol: Optional[str] = None,
    ) -> None:
        self.config = config
        self.preset = get_preset(config.preset)
        self.model = model or config.effective_model()
        self.azure = bool(self.preset and self.preset.name == "azure")
        url = base_url or config.base_url or (self.preset.base_url if self.preset else "") \
            or OPENAI_URL
        self.base_url = url.rstrip("/")
        self._api_key = api_key if api_key is not None else config.api_key
        self.requested_protocol = protocol or config.protocol
        self.max_retries = max(0, int(config.max_retries))
        self.max_retry_wait = float(config.max_retry_wait)
        self.request_timeout = float(config.request_timeout)
        self.connect_timeout = float(config.connect_timeout)
        self.temperature = config.temperature
        self.max_tokens = int(config.max_tokens or 0)
        self._reasoning_setting = config.reasoning_model
        self._where = _redact_url(self.base_url)
        headers = dict(self.preset.default_headers) if self.preset else {}
        headers.update(config.extra_headers or {})
        timeout = openai.Timeout(self.request_timeout, connect=self.connect_timeout)
        common: dict[str, Any] = dict(api_key=self._api_key or PLACEHOLDER_KEY, max_retries=0,
                                      timeout=timeout, default_headers=headers or None)
        self.http_backend = "httpx"
        if config.http_backend in ("auto", "aiohttp"):
            http_client = _aiohttp_client(required=config.http_backend == "aiohttp")
            if http_client is not None:
                common["http_client"] = http_client
                self.http_backend = "aiohttp"
        if self.azure:
            self.deployment = config.azure_deployment or self.model
            self._sdk: openai.AsyncOpenAI = openai.AsyncAzureOpenAI(
                azure_endpoint=self.base_url, azure_deployment=self.deployment,
                api_version=config.azure_api_version, **common)
        else:
            self.deployment = ""
            self._sdk = openai.AsyncOpenAI(base_url=self.base_url, **common)

    # ---- public state --------------------------------------------------------
    @property
    def has_key(self) -> bool:
        return bool(self._api_key)

    @property
    def _cache_key(self) -> tuple[str, str]:
        return (self.base_url, self.model)

    @property
    def protocol(self) -> str:
        """``tools`` or ``codeblocks``: how the model should ask to run code right now."""
        if self.requested_protocol in ("tools", "codeblocks"):
            return self.requested_protocol
        return _PROTOCOL_CACHE.get(self._cache_key, "tools")

    def use_codeblocks(self) -> None:
        """Switch an ``auto`` client (and later ones for this endpoint) to code blocks."""
        if self.requested_protocol == "auto":
            _PROTOCOL_CACHE[self._cache_key] = "codeblocks"

    @property
    def quirks(self) -> set[str]:
        """Parameter adaptations learned for this endpoint (``no_stream_options``, ...)."""
        return _QUIRK_CACHE.setdefault(self._cache_key, set())

    def is_reasoning(self) -> bool:
        if self._reasoning_setting is not None:
            return bool(self._reasoning_setting)
        return is_reasoning_model(self.model) or "reasoning" in self.quirks

    # ---- the call ------------------------------------------------------------
    def build_params(self, messages: list[dict], tools: Optional[list[dict]]) -> dict[str, Any]:
        """The request body (minus ``stream``) we would send: tools fields only when used."""
        q = self.quirks
        params: dict[str, Any] = {"model": self.deployment or self.model, "messages": messages,
                                  "stream": True}
        if "no_stream_options" not in q:
            params["stream_options"] = {"include_usage": True}
        if tools:
            params["tools"] = tools
        reasoning = self.is_reasoning()
        if self.max_tokens > 0:
            if reasoning or "max_completion_tokens" in q:
                params["max_completion_tokens"] = self.max_tokens
            else:
                params["max_tokens"] = self.max_tokens
        if self.temperature is not None and not reasoning and "no_temperature" not in q:
            params["temperature"] = self.temperature
        return params

    async def stream(
        self,
        messages: list[dict],
        *,
        tools: Optional[list[dict]] = None,
        on_text: Optional[TextCallback] = None,
        on_retry: Optional[Callable[[RetryNotice], Union[Awaitable[None], None]]] = None,
        on_tool_delta: Optional[Callable[[str, str], Union[Awaitable[None], None]]] = None,
    ) -> ModelReply:
        """One model answer, streamed: text goes to ``on_text`` as it arrives.

        ``on_tool_delta(name, arguments_so_far)`` sees each tool call's arguments grow (the
        agent previews ``run_code``'s code while it streams).
        Raises :class:`ProviderError`; ``tools_unsupported`` means: ask again without tools
        (``self.protocol`` has already switched to ``codeblocks`` when it was ``auto``).
        """
        retries = 0
        adaptations = 0
        while True:
            params = self.build_params(messages, tools)
            try:
                return await self._stream_once(params, messages, tools, on_text, on_tool_delta)
            except _Adapt as a:
                adaptations += 1
                if adaptations > 4:  # pragma: no cover - each quirk is learned once
                    raise ProviderError("bad_request", f"{self._where} keeps rejecting the request "
                                        "parameters.") from None
                self.quirks.add(a.quirk)
                continue
            except ProviderError as err:
                if err.kind == "tools_unsupported":
                    self.use_codeblocks()
                    raise
                if not err.retryable or err.kind not in _RETRIED_HERE or \
                        retries >= self.max_retries:
                    if err.retryable and err.kind in _RETRIED_HERE and self.max_retries:
                        err.message += f" (gave up after {retries} retries)"
                    raise
                wait = self._backoff(retries, err.retry_after)
                if wait > self.max_retry_wait:
                    err.message += (f" The endpoint asks to wait {wait:.0f} s, longer than "
                                    f"max_retry_wait ({self.max_retry_wait:.0f} s).")
                    err.hint = (err.hint + " Try again later, or raise "
                                "c.CodeInterp.max_retry_wait.").strip()
                    raise
                retries += 1
                if on_retry is not None:
                    await _maybe_await(on_retry(RetryNotice(retries, self.max_retries, wait, err)))
                await asyncio.sleep(wait)

    def _backoff(self, retries: int, retry_after: Optional[float]) -> float:
        if retry_after is not None:
            return max(0.0, retry_after)
        return min(0.5 * (2 ** retries), self.max_retry_wait)

    async def _stream_once(self, params: dict, messages: list[dict], tools: Optional[list[dict]],
                           on_text: Optional[TextCallback],
                           on_tool_delta: Optional[Callable[[str, str], Any]] = None) -> ModelReply:
        # The SDK sends the request (its client, headers, Azure routing and auth) and maps
        # its status; the body is decoded by llm/sse.py (plain dicts, no pydantic object per
        # streamed chunk).  ``post`` rather than ``chat.completions.create``: create walks the
        # whole conversation through the SDK's type-driven transform first, a third of the
        # model thread's CPU with 200 chats, for a body it leaves unchanged.  An idempotency
        # key of our own spares a uuid4 per request (the SDK sends none to OpenAI or Azure).
        try:
            response = await self._sdk.post(
                "/chat/completions", cast_to=_RAW_RESPONSE, body=params,
                options={"headers": _STREAM_RAW, "idempotency_key": f"codeinterp-{next(_REQUEST_IDS)}"})
        except openai.APIStatusError as e:
            raise await self._map_status(e, params) from None
        except openai.APIConnectionError as e:
            raise self._map_connection(e) from None

        reply = ModelReply(model=self.model)
        calls = _ToolCallAssembler()
        usage: Optional[TokenUsage] = None
        emitted = False
        decoder = SSEDecoder()
        body = response.aiter_bytes()
        try:
            while not decoder.done:
                try:
                    batch = decoder.feed(await body.__anext__())
                except StopAsyncIteration:
                    batch = decoder.end()
                for chunk in batch:
                    if chunk.get("error"):
                        # an error event inside the stream: ``data: {"error": {...}}``
                        detail = self._server_message(chunk) or "unknown error"
                        raise ProviderError(
                            "server_error", f"{self._where} reported an error in the middle of the "
                            f"answer: {self._redact(detail)}", retryable=not emitted,
                            partial_text=reply.text)
                    chunk_usage, shown = _take_chunk(chunk, reply, calls)
                    usage = chunk_usage or usage
                    for kind, piece in shown:
                        if kind == "text":
                            emitted = True
                            if on_text is not None:
                                await _maybe_await(on_text(piece))
                        elif on_tool_delta is not None:
                            await _maybe_await(on_tool_delta(*piece))
        except _HTTP_TIMEOUTS:
            raise ProviderError(
                "timeout", f"{self._where} stopped sending in the middle of the answer: nothing "
                f"for request_timeout={self.request_timeout:g} s.",
                hint="A slow or busy model may need more: raise c.CodeInterp.request_timeout.",
                retryable=not emitted, partial_text=reply.text) from None
        except _HTTP_BROKEN as e:
            raise ProviderError(
                "stream_broken", f"The connection to {self._where} broke in the middle of the "
                f"answer ({self._cause(e)}).",
                hint="The answer is incomplete; ask again.", retryable=not emitted,
                partial_text=reply.text) from None
        except MalformedEvent as e:
            raise ProviderError(
                "stream_broken", f"{self._where} sent a streamed event that is not JSON: "
                f"{self._redact(e.data[:120])!r}.",
                hint="Is the base URL an OpenAI-compatible /v1 endpoint?", retryable=not emitted,
                partial_text=reply.text) from None
        finally:
            try:
                await body.aclose()
                await response.aclose()
            except Exception:  # pragma: no cover
                pass

        reply.tool_calls = calls.finish(_history_call_ids(messages))
        if reply.finish_reason is None:
            # A few servers never send finish_reason; accept a complete-looking answer, but
            # not nothing at all or a tool call whose arguments stop mid-JSON.
            if (not reply.text and not reply.tool_calls) or any(
                    not _is_json(c.arguments) for c in reply.tool_calls):
                raise ProviderError(
                    "stream_broken", f"The stream from {self._where} ended before the answer "
                    "was complete (no finish_reason).", hint="The answer is incomplete; ask again.",
                    retryable=not emitted, partial_text=reply.text)
            reply.finish_reason = "tool_calls" if reply.tool_calls else "stop"
        if usage is None:
            prompt = estimate_messages_tokens(messages)
            if tools:
                prompt += estimate_tokens(json.dumps(tools))
            completion = estimate_tokens(reply.text) + sum(
                estimate_tokens(c.name) + estimate_tokens(c.arguments) for c in reply.tool_calls)
            usage = TokenUsage(prompt, completion, estimated=True)
        reply.usage = usage
        if not reply.text.strip() and not reply.tool_calls:
            raise self._empty_answer(reply)
        return reply

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

    # ---- models --------------------------------------------------------------
    async def list_models(self, *, timeout: Optional[float] = None) -> list[str]:
        """Model ids from the endpoint's ``/models`` (Azure: the configured deployment)."""
        if self.azure:
            return [self.deployment]
        sdk = self._sdk.with_options(timeout=timeout) if timeout else self._sdk
        try:
            page = await sdk.models.list()
        except openai.APIStatusError as e:
            raise await self._map_status(e, {}, probe_models=False) from None
        except openai.APIConnectionError as e:
            raise self._map_connection(e) from None
        return [m.id for m in page.data]

    async def close(self) -> None:
        await self._sdk.close()

    async def __aenter__(self) -> "ModelClient":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    # ---- error mapping -------------------------------------------------------
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


def _aiohttp_client(*, required: bool) -> Any:
    """The openai SDK's aiohttp-based client (``openai[aiohttp]``), or None without it.

    Streaming many answers at once, the SDK's default httpx transport (anyio, httpcore, h11
    in Python) costs ~170 us of CPU per streamed token here, aiohttp's C parser ~90 us
    (bench/README.md).  The SDK maps aiohttp's errors to its httpx ones, so error handling
    is the same.
    """
    factory = getattr(openai, "DefaultAioHttpClient", None)
    try:
        if factory is None:
            raise RuntimeError("this openai version has no DefaultAioHttpClient")
        return factory()
    except Exception as exc:  # the extra is not installed
        if required:
            raise ValueError(f"c.CodeInterp.http_backend = 'aiohttp' needs openai[aiohttp] ({exc})") from None
        return None


def _choice0(chunk: dict[str, Any]) -> Optional[dict[str, Any]]:
    for choice in chunk.get("choices") or ():
        if isinstance(choice, dict) and choice.get("index", 0) in (0, None):
            return choice
    return None


def _take_chunk(chunk: dict[str, Any], reply: ModelReply,
                calls: "_ToolCallAssembler") -> tuple[Optional[TokenUsage], list[tuple[str, Any]]]:
    """Add one streamed chunk to ``reply`` (text, reasoning, finish reason, model; tool-call
    fragments into ``calls``).  Returns the usage it carries, if any, and what it shows while
    streaming: ("text", piece) and ("tool", (name, arguments so far)) per call it extended."""
    shown: list[tuple[str, Any]] = []
    if isinstance(chunk.get("model"), str) and chunk["model"]:
        reply.model = chunk["model"]
    choice = _choice0(chunk)
    delta = choice.get("delta") if choice else None
    if isinstance(delta, dict):
        thought = delta.get("reasoning_content") or delta.get("reasoning")
        if isinstance(thought, str):
            reply.reasoning += thought
        content = delta.get("content")
        if content and isinstance(content, str):
            reply.text += content
            shown.append(("text", content))
        for tc in delta.get("tool_calls") or ():
            if isinstance(tc, dict):
                current = calls.feed(tc)
                if current["name"]:
                    shown.append(("tool", (current["name"], current["arguments"])))
    if choice and choice.get("finish_reason"):
        reply.finish_reason = str(choice["finish_reason"])
    u = chunk.get("usage")
    usage = TokenUsage(prompt_tokens=_int(u.get("prompt_tokens")),
                       completion_tokens=_int(u.get("completion_tokens"))) if isinstance(u, dict) else None
    return usage, shown


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
        return True
    except ValueError:
        return False


def _history_call_ids(messages: list[dict]) -> set[str]:
    ids: set[str] = set()
    for m in messages:
        for c in m.get("tool_calls") or []:
            if isinstance(c, dict) and c.get("id"):
                ids.add(c["id"])
    return ids


class _ToolCallAssembler:
    """Tool-call deltas -> complete calls, tolerant of what real servers get wrong.

    OpenAI sends, per call, a header delta (index, id, type, name, empty arguments) and then
    argument fragments with the same index.  Servers differ: index missing, ids missing,
    empty or repeated across calls, a whole call in one delta, arguments as an object.  A
    delta that names a function when the call it would extend already has a name starts a
    new call; ids are made unique and present.
    """

    def __init__(self) -> None:
        self._calls: list[dict[str, Any]] = []
        self._by_index: dict[int, dict[str, Any]] = {}

    def feed(self, tc: dict[str, Any]) -> dict[str, Any]:
        fn = tc.get("function")
        fn = fn if isinstance(fn, dict) else {}
        name = fn.get("name") if isinstance(fn.get("name"), str) else None
        args = fn.get("arguments")
        tid = tc.get("id") if isinstance(tc.get("id"), str) else None
        index = tc.get("index") if isinstance(tc.get("index"), int) else None
        current = self._by_index.get(index) if index is not None else (
            self._calls[-1] if self._calls else None)
        starts_new = current is None or (name and current["name"]) or (
            tid and current["id"] and tid != current["id"] and index is None)
        if starts_new:
            current = {"id": tid or "", "name": "", "arguments": ""}
            self._calls.append(current)
            if index is not None:
                self._by_index[index] = current
        elif tid and not current["id"]:
            current["id"] = tid
        if name:
            current["name"] += name
        if args is not None:
            current["arguments"] += args if isinstance(args, str) else json.dumps(args)
        return current

    def finish(self, taken: set[str] = frozenset()) -> list[ToolCall]:
        """The complete calls; ids missing, repeated, or already used in the history are
        replaced, so every tool result can be matched to its call."""
        out: list[ToolCall] = []
        seen: set[str] = set(taken)
        for c in self._calls:
            if not c["name"]:
                continue
            cid = c["id"]
            if not cid or cid in seen:
                cid = f"call_{uuid.uuid4().hex[:20]}"
            seen.add(cid)
            args = c["arguments"]
            out.append(ToolCall(id=cid, name=c["name"], arguments=args if args.strip() else "{}"))
        return out
