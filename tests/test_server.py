"""The server extension's routes in a real Jupyter server: auth, config, context, the chat socket."""

from __future__ import annotations

import asyncio
import json
import os

import pytest
import tornado.httpclient
import tornado.websocket

from scripted_model import run_code, text
from server_fixtures import BrowserStandIn, jupyter_server, qs  # noqa: F401  (fixture)

ROUTES = ["codeinterp/config", "codeinterp/context?path=nb.ipynb"]


async def test_routes_refuse_unauthenticated_requests(jupyter_server):
    for route in ROUTES:
        resp = await jupyter_server.fetch(route, token=False)
        assert resp.code in (401, 403), route
        resp = await jupyter_server.fetch(route, token=False, headers={"Authorization": "token wrong"})
        assert resp.code in (401, 403), route
    with pytest.raises(tornado.httpclient.HTTPClientError) as err:
        await jupyter_server.ws(token=False)
    assert err.value.code in (401, 403)
    with pytest.raises(tornado.httpclient.HTTPClientError) as err:
        await jupyter_server.ws(token=False, headers={"Authorization": "token nope"})
    assert err.value.code in (401, 403)


async def _login_cookie(server) -> str:
    login = await server.fetch(f"login?token={server.token}", token=False, follow_redirects=False)
    return "; ".join(c.split(";")[0] for c in login.headers.get_list("Set-Cookie"))


async def test_socket_refuses_cross_origin(jupyter_server):
    """A page on another origin riding on the user's cookie cannot open the chat socket.

    (Token-authenticated requests skip the origin check in jupyter_server by design: a
    token cannot be sent by a foreign page.)"""
    cookie = await _login_cookie(jupyter_server)
    with pytest.raises(tornado.httpclient.HTTPClientError) as err:
        await jupyter_server.ws(token=False, headers={"Cookie": cookie, "Origin": "http://evil.example.com"})
    assert err.value.code == 403
    host = jupyter_server.url.split("/")[2]
    ws = await jupyter_server.ws(token=False, headers={"Cookie": cookie, "Origin": f"http://{host}"})
    assert json.loads(await ws.read_message())["type"] == "hello"
    ws.close()


async def test_xsrf_is_enforced_for_cookie_sessions(jupyter_server):
    """Unsafe methods with a cookie but no XSRF token are refused (jupyter_server's check is on)."""
    cookie = await _login_cookie(jupyter_server)
    resp = await jupyter_server.fetch("codeinterp/config", token=False, method="POST", body="{}",
                                      headers={"Cookie": cookie})
    assert resp.code == 403
    # the same cookie works for a GET
    resp = await jupyter_server.fetch("codeinterp/config", token=False, headers={"Cookie": cookie})
    assert resp.code == 200


async def test_config_never_contains_the_key(jupyter_server):
    resp = await jupyter_server.fetch("codeinterp/config")
    assert resp.code == 200
    data = json.loads(resp.body)
    assert data["model"] == "scripted-model"
    assert data["has_api_key"] is True
    assert "sk-test-SERVERKEY-42" not in resp.body.decode()


async def test_context_route(jupyter_server):
    root = jupyter_server.root
    with open(os.path.join(root, "sales.csv"), "w") as fh:
        fh.write("region,amount\nN,1\nS,2\n")
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell("import pandas as pd\nsales = pd.read_csv('sales.csv')"))
    nbformat.write(nb, os.path.join(root, "ctx.ipynb"))
    kernel_id = await jupyter_server.start_session("ctx.ipynb")
    from jupyter_client import AsyncKernelClient, find_connection_file

    kc = AsyncKernelClient(connection_file=find_connection_file(f"kernel-{kernel_id}.json",
                                                                 path=[jupyter_server.runtime_dir]))
    kc.load_connection_file()
    kc.start_channels()
    await kc.wait_for_ready(timeout=30)
    await kc.execute_interactive("import pandas as pd\nsales = pd.read_csv('sales.csv')", timeout=30)
    kc.stop_channels()

    resp = await jupyter_server.fetch("codeinterp/context?path=" + qs("ctx.ipynb"))
    assert resp.code == 200, resp.body
    data = json.loads(resp.body)
    assert "sales" in data["text"] and "sales.csv" in data["text"]
    assert data["tokens"] > 0
    assert {"variables", "files", "cells", "errors"} <= set(data["parts"])

    # renamed in the browser before the session followed: the session still names the old
    # path, and the kernel the tab runs the notebook on (?kernel=) is taken instead
    os.rename(os.path.join(root, "ctx.ipynb"), os.path.join(root, "renamed.ipynb"))
    resp = await jupyter_server.fetch("codeinterp/context?path=" + qs("renamed.ipynb"))
    assert "no kernel running" in json.loads(resp.body)["text"]
    resp = await jupyter_server.fetch("codeinterp/context?path=" + qs("renamed.ipynb") + "&kernel=" + kernel_id)
    assert "sales: DataFrame" in json.loads(resp.body)["text"]
    # a kernel id that is not one of this server's is ignored
    resp = await jupyter_server.fetch("codeinterp/context?path=" + qs("renamed.ipynb") + "&kernel=not-a-kernel")
    assert "no kernel running" in json.loads(resp.body)["text"]
    for part in data["parts"].values():
        assert "elapsed_ms" in part

    for bad in ("../etc/passwd", "/etc/passwd", "a/../../x.ipynb"):
        resp = await jupyter_server.fetch("codeinterp/context?path=" + qs(bad))
        assert resp.code == 400, bad


