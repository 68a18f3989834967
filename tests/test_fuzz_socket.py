"""Property-based fuzzing of the chat socket: at least 5,000 malformed, wrongly typed and
oversized frames against one real jupyter server. Each frame gets exactly one ``error``
reply (never ``internal``: that would be an unhandled exception), the socket stays open,
and the server keeps serving.

What counts as malformed is built, not guessed: a frame is random text, a JSON value
that is not a message, or one of the six client messages with exactly one thing broken
(a required field dropped, a field of the wrong type, an unknown field, an unknown type,
a path outside the root, a bad chat id, an empty or oversized prompt, an approval nobody
asked for, a stop for a chat that is not running). Valid messages are not sent here:
they do things (start turns, delete chats) and are covered elsewhere.

Frames above the socket limit close the socket with 1009 (test_faults_socket.py).
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
import websocket  # websocket-client: a plain blocking client keeps 5,000 round trips cheap
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jupyterlab_codeinterp.chat.service import MAX_MESSAGE_BYTES
from jupyterlab_codeinterp.protocol import CLIENT_MESSAGES
from server_fixtures import jupyter_server  # noqa: F401  (module-scoped real server)

EXAMPLES = 5200
ALLOWED_CODES = {"bad_message", "bad_path", "not_running", "not_found"}
SENT: list[int] = [0]

# ---------------------------------------------------------------- what a valid message looks like

BASE: dict[str, dict[str, Any]] = {
    "prompt": {"type": "prompt", "id": "fz", "chat_id": "fuzzchat", "notebook_path": "fz.ipynb", "text": "hi",
               "mode": "chat", "cell_id": None, "model": None, "auto_run": None},
    "stop": {"type": "stop", "id": "fz", "chat_id": "fuzzchat"},
    "executor_reply": {"type": "executor_reply", "request_id": "r1", "ok": True, "result": {}, "error": None},
    "approval_reply": {"type": "approval_reply", "step_id": "s1", "decision": "run", "code": None},
    "history_request": {"type": "history_request", "id": "fz", "notebook_path": "fz.ipynb", "chat_id": None},
    "delete_chat": {"type": "delete_chat", "id": "fz", "notebook_path": "fz.ipynb", "chat_id": "fuzzchat"},
}
assert set(BASE) == {m.model_fields["type"].default for m in CLIENT_MESSAGES}, "a new message type needs fuzzing"

REQUIRED = {name: [f for f, info in next(m for m in CLIENT_MESSAGES if m.model_fields["type"].default == name)
                   .model_fields.items() if info.is_required()] for name in BASE}

KIND = {  # field -> its type family, to pick values pydantic will not coerce into it
    "id": "optstr", "chat_id": "str", "notebook_path": "str", "text": "str", "mode": "mode",
    "cell_id": "optstr", "model": "optstr", "auto_run": "optbool", "request_id": "str", "ok": "bool",
    "result": "optdict", "error": "optstr", "step_id": "str", "decision": "decision", "code": "optstr",
}

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=30))
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)), max_leaves=12)
not_str = st.one_of(st.integers(), st.floats(allow_nan=False), st.booleans(), st.lists(scalars, max_size=3),
                    st.dictionaries(st.text(max_size=5), scalars, max_size=3))
not_bool = st.one_of(st.sampled_from(["maybe", "2", "", "nope"]), st.integers(min_value=2),
                     st.lists(scalars, max_size=2), st.dictionaries(st.text(max_size=5), scalars, max_size=2),
                     st.floats(min_value=0.01, max_value=0.99))
not_dict = st.one_of(st.integers(), st.text(max_size=20), st.lists(scalars, max_size=3), st.booleans())


def wrong_value(kind: str) -> st.SearchStrategy:
    if kind in ("str", "optstr"):
        return not_str
    if kind in ("bool", "optbool"):
        return not_bool
    if kind == "optdict":
        return not_dict
    if kind == "mode":
        return st.one_of(st.text(max_size=12).filter(lambda s: s not in ("chat", "fix", "generate")), not_str)
    if kind == "decision":
        return st.one_of(st.text(max_size=12).filter(lambda s: s not in ("run", "skip", "accept", "reject")), not_str)
    raise AssertionError(kind)


bad_paths = st.one_of(
    st.sampled_from(["../x.ipynb", "../../etc/passwd", "/etc/passwd", "a/../../b.ipynb", "..", "\\..\\x.ipynb",
                     "C:/Windows/x.ipynb", "a\x00b.ipynb", "", "   ", "..\\..\\x"]),
    st.builds(lambda n, tail: "../" * n + tail, st.integers(1, 30), st.text(max_size=20)),
    st.text(min_size=4097, max_size=5000),
)
bad_chat_ids = st.one_of(
    st.text(min_size=1, max_size=40).filter(lambda s: not all(c.isascii() and (c.isalnum() or c in "-_") for c in s)),
    st.text(alphabet="abc", min_size=65, max_size=100), st.just(""), st.just("../../x"),
)


@st.composite
def mutated(draw) -> str:
    name = draw(st.sampled_from(sorted(BASE)))
    msg = dict(BASE[name])
    msg["id"] = msg.get("id") and f"fz-{uuid.uuid4().hex[:6]}"
    if "id" not in BASE[name]:
        msg.pop("id", None)
    how = draw(st.sampled_from(["drop", "wrong_type", "extra", "bad_type", "semantic"]))
    if how == "drop" and REQUIRED[name] and REQUIRED[name] != ["type"]:
        field = draw(st.sampled_from([f for f in REQUIRED[name] if f != "type"]))
        msg.pop(field)
    elif how == "wrong_type" or (how == "drop"):
        field = draw(st.sampled_from([f for f in msg if f != "type"]))
        msg[field] = draw(wrong_value(KIND[field]))
    elif how == "extra":
        key = draw(st.text(min_size=1, max_size=15).filter(lambda k: k not in msg))
        msg[key] = draw(json_values)
    elif how == "bad_type":
        msg["type"] = draw(st.one_of(st.text(max_size=20).filter(lambda t: t not in BASE), not_str))
    else:
        return json.dumps(semantic(draw, name, msg))
    return json.dumps(msg)


def semantic(draw, name: str, msg: dict) -> dict:
    """Well-typed but wrong: every path/id/content check of the server."""
    if name == "prompt":
        which = draw(st.sampled_from(["path", "chat_id", "empty", "long", "fix"]))
        if which == "path":
            msg["notebook_path"] = draw(bad_paths)
        elif which == "chat_id":
            msg["chat_id"] = draw(bad_chat_ids)
        elif which == "empty":
            msg["text"] = draw(st.sampled_from(["", " ", "\n\t  "]))
        elif which == "long":
            msg["text"] = "x" * draw(st.integers(100_001, 120_000))
        else:
            msg["mode"] = draw(st.sampled_from(["fix", "generate"]))
            msg["cell_id"] = None
        return msg
    if name in ("history_request", "delete_chat"):
        if draw(st.booleans()) or name == "history_request" and msg.get("chat_id") is None:
            msg["notebook_path"] = draw(bad_paths)
        else:
            msg["chat_id"] = draw(bad_chat_ids)
        return msg
    if name == "stop":  # a chat that is not running
        msg["chat_id"] = draw(st.one_of(bad_chat_ids, st.from_regex(r"\Aidle-[a-z0-9]{1,20}\Z")))
        return msg
    if name == "approval_reply":  # nobody is waiting for it
        msg["step_id"] = draw(st.text(max_size=30))
        return msg
    # executor_reply: the only way to break it and still be well typed is the shape
    msg["request_id"] = draw(not_str)
    return msg


frames = st.one_of(
    mutated(),
    mutated(),
    mutated(),
    st.text(max_size=300).filter(lambda t: not _looks_valid(t)),
    json_values.map(json.dumps).filter(lambda t: not _looks_valid(t)),
    st.binary(max_size=200).map(lambda b: ("binary", b)),
    st.integers(1_000, 30_000).map(lambda n: "[" * n),  # deep nesting
    st.integers(100_001, 150_000).map(lambda n: json.dumps({"type": "prompt", "chat_id": "c", "text": "x" * n,
                                                            "notebook_path": "fz.ipynb"})),  # oversized prompt
)


def _looks_valid(text: str) -> bool:
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return False
    return isinstance(data, dict) and isinstance(data.get("type"), str) and data["type"] in BASE


# ---------------------------------------------------------------- the test


@pytest.fixture(scope="module")
def sock(jupyter_server):  # noqa: F811
    ws = websocket.create_connection(jupyter_server.url.replace("http://", "ws://") + "codeinterp/chat",
                                     header=[f"Authorization: token {jupyter_server.token}"], timeout=20)
    hello = json.loads(ws.recv())
    assert hello["type"] == "hello"
    yield ws
    ws.close()


def _exchange(ws: websocket.WebSocket, frame: Any) -> dict:
    if isinstance(frame, tuple):
        ws.send_binary(frame[1])
    else:
        ws.send(frame)
    SENT[0] += 1
    reply = json.loads(ws.recv())
    assert reply["type"] == "error", (str(frame)[:300], reply)
    assert reply["code"] in ALLOWED_CODES, (str(frame)[:300], reply)
    assert reply["message"]
    if isinstance(frame, str):
        try:
            data = json.loads(frame)
        except (ValueError, RecursionError):
            data = None
        if isinstance(data, dict) and isinstance(data.get("id"), str) and data["id"].startswith("fz-") \
                and isinstance(data.get("type"), str) and data["type"] in BASE:
            assert reply["reply_to"] == data["id"], reply
    return reply


def test_fuzz_the_chat_socket(sock, jupyter_server):  # noqa: F811
    started = time.monotonic()

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(frames)
    def one(frame):
        _exchange(sock, frame)

    one()
    assert SENT[0] >= 5000, SENT[0]
    # a few big ones, up to right at the limit: still an error reply each, the socket stays open
    for size in (1 << 20, 4 << 20, MAX_MESSAGE_BYTES - 200):
        _exchange(sock, json.dumps({"type": "stop", "chat_id": "x" * size}))
        _exchange(sock, json.dumps({"type": "prompt", "chat_id": "c", "notebook_path": "fz.ipynb",
                                    "text": "x" * size}))
        _exchange(sock, "[" * size)
    # nothing was left unanswered or answered twice: the next request gets its own reply
    sock.send(json.dumps({"type": "history_request", "id": "last", "notebook_path": "fz.ipynb"}))
    reply = json.loads(sock.recv())
    assert reply["type"] == "history" and reply["reply_to"] == "last"
    # the server is up and a new socket works
    ws2 = websocket.create_connection(jupyter_server.url.replace("http://", "ws://") + "codeinterp/chat",
                                      header=[f"Authorization: token {jupyter_server.token}"], timeout=20)
    assert json.loads(ws2.recv())["type"] == "hello"
    ws2.close()
    log = jupyter_server.log()
    assert "chat message failed" not in log and "Traceback" not in log
    print(f"\n[fuzz] {SENT[0]} frames, each answered with an error, in {time.monotonic() - started:.1f} s")
