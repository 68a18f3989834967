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
import importlib
import inspect
import itertools
import json
import re
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Optional, Union

import openai

from ..config import CodeInterp
from ..context.tokens import estimate_messages_tokens, estimate_tokens
from .presets import OPENAI_URL, get_preset
from .assemble import _history_call_ids, _is_json, _take_chunk, _ToolCallAssembler
from .errors import _Adapt, _redact_url, ErrorMapping
from .messages import wire_messages
from .sse import MalformedEvent, SSEDecoder
from .types import ModelReply, ProviderError, TokenUsage


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


PLACEHOLDER_KEY = "sk-no-key"
"""Sent to endpoints when no key is configured: the SDK requires one, local servers ignore it."""

TextCallback = Callable[[str], Union[Awaitable[None], None]]

# (base_url, model) -> what we learned about that endpoint, for the life of the process
_PROTOCOL_CACHE: dict[tuple[str, str], str] = {}
_QUIRK_CACHE: dict[tuple[str, str], set[str]] = {}

_REASONING_NAME = re.compile(r"^(o\d+(-mini|-pro|-preview)?|gpt-5(?!.*chat))", re.I)

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


async def _maybe_await(value: Any) -> None:
    if inspect.isawaitable(value):
        await value



class ModelClient(ErrorMapping):
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
    def build_params(self, messages: list[dict], tools: Optional[list[dict]],
                     temperature: Optional[float] = None) -> dict[str, Any]:
        """The request body (minus ``stream``) we would send: tools fields only when used;
        ``temperature`` overrides the configured one (when one is sent at all)."""
        q = self.quirks
        params: dict[str, Any] = {"model": self.deployment or self.model,
                                  "messages": wire_messages(messages, codeblocks=not tools),
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
            params["temperature"] = self.temperature if temperature is None else temperature
        return params

    async def stream(
        self,
        messages: list[dict],
        *,
        tools: Optional[list[dict]] = None,
        on_text: Optional[TextCallback] = None,
        on_retry: Optional[Callable[[RetryNotice], Union[Awaitable[None], None]]] = None,
        on_tool_delta: Optional[Callable[[str, str], Union[Awaitable[None], None]]] = None,
        temperature: Optional[float] = None,
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
            params = self.build_params(messages, tools, temperature)
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
