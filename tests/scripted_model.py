"""A scripted OpenAI-compatible model server: the only mock in the test suite.

It is a real HTTP server (tornado, on its own event loop in a background thread),
so the real ``openai`` SDK, httpx and our client are exercised end to end, from
sync tests, async tests and browser tests alike.

Routes
  POST /v1/chat/completions   stream (SSE, the real chunk shapes) and non-stream
  GET  /v1/models
  POST /openai/deployments/{d}/chat/completions, GET /openai/models   (Azure shapes)
  POST /_control/script       JSON list of replies, or {"scenario": NAME}, or
                              {"replies": [...], "quirks": {...}, "append": bool}
  POST /_control/quirks       JSON object of Quirks fields
  POST /_control/reset
  GET  /_control/requests     {"requests": [chat bodies], "log": [every request, with
                              received_at and finished_at / disconnected_at, epoch seconds]}

A *reply* is a dict (helpers below build them): text, tool calls, text + tool calls,
an HTTP error, a hang, a stream cut in the middle, a mid-stream error event, an empty
answer.  A script entry may also be a callable ``fn(request_json) -> reply`` and
``server.responder`` answers once the script is used up (rule-based scripts).

Run standalone for browser tests::

    python tests/scripted_model.py --port 8999 --scenario repair
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import re
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Callable, Optional, Union

import tornado.httpserver
import tornado.iostream
import tornado.netutil
import tornado.web

Reply = dict[str, Any]
Responder = Callable[[dict], Reply]
ScriptEntry = Union[Reply, Responder]

DEFAULT_MODEL = "scripted-model"

# ----------------------------------------------------------------------------- reply builders


def text(content: str, *, chunk_size: int | None = None, finish_reason: str = "stop",
         usage: dict | None = None, delay: float = 0.0, reasoning: str | None = None) -> Reply:
    """A plain text answer, streamed in small pieces."""
    r: Reply = {"text": content, "finish_reason": finish_reason, "delay": delay}
    if chunk_size:
        r["chunk_size"] = chunk_size
    if usage is not None:
        r["usage"] = usage
    if reasoning is not None:
        r["reasoning"] = reasoning
    return r


def call(name: str, arguments: Union[str, dict], *, id: str | None = None) -> dict:
    """One tool call; ``arguments`` as a dict (JSON-encoded for you) or raw text (sent as is)."""
    c = {"name": name, "arguments": arguments}
    if id is not None:
        c["id"] = id
    return c


def tool_calls(*calls: dict, text: str | None = None, usage: dict | None = None) -> Reply:
    r: Reply = {"tool_calls": list(calls), "finish_reason": "tool_calls"}
    if text is not None:
        r["text"] = text
    if usage is not None:
        r["usage"] = usage
    return r


def run_code(code: str, *, text: str | None = None, tool: str = "run_code",
             id: str | None = None) -> Reply:
    """The agent's code tool called with ``{"code": code}``."""
    return tool_calls(call(tool, {"code": code}, id=id), text=text)


def error(status: int, message: str, *, type: str | None = None, code: str | None = None,
          param: str | None = None, headers: dict | None = None,
          body: Union[str, dict, None] = None) -> Reply:
    """An HTTP error answer in OpenAI's error shape (or ``body`` verbatim)."""
    return {"error": {"status": status, "message": message, "type": type, "code": code,
                      "param": param, "headers": headers or {}, "body": body}}


def rate_limited(retry_after: float | None = 0, *, retry_after_ms: int | None = None,
                 message: str = "Rate limit reached for requests. Please try again later.",
                 code: str = "rate_limit_exceeded") -> Reply:
    headers = {}
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    if retry_after_ms is not None:
        headers["retry-after-ms"] = str(retry_after_ms)
    return error(429, message, type="requests", code=code, headers=headers)


def server_error(status: int = 500, message: str = "The server had an error while processing "
                 "your request. Sorry about that!") -> Reply:
    return error(status, message, type="server_error")


def hang(seconds: float = 30.0, *, after_chunks: int = 0, text: str = "partial answer ") -> Reply:
    """Say nothing for ``seconds`` (before the headers, or after ``after_chunks`` chunks)."""
    return {"hang": seconds, "hang_after_chunks": after_chunks, "text": text if after_chunks else ""}


def cut(*, in_tool_call: bool = True, text: str = "Let me compute that.") -> Reply:
    """Close the connection in the middle of the answer (mid tool-call arguments by default)."""
    if in_tool_call:
        r = run_code("import pandas as pd\ndf = pd.read_csv('data.csv')\nprint(df.describe())")
        r["cut"] = "tool_call"
        return r
    return {"text": text * 4, "cut": "text"}


