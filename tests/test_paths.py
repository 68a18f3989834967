"""Every path parameter stays inside the server root: the context route, the chat's
notebook_path (prompt, history, delete), the read_file tool, the history store; and uploads
above jupyter_server's request-body limit are refused.

(test_server.py checks three traversals on the context route and one on a prompt; this file
covers the rest: encodings, symlinks, every message that carries a path, the tools.)
"""

from __future__ import annotations

import json
import os
from urllib.parse import quote

import pytest
import tornado.iostream

from hardening_support import CollectingSink, open_tab, server_with
from jupyterlab_codeinterp.agent.loop import Agent, Turn
from jupyterlab_codeinterp.executors.headless import HeadlessExecutor
from jupyterlab_codeinterp.llm.client import ModelClient
from jupyterlab_codeinterp.paths import PathError, resolve_notebook_path
from scripted_model import call, text, tool_calls
from server_fixtures import stop_jupyter_server

UPLOAD_LIMIT = 2 * 1024 * 1024
SECRET = "TOPSECRET-outside-the-root"

TRAVERSALS = [
    "../x.ipynb", "../../etc/passwd", "/etc/passwd", "a/../../x.ipynb", "..", "../",
    "..\\x.ipynb", "a\\..\\..\\x.ipynb", "C:/x.ipynb", "C:\\x.ipynb", "//server/share/x.ipynb",
    "./../x.ipynb", "a/./../../x.ipynb", "x.ipynb\x00.txt", "outlink/nb.ipynb", "outlink",
    "a/" * 2100 + "x.ipynb",
]


@pytest.fixture(scope="module")
def server(tmp_path_factory, scripted_server_session):
    tmp = tmp_path_factory.mktemp("paths")
    srv = server_with(str(tmp), scripted_server_session.base_url, f"--ServerApp.max_body_size={UPLOAD_LIMIT}")
    outside = tmp / "outside"
    outside.mkdir()
    (outside / "nb.ipynb").write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    (outside / "secret.txt").write_text(SECRET)
    os.symlink(outside, os.path.join(srv.root, "outlink"))
    yield srv
    stop_jupyter_server(srv)


def test_resolve_notebook_path_rejects_every_traversal(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "outside").mkdir()
    os.symlink(tmp_path / "outside", root / "outlink")
    for bad in TRAVERSALS + ["", "   "]:
        with pytest.raises(PathError):
            resolve_notebook_path(str(root), bad)
    assert resolve_notebook_path(str(root), "a/../b.ipynb") == "b.ipynb"
    assert resolve_notebook_path(str(root), "sub dir/ü.ipynb") == "sub dir/ü.ipynb"


async def test_context_route_rejects_traversal(server):
    for bad in TRAVERSALS:
        resp = await server.fetch("codeinterp/context?path=" + quote(bad, safe=""))
        if "\x00" in bad:  # tornado strips control characters from query arguments: a plain name
            assert resp.code in (200, 400) and SECRET not in resp.body.decode()
            continue
        assert resp.code == 400, (bad, resp.code)
        # encoded twice, it is a strange but harmless literal name inside the root
        resp = await server.fetch("codeinterp/context?path=" + quote(quote(bad, safe=""), safe=""))
        assert resp.code in (200, 400) and SECRET not in resp.body.decode()
    # the symlinked folder's files never show up in a legitimate context either
    resp = await server.fetch("codeinterp/context?path=ok.ipynb")
    assert resp.code == 200 and SECRET not in resp.body.decode() and "secret.txt" not in resp.body.decode()


async def test_chat_messages_reject_traversal(server, scripted_model):
    tab = await open_tab(server)
    try:
        for bad in TRAVERSALS:
            for msg in ({"type": "prompt", "id": "p", "chat_id": "c1", "notebook_path": bad, "text": "hi"},
                        {"type": "history_request", "id": "h", "notebook_path": bad},
                        {"type": "history_request", "id": "h", "notebook_path": bad, "chat_id": "c1"},
                        {"type": "delete_chat", "id": "d", "notebook_path": bad, "chat_id": "c1"}):
                await tab.send(msg)
                reply = await tab.next(10)
                assert reply["type"] == "error" and reply["code"] == "bad_path", (bad, msg["type"], reply)
                assert reply["reply_to"] == msg["id"]
        # chat ids are names, never paths
        for bad_id in ("../x", "..", "a/b", "a\\b", ".hidden", "x" * 65, ""):
            await tab.send({"type": "history_request", "id": "h", "notebook_path": "ok.ipynb", "chat_id": bad_id})
            reply = await tab.next(10)
            assert reply["type"] == "error" and reply["code"] == "bad_message", (bad_id, reply)
        assert scripted_model.requests == []  # no turn ever started
    finally:
        tab.close()


