"""A chat belongs to its notebook, not to its file name: two real jupyter servers started in
two folders, each with its own ``t.ipynb``, share one history folder (one user's jupyter
data dir) and each sees only its own chat; renames and moves through the contents REST API
(the way JupyterLab renames) keep the chat, also while a turn is streaming."""

from __future__ import annotations

import json
import os
import uuid
from typing import Any, Optional

import nbformat
import pytest

from hardening_support import Tab, open_tab
from scripted_model import text
from server_fixtures import JupyterServer, qs, start_jupyter_server, stop_jupyter_server


@pytest.fixture(scope="module")
def two_servers(tmp_path_factory, scripted_server_session):
    tmp = tmp_path_factory.mktemp("identity")
    history = str(tmp / "shared-history")
    servers = []
    try:
        for name, data in (("one", "region,amount\nN,1\n"), ("two", "city,temp\nOslo,3\n")):
            srv = start_jupyter_server(str(tmp / name), model_url=scripted_server_session.base_url,
                                       codeinterp={"history_dir": history})
            nbformat.write(nbformat.v4.new_notebook(), os.path.join(srv.root, "t.ipynb"))
            with open(os.path.join(srv.root, f"{name}.csv"), "w") as fh:
                fh.write(data)
            servers.append(srv)
        yield servers
    finally:
        for srv in servers:
            stop_jupyter_server(srv)


async def ask_history(tab: Tab, path: str, chat_id: Optional[str] = None) -> dict[str, Any]:
    """The server's answer to a history request (other messages on the socket are kept)."""
    rid = "h" + uuid.uuid4().hex[:8]
    msg: dict[str, Any] = {"type": "history_request", "id": rid, "notebook_path": path}
    if chat_id:
        msg["chat_id"] = chat_id
    await tab.send(msg)
    while True:
        reply = await tab.next(20)
        if reply.get("reply_to") == rid:
            return reply


async def rename(server: JupyterServer, old: str, new: str) -> None:
    """Rename through the contents REST API, as JupyterLab's file browser does."""
    resp = await server.fetch(f"api/contents/{qs(old)}", method="PATCH", body=json.dumps({"path": new}))
    assert resp.code == 200, resp.body


def said(requests: list[dict], needle: str) -> bool:
    return any(needle in json.dumps(req["messages"]) for req in requests)


async def test_two_projects_with_the_same_notebook_name_keep_their_own_chats(two_servers, scripted_model):
    one, two = two_servers
    tab1, tab2 = await open_tab(one), await open_tab(two)
    try:
        scripted_model.set_script(text("Project one: the amount is 1."))
        end, _ = await tab1.turn("chatOne", "t.ipynb", "what is in one.csv?")
        assert end["status"] == "done"

        # the second project's t.ipynb: no chat to open, and nothing of the first in the model's context
        listed = await ask_history(tab2, "t.ipynb")
        assert listed["chats"] == []
        missing = await ask_history(tab2, "t.ipynb", "chatOne")
        assert missing["type"] == "error" and missing["code"] == "not_found"
        scripted_model.requests.clear()
        scripted_model.set_script(text("Project two: Oslo is 3 degrees."))
        # even a tab that sends the same chat id starts a chat of its own
        end, _ = await tab2.turn("chatOne", "t.ipynb", "what is in two.csv?")
        assert end["status"] == "done" and end["chat_usage"]["total_tokens"] == end["usage"]["total_tokens"]
        assert scripted_model.requests and not said(scripted_model.requests, "one.csv")
        assert not said(scripted_model.requests, "Project one")

        # each server lists and replays only its own
        for tab, mine, theirs in ((tab1, "Project one", "Project two"), (tab2, "Project two", "Project one")):
            listed = await ask_history(tab, "t.ipynb")
            assert [c["id"] for c in listed["chats"]] == ["chatOne"]
            assert listed["chats"][0]["turns"] == 1
            replay = json.dumps((await ask_history(tab, "t.ipynb", "chatOne"))["messages"])
            assert mine in replay and theirs not in replay
    finally:
        tab1.close()
        tab2.close()