def stream_error(message: str = "upstream model crashed", *, after_chunks: int = 2,
                 code: str | None = "server_error") -> Reply:
    """An ``data: {"error": ...}`` event in the middle of a stream (OpenRouter, vLLM do this)."""
    return {"text": "Working on it. ", "stream_error": {"message": message, "code": code,
                                                        "type": "server_error"},
            "stream_error_after": after_chunks}


def empty(finish_reason: str = "stop") -> Reply:
    return {"text": "", "finish_reason": finish_reason}


# ----------------------------------------------------------------------------- quirks


@dataclass
class Quirks:
    """Server behaviours that real OpenAI-compatible endpoints differ in."""

    api_key: Optional[str] = None
    """Require ``Authorization: Bearer <api_key>`` (or Azure's ``api-key``); None: ignore keys."""
    echo_key_in_errors: bool = True
    """401 bodies quote the whole key they got (careless servers do; our errors must not)."""
    reject_tools: Union[bool, str] = False
    """Reject requests that carry ``tools``: "ollama" (400), "llamacpp" (500), "vllm" (400)."""
    reject_tool_choice_null: bool = False
    reject_empty_tools: bool = False
    stream_usage: bool = True
    """Send the usage chunk when ``stream_options.include_usage`` is true."""
    reject_stream_options: bool = False
    reasoning: bool = False
    """Reject ``max_tokens`` and a non-default ``temperature`` like OpenAI's o-series."""
    tool_call_ids: str = "normal"
    """normal | missing (no id key) | empty ("") | repeated (every call "call_0")."""
    tool_call_index: bool = True
    """False: omit ``index`` in tool-call deltas."""
    tool_call_style: str = "openai"
    """openai (header chunk, then argument fragments) | single_chunk (whole call in one delta)."""
    models: list = field(default_factory=lambda: [DEFAULT_MODEL, "scripted-large"])
    strict_model: bool = True
    """404 model_not_found for a model not in ``models``."""
    models_endpoint: bool = True
    finish_reason: bool = True
    """False: never send a finish_reason (a few servers don't)."""
    chunk_delay: float = 0.0
    """Seconds between SSE chunks (browser tests, stop button)."""
    strict_tool_ids: bool = False
    """Validate tool-call pairing in the messages the way OpenAI does: every assistant tool
    call has a non-empty id unique in the conversation, is answered by a ``tool`` message
    with that ``tool_call_id`` before the next non-tool message, and no ``tool`` message
    answers an unknown or already answered id (400 otherwise)."""
    strict_schema: bool = False
    """Validate the request body like llama-cpp-python's server (pydantic models, FastAPI):
    a field it does not know, or ``content: null``, is answered with a 500 whose body
    quotes the validation error."""


QUIRK_NAMES = {f.name for f in fields(Quirks)}

# ----------------------------------------------------------------------------- scenarios


def _last_result(req: dict) -> Optional[str]:
    """The text of the last code result sent back to the model, or None on a fresh prompt."""
    msgs = req.get("messages") or []
    if not msgs:
        return None
    last = msgs[-1]
    content = last.get("content")
    if isinstance(content, list):
        content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    content = content or ""
    if last.get("role") == "tool":
        return content
    if last.get("role") == "user" and len(msgs) >= 2 and msgs[-2].get("role") == "assistant" \
            and "```" in (msgs[-2].get("content") or ""):
        return content
    return None


def _code_tool(req: dict) -> Optional[str]:
    names = [t.get("function", {}).get("name") for t in req.get("tools") or []]
    for n in names:
        if n and ("code" in n or "run" in n or "exec" in n):
            return n
    return names[0] if names else None


def _code_reply(req: dict, code: str, lead: str) -> Reply:
    tool = _code_tool(req)
    if tool:
        return run_code(code, tool=tool, text=lead or None)
    return text(f"{lead}\n\n```python\n{code}\n```\n")


def scenario_echo(req: dict) -> Reply:
    """Answers every prompt with 'You said: ...' (no code)."""
    msgs = req.get("messages") or []
    user = next((m.get("content") for m in reversed(msgs) if m.get("role") == "user"), "")
    if isinstance(user, list):
        user = " ".join(p.get("text", "") for p in user if isinstance(p, dict))
    return text(f"You said: {str(user)[-200:]}")


def scenario_run_code(req: dict) -> Reply:
    """Runs ``print(1 + 1)`` once, then answers with the value."""
    result = _last_result(req)
    if result is None:
        return _code_reply(req, "print(1 + 1)", "I'll compute it.")
    return text("The result is 2.")


REPAIR_BAD = ('import pandas as pd\n'
              'df = pd.DataFrame({"price": [1.5, 2.5, 3.0]})\n'
              'total = df["prices"].sum()\n'
              'print(total)')
REPAIR_FIX = ('import pandas as pd\n'
              'df = pd.DataFrame({"price": [1.5, 2.5, 3.0]})\n'
              'total = df["price"].sum()\n'
              'print(total)')