async def test_history_files_stay_in_the_history_dir(server, scripted_model):
    """Odd but legal notebook paths become hashed folder names under history_dir."""
    before = set(os.listdir(server.root))
    tab = await open_tab(server)
    try:
        for path in ("sub dir/ü nb.ipynb", "a/../weird name.ipynb", "..hidden.ipynb", "x/.. y/z.ipynb"):
            scripted_model.set_script(text("ok"))
            end, _ = await tab.turn("h1", path, "hello")
            assert end["status"] == "done", path
    finally:
        tab.close()
    assert set(os.listdir(server.root)) == before  # nothing written into the root
    history = os.path.realpath(server.history_dir)
    for folder, _dirs, files in os.walk(history):
        for name in files:
            assert os.path.realpath(os.path.join(folder, name)).startswith(history + os.sep)
            assert name in ("h1.json", ".notebook.json")  # the chat, and where its notebook is
    assert len(os.listdir(history)) == 4


async def test_read_file_tool_stays_inside_the_root(tmp_path, scripted_model, scripted_config):
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (root / "ok.txt").write_text("fine line 1\nfine line 2\n")
    (tmp_path / "secret.txt").write_text(SECRET)
    os.symlink(tmp_path / "secret.txt", root / "sub" / "link.txt")
    os.symlink(tmp_path, root / "sub" / "updir")
    executor = HeadlessExecutor(str(root / "sub" / "nb.ipynb"), root_dir=str(root))
    await executor.start()
    paths = ["../../secret.txt", str(tmp_path / "secret.txt"), "link.txt", "updir/secret.txt",
             "../ok.txt", "~/../../" + str(tmp_path / "secret.txt").lstrip("/")]
    scripted_model.set_script(tool_calls(*[call("read_file", {"path": p}) for p in paths]), text("read"))
    client = ModelClient(scripted_config)
    try:
        result = await Agent(config=scripted_config, model=client, executor=executor, sink=CollectingSink(),
                             root_dir=str(root)).run_turn(
            Turn(chat_id="rf", turn=1, prompt="read", notebook_path="sub/nb.ipynb"), [])
    finally:
        await client.close()
        await executor.close()
    assert result.status == "done"
    tools = [m["content"] for m in scripted_model.requests[1]["messages"] if m["role"] == "tool"]
    assert len(tools) == len(paths)
    for path, content in zip(paths, tools):
        if path == "../ok.txt":
            assert "fine line 1" in content  # inside the root: allowed
        else:
            assert "refused" in content or "no file" in content, (path, content)
    assert SECRET not in json.dumps(scripted_model.requests)


async def test_oversized_upload_is_refused(server):
    """Uploads go through jupyter_server's Contents API (PUT api/contents/PATH). A request body
    above ServerApp.max_body_size (default 512 MiB; 2 MiB in this server) is refused before it
    is read; the server goes on. (Chunked uploads send 1 MiB per request, so this limit is per
    request: the frontend's maxUploadMB setting is what bounds a whole file; see SECURITY.md.)"""
    import base64

    ok = json.dumps({"type": "file", "format": "base64", "content": base64.b64encode(b"x" * 1000).decode()})
    resp = await server.fetch("api/contents/small.bin", method="PUT", body=ok)
    assert resp.code in (200, 201), resp.body
    big = json.dumps({"type": "file", "format": "base64",
                      "content": base64.b64encode(b"x" * (UPLOAD_LIMIT + 1024)).decode()})
    try:
        resp = await server.fetch("api/contents/big.bin", method="PUT", body=big)
    except (BrokenPipeError, ConnectionResetError, tornado.iostream.StreamClosedError):
        pass  # refused before the body was read: the server closed while we were still sending
    else:
        assert resp.code >= 400 and resp.code != 500, resp.code
    assert not os.path.exists(os.path.join(server.root, "big.bin"))
    # traversal through the Contents API is jupyter_server's own check
    resp = await server.fetch("api/contents/..%2F..%2Fevil.bin", method="PUT", body=ok)
    assert resp.code in (400, 404), resp.code
    assert (await server.fetch("codeinterp/config")).code == 200