async def _connect(server) -> tornado.websocket.WebSocketClientConnection:
    ws = await server.ws()
    hello = json.loads(await ws.read_message())
    assert hello["type"] == "hello" and hello["protocol_version"] == 1
    return ws


async def test_chat_socket_repair_turn_and_history(jupyter_server, scripted_model):
    kernel_id = await jupyter_server.start_session("chat.ipynb")
    bad = "import math\nvalue = math.sqrt(undefined_name)"
    good = "import math\nvalue = math.sqrt(2)\nprint(round(value, 4))"
    scripted_model.set_script(
        run_code(bad),
        lambda req: run_code(good) if "NameError" in req["messages"][-1]["content"] else text("?"),
        lambda req: text("The value is " + req["messages"][-1]["content"].split("output:\n")[1].split()[0]),
    )
    ws = await _connect(jupyter_server)
    browser = BrowserStandIn(jupyter_server, ws, kernel_id)
    try:
        await browser.send({"type": "prompt", "id": "p1", "chat_id": "chat1", "notebook_path": "chat.ipynb",
                            "text": "square root of two"})
        end = await browser.serve_until({"turn_end"})
        assert end["status"] == "done" and end["answer"] == "The value is 1.4142"
        assert end["usage"]["total_tokens"] > 0
        steps = [m for m in browser.received if m["type"] == "step"]
        assert [s["state"] for s in steps] == ["running", "error", "running", "ok"]
        assert steps[-1]["attempt"] == 2
        run_requests = [m for m in browser.received if m["type"] == "executor_request" and m["action"] == "run_cell"]
        assert run_requests[1]["replace_cell_id"] == browser.cells[0]["id"]
        assert run_requests[0]["metadata"]["codeinterp"]["generated"] is True
        assert len(browser.cells) == 1
    finally:
        browser.close()

    # a new connection (page reload) finds the chat in the history
    ws = await _connect(jupyter_server)
    await ws.write_message(json.dumps({"type": "history_request", "id": "h1", "notebook_path": "chat.ipynb"}))
    hist = json.loads(await ws.read_message())
    assert hist["type"] == "history" and hist["chats"][0]["id"] == "chat1"
    await ws.write_message(json.dumps({"type": "history_request", "id": "h2", "notebook_path": "chat.ipynb",
                                       "chat_id": "chat1"}))
    hist = json.loads(await ws.read_message())
    kinds = [m["type"] for m in hist["messages"]]
    assert kinds[0] == "turn_start" and kinds[-1] == "turn_end"
    assert "sk-test-SERVERKEY-42" not in json.dumps(hist)
    ws.close()


async def test_bad_messages_get_error_replies(jupyter_server):
    ws = await _connect(jupyter_server)
    for frame in ["not json", "[]", json.dumps({"type": "nope"}), json.dumps({"type": "prompt"}),
                  json.dumps({"type": "prompt", "id": "x", "chat_id": "c", "notebook_path": "../../etc/x.ipynb",
                              "text": "hi"}),
                  json.dumps({"type": "prompt", "chat_id": "bad id!", "notebook_path": "a.ipynb", "text": "hi"}),
                  json.dumps({"type": "stop", "chat_id": "nothing"})]:
        await ws.write_message(frame)
        reply = json.loads(await asyncio.wait_for(ws.read_message(), 10))
        assert reply["type"] == "error", frame
        assert reply["message"]
    # the server still serves
    resp = await jupyter_server.fetch("codeinterp/config")
    assert resp.code == 200
    ws.close()


async def test_provider_error_reaches_the_chat_and_history_survives(jupyter_server, scripted_model):
    from scripted_model import error

    kernel_id = await jupyter_server.start_session("err.ipynb")
    scripted_model.set_script(error(401, "Incorrect API key provided: sk-test-SERVERKEY-42"))
    ws = await _connect(jupyter_server)
    browser = BrowserStandIn(jupyter_server, ws, kernel_id)
    try:
        await browser.send({"type": "prompt", "chat_id": "errchat", "notebook_path": "err.ipynb", "text": "hello"})
        err = await browser.serve_until({"error"})
        assert err["code"] == "auth" and "sk-test-SERVERKEY-42" not in json.dumps(err)
        end = await browser.serve_until({"turn_end"})
        assert end["status"] == "failed"
    finally:
        browser.close()