def scenario_repair(req: dict) -> Reply:
    """A wrong column (KeyError), the repair after the traceback, then the answer 7.0."""
    result = _last_result(req)
    if result is None:
        return _code_reply(req, REPAIR_BAD, "Let me sum the prices.")
    if "KeyError" in result:
        return _code_reply(req, REPAIR_FIX, "The column is called `price`; fixing that.")
    return text("The total price is 7.0.")


def scenario_slow(req: dict) -> Reply:
    """A long answer streamed slowly (stop-button tests)."""
    r = text(" ".join(f"word{i}" for i in range(400)), chunk_size=6)
    r["delay"] = 0.05
    return r


def _request_text(req: dict) -> str:
    """The text of the conversation's user messages (the request and its context)."""
    parts = []
    for m in req.get("messages") or []:
        if m.get("role") != "user":
            continue
        content = m.get("content")
        if isinstance(content, list):
            content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
        parts.append(str(content or ""))
    return "\n".join(parts)


def _output_of(result: str) -> str:
    """What a cell printed, from the result the agent sent back (tags and status dropped)."""
    # only what the block holds: the loop's own words after it (a reminder of the answer's
    # form) are not output
    body = result.split("</workspace-data>", 1)[0]
    body = re.sub(r"</?workspace-data[^>]*>", "", body)
    if "output:\n" in body:
        body = body.split("output:\n", 1)[1]
    body = re.split(r"\n(?:error:|\[\d+ images? displayed\]|files written:)", body)[0]
    return body.strip()


def solutions_responder(solutions: dict[str, str]) -> Responder:
    """A model that knows how to solve some tasks, and nothing of their answers.

    ``solutions`` maps a piece of each task's request text to the code that solves it. The
    first reply sends that code (a ``run_code`` call when tools are offered, else a
    ```python block: the single-shot baseline); the next reply answers with what the cell
    printed, so any number in the answer comes from the kernel. A request that matches no
    task gets an answer without numbers.
    """

    def respond(req: dict) -> Reply:
        asked = _request_text(req)
        code = next((c for key, c in solutions.items() if key in asked), None)
        if code is None:
            return text("I do not know how to do this task.")
        result = _last_result(req)
        if result is None:
            return _code_reply(req, code, "Let me compute that.")
        return text(f"Computed in the notebook:\n\n{_output_of(result)}")

    respond.__name__ = "solutions"
    return respond


def suite_solutions(suite: str) -> dict[str, str]:
    """Request text → reference solution for every task of a native suite that has one."""
    import tempfile

    from jupyterlab_codeinterp.evaluation.builtin.generate import generate_builtin_suite
    from jupyterlab_codeinterp.evaluation.tasks import load_native_suite

    if suite == "builtin":
        suite = generate_builtin_suite(tempfile.mkdtemp(prefix="codeinterp-suite-"), verify=False)
    return {t.prompt: t.solution for t in load_native_suite(suite) if t.solution}


SCENARIOS: dict[str, Responder] = {
    "echo": scenario_echo,
    "run_code": scenario_run_code,
    "repair": scenario_repair,
    "slow": scenario_slow,
}

# ----------------------------------------------------------------------------- helpers


def _split_text(s: str, size: Optional[int]) -> list[str]:
    if not s:
        return []
    if size:
        return [s[i:i + size] for i in range(0, len(s), size)]
    # roughly token-sized pieces: a word with its leading space, or a punctuation run
    return re.findall(r"\s*\w+|\s*[^\w\s]+|\s+", s) or [s]


def _split_args(s: str) -> list[str]:
    """Argument fragments the way OpenAI streams them: a few characters at a time."""
    pieces = re.findall(r"\w+|\s+|[^\w\s]{1,3}", s)
    out: list[str] = []
    buf = ""
    for p in pieces:
        buf += p
        if len(buf) >= 4:
            out.append(buf)
            buf = ""
    if buf:
        out.append(buf)
    return out


