"""Socket faults: a tab that closes mid-turn, reconnects, two tabs on one notebook, two chats
at once, frames above the socket limit. Against a real jupyter server subprocess.

The closed-tab test measures (and prints) how long the server takes to drop the model
stream and to free the chat; it asserts only that both happen (timings belong in bench/).
"""

from __future__ import annotations

import asyncio
import json
import time

import pytest
import tornado.iostream
import tornado.websocket

import scripted_model as sm
from hardening_support import errors_of, history_file, open_tab, server_with
from jupyterlab_codeinterp.chat.service import MAX_MESSAGE_BYTES
from scripted_model import run_code, text
from server_fixtures import stop_jupyter_server

NB = "sock.ipynb"


@pytest.fixture(scope="module")
def server(tmp_path_factory, scripted_server_session):
    srv = server_with(str(tmp_path_factory.mktemp("faults-socket")), scripted_server_session.base_url)
    yield srv
    stop_jupyter_server(srv)


@pytest.fixture
def drops(monkeypatch):
    """Times at which the scripted model saw a client drop its streaming connection."""
    seen: list[float] = []
    original = sm.ChatHandler.answer

    async def answer(self, *args, **kwargs):
        try:
            await original(self, *args, **kwargs)
        except tornado.iostream.StreamClosedError:
            seen.append(time.monotonic())
            raise

    monkeypatch.setattr(sm.ChatHandler, "answer", answer)
    return seen


def slow_text(words: int = 400, delay: float = 0.02) -> dict:
    return text(" ".join(f"w{i}" for i in range(words)), chunk_size=6, delay=delay)


async def _until(pred, timeout: float = 15.0, step: float = 0.01) -> float:
    start = time.monotonic()
    while not pred():
        if time.monotonic() - start > timeout:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(step)
    return time.monotonic() - start


async def test_tab_closes_mid_turn_server_drops_stream_and_frees_chat(server, scripted_model, drops):
    scripted_model.set_script(slow_text())
    tab = await open_tab(server)
    await tab.prompt("closing", NB, "a long answer please")
    await tab.serve_until({"text_delta"})
    closed_at = time.monotonic()
    tab.close()

    # the server cancels the turn: the model sees its stream dropped
    await _until(lambda: bool(drops))
    dropped_after = drops[0] - closed_at

    # ... and the chat is free again: a new tab's prompt in the same chat is accepted
    scripted_model.set_script(text("fresh answer"))
    tab2 = await open_tab(server)
    try:
        freed_after = None
        while freed_after is None:
            await tab2.prompt("closing", NB, "again")
            msg = await tab2.serve_until({"turn_start", "error"})
            if msg["type"] == "turn_start":
                freed_after = time.monotonic() - closed_at
            else:
                assert msg["code"] == "busy", msg
                assert time.monotonic() - closed_at < 15, "the chat stayed busy"
                await asyncio.sleep(0.02)
        end = await tab2.serve_until({"turn_end"})
        assert end["status"] == "done" and end["answer"] == "fresh answer"
    finally:
        tab2.close()
    print(f"\n[closed tab] model stream dropped after {dropped_after * 1000:.0f} ms; "
          f"chat free after {freed_after * 1000:.0f} ms")
    # the stream was not read to its end: ~400 chunks at 20 ms would take 8 s
    assert len(drops) == 1

    chat = history_file(server, "closing")
    ends = [m for m in chat["display"] if m["type"] == "turn_end"]
    assert [e["status"] for e in ends] == ["stopped", "done"]
    partial = [m for m in chat["display"] if m["type"] == "text_delta" and m["turn"] == 1]
    assert partial and partial[0]["text"].startswith("w0 w1")


async def test_reconnect_finds_the_history(server, scripted_model):
    scripted_model.set_script(text("first answer"))
    tab = await open_tab(server)
    end, _ = await tab.turn("recon", NB, "hello")
    assert end["status"] == "done"
    tab.close()
    tab = await open_tab(server)
    try:
        await tab.send({"type": "history_request", "id": "h", "notebook_path": NB})
        listing = await tab.serve_until({"history"})
        assert "recon" in [c["id"] for c in listing["chats"]]
        await tab.send({"type": "history_request", "id": "h2", "notebook_path": NB, "chat_id": "recon"})
        chat = await tab.serve_until({"history"})
        kinds = [m["type"] for m in chat["messages"]]
        assert kinds[0] == "turn_start" and kinds[-1] == "turn_end"
        assert any(m.get("text") == "first answer" for m in chat["messages"])
        # and the conversation goes on where it was
        scripted_model.set_script(lambda req: text(f"{len(req['messages'])} messages"))
        end, _ = await tab.turn("recon", NB, "and now?")
        assert end["answer"] == "4 messages"  # system, first request, first answer, this request
    finally:
        tab.close()