async def test_renames_and_moves_through_the_contents_api_keep_the_chat(two_servers, scripted_model):
    one, two = two_servers
    nbformat.write(nbformat.v4.new_notebook(), os.path.join(one.root, "r.ipynb"))
    nbformat.write(nbformat.v4.new_notebook(), os.path.join(two.root, "r.ipynb"))
    tab = await open_tab(one)
    try:
        scripted_model.set_script(text("FIRST-ANSWER"))
        await tab.turn("rc", "r.ipynb", "first question")

        await rename(one, "r.ipynb", "renamed.ipynb")
        listed = await ask_history(tab, "renamed.ipynb")
        assert [c["id"] for c in listed["chats"]] == ["rc"]
        assert (await ask_history(tab, "r.ipynb"))["chats"] == []
        # the conversation goes on under the new name, with its history as context
        scripted_model.requests.clear()
        scripted_model.set_script(text("SECOND-ANSWER"))
        end, _ = await tab.turn("rc", "renamed.ipynb", "second question")
        assert end["turn"] == 2
        assert said(scripted_model.requests, "FIRST-ANSWER")

        # into a subfolder (the folder made through the API too), then the folder renamed
        resp = await one.fetch(f"api/contents/{qs('sub')}", method="PUT", body=json.dumps({"type": "directory"}))
        assert resp.code in (200, 201), resp.body
        await rename(one, "renamed.ipynb", "sub/renamed.ipynb")
        assert [c["id"] for c in (await ask_history(tab, "sub/renamed.ipynb"))["chats"]] == ["rc"]
        await rename(one, "sub", "analysis")
        listed = await ask_history(tab, "analysis/renamed.ipynb")
        assert [(c["id"], c["turns"]) for c in listed["chats"]] == [("rc", 2)]
        replay = json.dumps((await ask_history(tab, "analysis/renamed.ipynb", "rc"))["messages"])
        assert "FIRST-ANSWER" in replay and "SECOND-ANSWER" in replay
        # deleted through the API, then a new notebook under the same name: it starts afresh
        resp = await one.fetch(f"api/contents/{qs('analysis/renamed.ipynb')}", method="DELETE")
        assert resp.code == 204, resp.body
        resp = await one.fetch(f"api/contents/{qs('analysis/renamed.ipynb')}", method="PUT",
                               body=json.dumps({"type": "notebook", "content": nbformat.v4.new_notebook()}))
        assert resp.code in (200, 201), resp.body
        assert (await ask_history(tab, "analysis/renamed.ipynb"))["chats"] == []
        # the other project's r.ipynb, never renamed, has no chat
        tab2 = await open_tab(two)
        try:
            assert (await ask_history(tab2, "r.ipynb"))["chats"] == []
        finally:
            tab2.close()
    finally:
        tab.close()


async def test_rename_while_a_turn_streams_keeps_the_whole_turn(two_servers, scripted_model):
    one, _two = two_servers
    nbformat.write(nbformat.v4.new_notebook(), os.path.join(one.root, "live.ipynb"))
    tab, watcher = await open_tab(one), await open_tab(one)
    try:
        scripted_model.set_script(text("x" * 80 + " STREAMED-TO-THE-END", chunk_size=2, delay=0.05))
        await tab.prompt("lv", "live.ipynb", "long answer please")
        await tab.serve_until({"text_delta"})
        await ask_history(watcher, "live.ipynb", "lv")  # another tab shows the running chat
        await rename(one, "live.ipynb", "moved-live.ipynb")
        # a tab opened after the rename, asking with the new name, gets the running turn's
        # live log (streamed text so far) and then the rest of the turn
        late = await open_tab(one)
        replay = (await ask_history(late, "moved-live.ipynb", "lv"))["messages"]
        assert replay[0]["type"] == "turn_start" and any(m["type"] == "text_delta" for m in replay)
        end = await tab.serve_until({"turn_end"})
        assert end["status"] == "done"
        if replay[-1]["type"] != "turn_end":
            while (msg := await late.next(20))["type"] != "turn_end":
                pass
        late.close()
        # the watching tab saw the turn end although the notebook was renamed under it
        while (msg := await watcher.next(20))["type"] != "turn_end":
            pass
        assert msg["chat_id"] == "lv"
        listed = await ask_history(tab, "moved-live.ipynb")
        assert [(c["id"], c["turns"]) for c in listed["chats"]] == [("lv", 1)]
        replay = (await ask_history(tab, "moved-live.ipynb", "lv"))["messages"]
        assert replay[-1]["type"] == "turn_end" and "STREAMED-TO-THE-END" in json.dumps(replay)
        assert (await ask_history(tab, "live.ipynb"))["chats"] == []
        shared = os.path.join(os.path.dirname(os.path.dirname(one.root)), "shared-history")
        files = [f for _d, _s, names in os.walk(shared) for f in names if f == "lv.json"]
        assert files == ["lv.json"]  # one copy, not one per name
    finally:
        tab.close()
        watcher.close()