def _estimate(obj: Any) -> int:
    s = obj if isinstance(obj, str) else json.dumps(obj)
    return max(1, len(s) // 4)


def _error_body(message: str, type: Optional[str] = "invalid_request_error",
                code: Optional[str] = None, param: Optional[str] = None) -> dict:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def _tool_pairing_problem(messages: list) -> Optional[str]:
    """What OpenAI would say about the tool-call pairing of ``messages`` (None: valid)."""
    seen: set = set()
    open_ids: list = []
    for i, m in enumerate(messages):
        role = m.get("role") if isinstance(m, dict) else None
        if role == "tool":
            tid = m.get("tool_call_id")
            if not tid or tid not in open_ids:
                return (f"Invalid parameter: messages with role 'tool' must be a response to a "
                        f"preceeding message with 'tool_calls' (messages.[{i}].tool_call_id "
                        f"{tid!r}).")
            open_ids.remove(tid)
            continue
        if open_ids:
            return ("An assistant message with 'tool_calls' must be followed by tool messages "
                    "responding to each 'tool_call_id'. The following tool_call_ids did not have "
                    f"response messages: {', '.join(open_ids)}")
        for c in (m.get("tool_calls") or []) if role == "assistant" else []:
            cid = c.get("id") if isinstance(c, dict) else None
            if not cid:
                return f"Missing required parameter: 'messages.[{i}].tool_calls[].id'."
            if cid in seen:
                return f"Duplicate value for 'tool_call_id' of {cid} in message[{i}]."
            seen.add(cid)
            open_ids.append(cid)
    if open_ids:
        return ("An assistant message with 'tool_calls' must be followed by tool messages "
                "responding to each 'tool_call_id'. The following tool_call_ids did not have "
                f"response messages: {', '.join(open_ids)}")
    return None


# request fields llama-cpp-python's server accepts (its CreateChatCompletionRequest and the
# ChatCompletionRequest*Message typed dicts)
_STRICT_TOP = {
    "messages", "functions", "function_call", "tools", "tool_choice", "max_tokens",
    "min_tokens", "logprobs", "top_logprobs", "temperature", "top_p", "min_p", "stop", "stream",
    "stream_options", "presence_penalty", "frequency_penalty", "logit_bias", "seed",
    "response_format", "model", "n", "user", "top_k", "repeat_penalty", "logit_bias_type",
    "mirostat_mode", "mirostat_tau", "mirostat_eta", "grammar",
}
_STRICT_MESSAGE = {
    "system": {"role", "content"},
    "user": {"role", "content"},
    "assistant": {"role", "content", "tool_calls", "function_call"},
    "tool": {"role", "content", "tool_call_id"},
    "function": {"role", "content", "name"},
}
_STRICT_MEMBER = {role: f"ChatCompletionRequest{role.title()}Message" for role in _STRICT_MESSAGE}
_STRICT_CALL = {"id", "type", "function"}
_STRICT_FUNCTION = {"name", "arguments"}


def _strict_schema_errors(body: dict) -> list[dict]:
    """The pydantic errors llama-cpp-python's server would raise for ``body`` ([]: valid)."""
    errs: list[dict] = []

    def add(kind: str, loc: tuple, msg: str, value: Any) -> None:
        errs.append({"type": kind, "loc": ("body",) + loc, "msg": msg, "input": value})

    for key in body:
        if key not in _STRICT_TOP:
            add("extra_forbidden", (key,), "Extra inputs are not permitted", body[key])
    for i, m in enumerate(body.get("messages") or []):
        if not isinstance(m, dict) or m.get("role") not in _STRICT_MESSAGE:
            add("union_tag_invalid", ("messages", i), "Input tag does not match", m)
            continue
        where = ("messages", i, _STRICT_MEMBER[m["role"]])
        before = len(errs)
        for key in m:
            if key not in _STRICT_MESSAGE[m["role"]]:
                add("extra_forbidden", where + (key,), "Extra inputs are not permitted", m[key])
        content = m.get("content")
        if m["role"] == "user" and isinstance(content, list):
            pass
        elif "content" in m and not isinstance(content, str):
            add("string_type", where + ("content",), "Input should be a valid string", content)
        elif "content" not in m and m["role"] != "assistant":
            add("missing", where + ("content",), "Field required", m)
        for j, c in enumerate(m.get("tool_calls") or [] if m["role"] == "assistant" else []):
            cw = where + ("tool_calls", j)
            for key in c if isinstance(c, dict) else ():
                if key not in _STRICT_CALL:
                    add("extra_forbidden", cw + (key,), "Extra inputs are not permitted", c[key])
            fn = c.get("function") if isinstance(c, dict) else None
            for key in fn if isinstance(fn, dict) else ():
                if key not in _STRICT_FUNCTION:
                    add("extra_forbidden", cw + ("function", key),
                        "Extra inputs are not permitted", fn[key])
            if isinstance(fn, dict) and not isinstance(fn.get("arguments"), str):
                add("string_type", cw + ("function", "arguments"),
                    "Input should be a valid string", fn.get("arguments"))
        if len(errs) > before:  # the message is a union: pydantic tried every member
            errs[before:before] = [
                {"type": "literal_error", "loc": ("body", "messages", i, member, "role"),
                 "msg": f"Input should be '{role}'", "input": m["role"],
                 "ctx": {"expected": f"'{role}'"}}
                for role, member in _STRICT_MEMBER.items() if role != m["role"]]
    return errs


def _strict_schema_rejection(body: dict) -> Optional[tuple[int, dict]]:
    """llama-cpp-python's answer to an invalid body: its route error handler turns FastAPI's
    RequestValidationError into a 500 carrying ``str(error)``."""
    errs = _strict_schema_errors(body)
    if not errs:
        return None
    message = (f"{len(errs)} validation errors:\n" + "".join(f"  {e!r}\n" for e in errs)
               + '\n  File "llama_cpp/server/app.py", line 376, in create_chat_completion\n'
               "    POST /v1/chat/completions")
    return 500, {"error": {"message": message, "type": "internal_server_error", "param": None,
                           "code": None}}


# ----------------------------------------------------------------------------- server


class _Stop(Exception):
    pass


class ScriptedModelServer:
    """The server object tests hold: script it, set quirks, read what the model was sent."""

    def __init__(self, port: int = 0, host: str = "127.0.0.1", *,
                 quirks: Optional[Quirks] = None) -> None:
        self.host = host
        self._want_port = port
        self.port = 0
        self.quirks = quirks or Quirks()
        self.script: list[ScriptEntry] = []
        self.responder: Optional[Responder] = None
        self.requests: list[dict] = []
        """Every chat-completions request body, in order."""
        self.log: list[dict] = []
        """Every HTTP request: method, path, headers, body."""
        self.served = 0
        self.default_responder: Optional[Responder] = None
        """What ``reset()`` goes back to (the scenario given on the command line)."""
        self.default_quirks: dict = {}
        self._generation = 0
        self._lock = threading.Lock()
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._thread: Optional[threading.Thread] = None
        self._http: Optional[tornado.httpserver.HTTPServer] = None
        self._started = threading.Event()

    # -- lifecycle -------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """What to give the client as base_url."""
        return f"{self.url}/v1"

    def start(self) -> "ScriptedModelServer":
        sockets = tornado.netutil.bind_sockets(self._want_port, self.host)
        self.port = sockets[0].getsockname()[1]

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            app = _make_app(self)
            self._http = tornado.httpserver.HTTPServer(app)
            self._http.add_sockets(sockets)
            self._started.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=run, name=f"scripted-model:{self.port}", daemon=True)
        self._thread.start()
        self._started.wait(10)
        return self

    def stop(self) -> None:
        if not self._loop or not self._thread:
            return
        self._generation += 1  # wake hangs

        async def shutdown() -> None:
            assert self._http is not None
            self._http.stop()
            try:
                await asyncio.wait_for(self._http.close_all_connections(), 2)
            except Exception:
                pass
            asyncio.get_running_loop().stop()

        self._loop.call_soon_threadsafe(lambda: asyncio.ensure_future(shutdown()))
        self._thread.join(5)
        self._thread = None

    def __enter__(self) -> "ScriptedModelServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- scripting -------------------------------------------------------------
    def reset(self) -> None:
        """Forget script, responder, quirks and recorded requests; end pending hangs."""
        with self._lock:
            self._generation += 1
            self.script = []
            self.responder = self.default_responder
            self.quirks = Quirks(**copy.deepcopy(self.default_quirks))
            self.requests = []
            self.log = []
            self.served = 0

    def set_script(self, *replies: ScriptEntry) -> "ScriptedModelServer":
        with self._lock:
            self.script = list(replies)
        return self

    def add(self, *replies: ScriptEntry) -> "ScriptedModelServer":
        with self._lock:
            self.script.extend(replies)
        return self

    def use_scenario(self, name: str) -> "ScriptedModelServer":
        self.responder = SCENARIOS[name]
        return self

    def set_quirks(self, **kw: Any) -> "ScriptedModelServer":
        unknown = set(kw) - QUIRK_NAMES
        if unknown:
            raise ValueError(f"unknown quirks: {sorted(unknown)}")
        for k, v in kw.items():
            setattr(self.quirks, k, v)
        return self

    @property
    def last_request(self) -> dict:
        return self.requests[-1]

    def next_reply(self, body: dict) -> Reply:
        with self._lock:
            entry: Optional[ScriptEntry] = self.script.pop(0) if self.script else None
            self.served += 1
        if entry is None:
            if self.responder is None:
                return error(400, f"scripted model: script exhausted ({self.served} requests "
                                  "served, no responder)", type="script_exhausted")
            entry = self.responder
        reply = entry(body) if callable(entry) else entry
        return copy.deepcopy(reply)

    def hang_generation(self) -> int:
        return self._generation