async def test_two_tabs_on_one_notebook(server, scripted_model):
    """Same chat from a second tab: 'busy'. Another chat: runs at the same time."""
    scripted_model.set_script(slow_text(200, 0.01), slow_text(100, 0.01))
    a = await open_tab(server)
    b = await open_tab(server)
    try:
        await a.prompt("shared", NB, "long one")
        await a.serve_until({"text_delta"})
        await b.prompt("shared", NB, "me too")
        err = await b.serve_until({"error"})
        assert err["code"] == "busy" and err["chat_id"] == "shared"
        await b.prompt("other", NB, "my own chat")
        await b.serve_until({"text_delta"})
        # both stream at once; A stops its turn, B's finishes
        await a.send({"type": "stop", "chat_id": "shared"})
        end_a = await a.serve_until({"turn_end"})
        end_b = await b.serve_until({"turn_end"})
        assert end_a["status"] == "stopped" and end_b["status"] == "done"
        assert not errors_of(a.received)
        # the stop came from A, but B could have sent it too (one user, one server)
    finally:
        a.close()
        b.close()


def _streamed(messages: list[dict], turn: int) -> str:
    return "".join(m["text"] for m in messages if m["type"] == "text_delta" and m.get("turn") == turn)


async def test_other_tabs_showing_the_chat_see_its_turn_live(server, scripted_model):
    """A tab showing a chat sees a turn another tab runs in it as it happens; a tab that
    opens the chat mid-turn gets the log so far, then the rest; neither runs any cell."""
    scripted_model.set_script(text("first answer"), slow_text(300, 0.01))
    a = await open_tab(server)
    b = await open_tab(server)
    c = None
    try:
        await a.turn("live", NB, "hello")
        # B shows the chat, as the sidebar does when the notebook opens
        await b.send({"type": "history_request", "id": "h", "notebook_path": NB, "chat_id": "live"})
        assert (await b.serve_until({"history"}))["messages"][-1]["type"] == "turn_end"

        a_start = len(a.received)
        await a.prompt("live", NB, "the long one")
        a_done = asyncio.ensure_future(a.serve_until({"turn_end"}))  # A runs the turn
        start = await b.serve_until({"turn_start"})
        assert (start["turn"], start["prompt"]) == (2, "the long one")
        await b.serve_until({"text_delta"})

        # C opens the chat in the middle of the turn
        c = await open_tab(server)
        await c.send({"type": "history_request", "id": "h", "notebook_path": NB, "chat_id": "live"})
        log = (await c.serve_until({"history"}))["messages"]
        assert [m["type"] for m in log if m.get("turn") == 2][0] == "turn_start"
        c_start = len(c.received)

        end_a = await a_done
        end_b = await b.serve_until({"turn_end"})
        end_c = await c.serve_until({"turn_end"})
        assert end_a["status"] == end_b["status"] == end_c["status"] == "done"
        answer = _streamed(a.received[a_start:], 2)
        assert answer.startswith("w0 w1") and answer.endswith("w299")
        assert _streamed(b.received, 2) == answer
        assert _streamed(log, 2) + _streamed(c.received[c_start:], 2) == answer  # no gap, no repeat
        for tab in (b, c):
            assert not [m for m in tab.received if m["type"] in ("executor_request", "approval_request")]
            assert not errors_of(tab.received)
    finally:
        a.close()
        b.close()
        if c is not None:
            c.close()


async def test_two_chats_at_once_in_one_kernel(server, scripted_model):
    kernel_id = await server.start_session("two.ipynb")

    def code_then_answer(name: str):
        def reply(req):
            last = req["messages"][-1]
            if last["role"] == "tool":
                return text(f"{name}: " + last["content"].split("output:\n")[1].split()[0])
            return run_code(f"import time\ntime.sleep(0.3)\n{name} = '{name}-value'\nprint({name})")
        return reply

    p, q = code_then_answer("pchat"), code_then_answer("qchat")
    scripted_model.responder = lambda r: p(r) if "compute pchat" in json.dumps(r["messages"]) else q(r)
    tab = await open_tab(server, kernel_id)
    try:
        await tab.prompt("pchat", "two.ipynb", "compute pchat")
        await tab.prompt("qchat", "two.ipynb", "compute qchat")
        ends = {}
        while len(ends) < 2:
            end = await tab.serve_until({"turn_end"})
            ends[end["chat_id"]] = end
    finally:
        tab.close()
    assert ends["pchat"]["answer"] == "pchat: pchat-value"
    assert ends["qchat"]["answer"] == "qchat: qchat-value"
    assert len(tab.cells) == 2
    for chat_id in ("pchat", "qchat"):
        chat = history_file(server, chat_id)
        steps = [m for m in chat["display"] if m["type"] == "step"]
        assert {s["chat_id"] for s in steps} == {chat_id}


async def test_frame_above_the_socket_limit_closes_with_1009(server, scripted_model):
    """A frame above the limit closes that socket with 1009 (RFC 6455 'message too big')
    before its payload is read (it is not answered with an error: tornado cannot skip a
    payload and carry on); the socket's running turn is stopped and saved; the server
    and other sockets carry on."""
    other = await open_tab(server)
    scripted_model.set_script(slow_text(400, 0.02), text("still here"))
    tab = await open_tab(server)
    await tab.prompt("big", NB, "long answer")
    await tab.serve_until({"text_delta"})
    try:
        await tab.ws.write_message("x" * (MAX_MESSAGE_BYTES + 1))
    except tornado.websocket.WebSocketClosedError:
        pass  # the server closed before the whole frame was sent: that is the point
    while (await asyncio.wait_for(tab.ws.read_message(), 10)) is not None:
        pass
    # the close frame says 1009 "message too big"; a client still busy writing the frame
    # may see the connection reset instead (no close code: 1006 in a browser)
    assert tab.ws.close_code in (1009, None), tab.ws.close_code
    if tab.ws.close_code == 1009:
        assert "too big" in (tab.ws.close_reason or "")
    tab.close()
    # just at the limit: an error reply, the socket stays open
    await other.ws.write_message(json.dumps({"type": "stop", "chat_id": "x", "pad": "y" * (MAX_MESSAGE_BYTES - 100)}))
    err = await other.serve_until({"error"})
    assert err["code"] == "bad_message"
    # the closed socket's turn was stopped and saved; the chat takes a new prompt
    end, _ = await other.turn("big", NB, "again")
    assert end["status"] == "done" and end["answer"] == "still here"
    other.close()
    chat = history_file(server, "big")
    assert [m["status"] for m in chat["display"] if m["type"] == "turn_end"] == ["stopped", "done"]


async def test_tab_closed_while_a_generated_cell_runs_interrupts_it(server, scripted_model):
    """Nobody is left to watch a generated cell of a closed tab: the turn stops (as with Stop)
    and the server interrupts the kernel, so a runaway loop does not burn the kernel for ever.
    The kernel keeps its state."""
    from hardening_support import kernel_eval

    nb = "closing-cell.ipynb"
    kernel_id = await server.start_session(nb)
    await kernel_eval(server, kernel_id, "survivor = 'yes'")
    scripted_model.set_script(run_code("while True:\n    pass"), text("unused"))
    tab = await open_tab(server, kernel_id)
    await tab.prompt("runaway", nb, "spin")
    msg = await tab.next_run_cell()
    kc = tab.kernel_client()
    kc.execute(msg["code"], allow_stdin=False)  # what the browser does before the tab goes
    await asyncio.sleep(0.5)
    tab.ws.close()
    # the kernel comes back to the user: the loop was interrupted
    assert (await kernel_eval(server, kernel_id, "print(survivor)", timeout=20)).strip() == "yes"
    kc.stop_channels()
    await _until(lambda: "runaway" not in json.dumps(
        [m.get("status") for m in history_file(server, "runaway")["display"] if m["type"] == "turn_end"]) and
        any(m["type"] == "turn_end" for m in history_file(server, "runaway")["display"]))
    chat = history_file(server, "runaway")
    assert [m["status"] for m in chat["display"] if m["type"] == "turn_end"] == ["stopped"]
    assert [m["state"] for m in chat["display"] if m["type"] == "step"] == ["running", "interrupted"]