# ----------------------------------------------------------------------------- handlers


class _Base(tornado.web.RequestHandler):
    server: ScriptedModelServer

    def initialize(self, server: ScriptedModelServer) -> None:
        self.server = server

    def prepare(self) -> None:
        body: Any = None
        if self.request.body:
            try:
                body = json.loads(self.request.body)
            except ValueError:
                body = self.request.body.decode("utf-8", "replace")
        self.json_body = body
        self.log_entry: Optional[dict] = None
        if not self.request.path.startswith("/_control"):
            now = time.time()
            # received_at: wall-clock seconds (comparable with a browser's Date.now() / 1000 on
            # the same machine) when the whole request had arrived; chat requests also get
            # finished_at (answer sent) or disconnected_at (the client dropped the connection)
            self.log_entry = {
                "method": self.request.method, "path": self.request.path,
                "query": self.request.query, "headers": dict(self.request.headers),
                "body": body, "time": now, "received_at": now}
            self.server.log.append(self.log_entry)

    def on_connection_close(self) -> None:
        self.mark("disconnected_at")

    def on_finish(self) -> None:
        self.mark("finished_at")

    def mark(self, key: str) -> None:
        """Record when a request ended (first of finished/disconnected wins)."""
        entry = getattr(self, "log_entry", None)
        if entry is not None and "finished_at" not in entry and "disconnected_at" not in entry:
            entry[key] = time.time()

    def send_json(self, obj: Any, status: int = 200, headers: Optional[dict] = None) -> None:
        self.set_status(status)
        for k, v in (headers or {}).items():
            self.set_header(k, v)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(obj))

    def check_key(self) -> bool:
        want = self.server.quirks.api_key
        if want is None:
            return True
        auth = self.request.headers.get("Authorization", "")
        got = auth[7:] if auth.lower().startswith("bearer ") else self.request.headers.get(
            "api-key", "")
        if got == want:
            return True
        shown = got if self.server.quirks.echo_key_in_errors else (got[:3] + "***")
        self.send_json(_error_body(f"Incorrect API key provided: {shown}. You can find your API "
                                   "key at https://platform.openai.com/account/api-keys.",
                                   code="invalid_api_key"), 401)
        return False


class ModelsHandler(_Base):
    def get(self) -> None:
        if not self.check_key():
            return
        q = self.server.quirks
        if not q.models_endpoint:
            self.send_json(_error_body("Not found", code="not_found"), 404)
            return
        self.send_json({"object": "list", "data": [
            {"id": m, "object": "model", "created": 0, "owned_by": "scripted"} for m in q.models]})


class ChatHandler(_Base):
    async def post(self, deployment: Optional[str] = None) -> None:
        body = self.json_body if isinstance(self.json_body, dict) else {}
        self.server.requests.append(body)
        if not self.check_key():
            return
        rejection = self.quirk_rejection(body, deployment)
        if rejection:
            status, err = rejection
            self.send_json(err, status)
            return
        reply = self.server.next_reply(body)
        try:
            await self.answer(body, reply, deployment)
        except tornado.iostream.StreamClosedError:
            self.mark("disconnected_at")
        except _Stop:
            pass

    # -- request validation the way real servers do it -------------------------
    def quirk_rejection(self, body: dict, deployment: Optional[str]) -> Optional[tuple[int, dict]]:
        q = self.server.quirks
        model = deployment or body.get("model")
        if not model or not isinstance(body.get("messages"), list):
            return 400, _error_body("you must provide a model parameter and messages",
                                    param="model")
        if q.strict_schema:
            rejected = _strict_schema_rejection(body)
            if rejected:
                return rejected
        if q.strict_tool_ids:
            problem = _tool_pairing_problem(body["messages"])
            if problem:
                return 400, _error_body(problem, param="messages")
        if q.reject_stream_options and "stream_options" in body:
            return 400, _error_body("Unrecognized request argument supplied: stream_options")
        if "tool_choice" in body and body["tool_choice"] is None and q.reject_tool_choice_null:
            return 400, _error_body("Invalid value for 'tool_choice': expected one of none, "
                                    "auto, required or an object, got null.", param="tool_choice")
        if q.reject_empty_tools and body.get("tools") == []:
            return 400, _error_body("[] is too short - 'tools'", param="tools")
        if q.reject_tools and "tools" in body:
            style = q.reject_tools if isinstance(q.reject_tools, str) else "ollama"
            if style == "llamacpp":
                return 500, {"error": {"code": 500, "message": "tools param requires --jinja flag",
                                       "type": "server_error"}}
            if style == "vllm":
                return 400, {"object": "error", "message": '"auto" tool choice requires '
                             "--enable-auto-tool-choice and --tool-call-parser to be set",
                             "type": "BadRequestError", "param": None, "code": 400}
            return 400, _error_body(f"registry.ollama.ai/library/{model} does not support tools",
                                    type="api_error")
        if q.reasoning:
            if "max_tokens" in body:
                return 400, _error_body("Unsupported parameter: 'max_tokens' is not supported "
                                        "with this model. Use 'max_completion_tokens' instead.",
                                        code="unsupported_parameter", param="max_tokens")
            if "temperature" in body and body["temperature"] not in (None, 1, 1.0):
                return 400, _error_body(f"Unsupported value: 'temperature' does not support "
                                        f"{body['temperature']} with this model. Only the default "
                                        "(1) value is supported.", code="unsupported_value",
                                        param="temperature")
        if q.strict_model and deployment is None and model not in q.models:
            return 404, _error_body(f"The model `{model}` does not exist or you do not have "
                                    "access to it.", code="model_not_found")
        return None

    # -- answering -------------------------------------------------------------
    async def sleep(self, seconds: float) -> None:
        """Sleep, but end early when the server is reset or stopped."""
        gen = self.server.hang_generation()
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if self.server.hang_generation() != gen:
                raise _Stop()
            await asyncio.sleep(min(0.02, max(0.0, end - time.monotonic())))

    async def answer(self, body: dict, reply: Reply, deployment: Optional[str]) -> None:
        q = self.server.quirks
        model = reply.get("model") or deployment or body.get("model") or DEFAULT_MODEL
        err = reply.get("error")
        if reply.get("hang") and not reply.get("hang_after_chunks"):
            await self.sleep(float(reply["hang"]))
        if err:
            payload = err.get("body")
            if payload is None:
                payload = _error_body(err.get("message", "error"), err.get("type"),
                                      err.get("code"), err.get("param"))
            self.set_status(int(err.get("status", 500)))
            for k, v in (err.get("headers") or {}).items():
                self.set_header(k, str(v))
            if isinstance(payload, (dict, list)):
                self.set_header("Content-Type", "application/json")
                payload = json.dumps(payload)
            self.finish(payload)
            return

        calls = self.number_calls(reply.get("tool_calls") or [])
        content = reply.get("text") or ""
        finish = reply.get("finish_reason") or ("tool_calls" if calls else "stop")
        usage = reply.get("usage") or {
            "prompt_tokens": _estimate(body.get("messages")) + (_estimate(body["tools"])
                                                               if body.get("tools") else 0),
            "completion_tokens": _estimate(content + "".join(c["arguments"] for c in calls))}
        usage = {**usage, "total_tokens": usage["prompt_tokens"] + usage["completion_tokens"]}
        cid = "chatcmpl-" + uuid.uuid4().hex[:24]
        created = int(time.time())

        if not body.get("stream"):
            await self.answer_plain(reply, cid, created, model, content, calls, finish, usage)
            return

        include_usage = bool((body.get("stream_options") or {}).get("include_usage")) \
            and q.stream_usage
        delay = float(reply.get("delay") or q.chunk_delay or 0)
        self.set_header("Content-Type", "text/event-stream; charset=utf-8")
        self.set_header("Cache-Control", "no-cache")
        self.set_header("Connection", "keep-alive")

        def chunk(delta: dict, finish_reason: Optional[str] = None) -> dict:
            c = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                 "system_fingerprint": "fp_scripted",
                 "choices": [{"index": 0, "delta": delta, "logprobs": None,
                              "finish_reason": finish_reason}]}
            if include_usage:
                c["usage"] = None
            return c

        events: list[Any] = []  # dicts to send, or markers ("cut", "hang", "error")
        events.append(chunk({"role": "assistant", "content": None if (calls and not content)
                             else "", "refusal": None}))
        if reply.get("reasoning"):
            for piece in _split_text(reply["reasoning"], reply.get("chunk_size")):
                events.append(chunk({"reasoning_content": piece}))
        pieces = _split_text(content, reply.get("chunk_size"))
        for i, piece in enumerate(pieces):
            events.append(chunk({"content": piece}))
            if reply.get("cut") == "text" and i == len(pieces) // 2:
                events.append("cut")
        for i, c in enumerate(calls):
            header: dict = {"type": "function", "function": {"name": c["name"], "arguments": ""}}
            if q.tool_call_index:
                header = {"index": i, **header}
            if c.get("id") is not None:
                header["id"] = c["id"]
            args = c["arguments"]
            if q.tool_call_style == "single_chunk":
                header["function"]["arguments"] = args
                events.append(chunk({"tool_calls": [header]}))
                continue
            events.append(chunk({"tool_calls": [header]}))
            frags = _split_args(args)
            for j, frag in enumerate(frags):
                d: dict = {"function": {"arguments": frag}}
                if q.tool_call_index:
                    d = {"index": i, **d}
                events.append(chunk({"tool_calls": [d]}))
                if reply.get("cut") == "tool_call" and i == 0 and j == len(frags) // 2:
                    events.append("cut")
        if q.finish_reason:
            events.append(chunk({}, finish))
        if include_usage:
            events.append({"id": cid, "object": "chat.completion.chunk", "created": created,
                           "model": model, "system_fingerprint": "fp_scripted", "choices": [],
                           "usage": {**usage, "prompt_tokens_details": {"cached_tokens": 0},
                                     "completion_tokens_details": {"reasoning_tokens": 0}}})
        if reply.get("hang_after_chunks"):
            events.insert(int(reply["hang_after_chunks"]), "hang")
        if reply.get("stream_error"):
            events.insert(int(reply.get("stream_error_after", 1)),
                          {"error": reply["stream_error"]})
            events = events[:int(reply.get("stream_error_after", 1)) + 1]

        for ev in events:
            if ev == "cut":
                await self.flush()
                self.detach().close()  # mid-body: the client sees an incomplete chunked body
                return
            if ev == "hang":
                await self.flush()
                await self.sleep(float(reply["hang"]))
                continue
            self.write(f"data: {json.dumps(ev)}\n\n".encode())
            await self.flush()
            if delay:
                await self.sleep(delay)
        if not reply.get("stream_error"):
            self.write(b"data: [DONE]\n\n")
        self.finish()

    async def answer_plain(self, reply: Reply, cid: str, created: int, model: str, content: str,
                           calls: list[dict], finish: str, usage: dict) -> None:
        message: dict = {"role": "assistant", "content": content or None, "refusal": None}
        if calls:
            message["tool_calls"] = [
                {k: v for k, v in {"id": c.get("id"), "type": "function",
                                   "function": {"name": c["name"], "arguments": c["arguments"]}
                                   }.items() if v is not None or k != "id"}
                for c in calls]
        resp = {"id": cid, "object": "chat.completion", "created": created, "model": model,
                "system_fingerprint": "fp_scripted",
                "choices": [{"index": 0, "message": message, "logprobs": None,
                             "finish_reason": finish}], "usage": usage}
        data = json.dumps(resp).encode()
        if reply.get("cut"):
            self.set_header("Content-Length", str(len(data)))
            self.write(data[: len(data) // 2])
            await self.flush()
            self.detach().close()
            return
        self.set_header("Content-Type", "application/json")
        self.finish(data)

    def number_calls(self, calls: list[dict]) -> list[dict]:
        """Give each call its id (per the id quirk) and JSON-encode dict arguments."""
        mode = self.server.quirks.tool_call_ids
        out = []
        for i, c in enumerate(calls):
            args = c.get("arguments", "")
            if not isinstance(args, str):
                args = json.dumps(args)
            cid = c.get("id") or "call_" + uuid.uuid4().hex[:24]
            if mode == "missing":
                cid = None
            elif mode == "empty":
                cid = ""
            elif mode == "repeated":
                cid = "call_0"
            out.append({"name": c["name"], "arguments": args, "id": cid})
        return out


class ControlHandler(_Base):
    def get(self, what: str) -> None:
        if what == "requests":
            self.send_json({"requests": self.server.requests, "log": self.server.log})
        elif what == "quirks":
            self.send_json(asdict(self.server.quirks))
        else:
            self.send_json({"error": f"unknown control {what}"}, 404)

    def post(self, what: str) -> None:
        body = self.json_body
        s = self.server
        try:
            if what == "reset":
                s.reset()
            elif what == "quirks":
                s.set_quirks(**(body or {}))
            elif what == "script":
                if isinstance(body, list):
                    s.set_script(*body)
                elif isinstance(body, dict):
                    if body.get("scenario"):
                        s.use_scenario(body["scenario"])
                    if "quirks" in body:
                        s.set_quirks(**body["quirks"])
                    if "replies" in body:
                        (s.add if body.get("append") else s.set_script)(*body["replies"])
                else:
                    raise ValueError("script must be a list of replies or an object")
            else:
                self.send_json({"error": f"unknown control {what}"}, 404)
                return
        except (ValueError, KeyError, TypeError) as e:
            self.send_json({"error": str(e)}, 400)
            return
        self.send_json({"ok": True, "script_length": len(s.script),
                        "scenario": getattr(s.responder, "__name__", None)})


def _make_app(server: ScriptedModelServer) -> tornado.web.Application:
    kw = {"server": server}
    return tornado.web.Application([
        (r"/(?:v1/)?chat/completions", ChatHandler, kw),
        (r"/openai/deployments/([^/]+)/chat/completions", ChatHandler, kw),
        (r"/(?:v1/|openai/)?models", ModelsHandler, kw),
        (r"/_control/(\w+)", ControlHandler, kw),
    ])


def main(argv: Optional[list[str]] = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, default=8999)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--scenario", choices=sorted(SCENARIOS), default=None,
                   help="answer every request with this rule-based scenario")
    p.add_argument("--quirks", default="{}", help="JSON object of quirks")
    p.add_argument("--solutions", metavar="SUITE", default=None,
                   help="answer each task of a native suite folder (or 'builtin') with its reference "
                        "solution, then with what the cell printed: the eval harness's plumbing check")
    a = p.parse_args(argv)
    server = ScriptedModelServer(a.port, a.host)
    server.default_quirks = json.loads(a.quirks)
    server.default_responder = SCENARIOS[a.scenario] if a.scenario else None
    if a.solutions:
        server.default_responder = solutions_responder(suite_solutions(a.solutions))
    server.reset()
    server.start()
    print(f"scripted model listening at {server.base_url}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
