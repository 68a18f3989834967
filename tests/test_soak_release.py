"""A closed chat socket leaves nothing behind in a long-lived server (bench/bench_soak.py).

Against a real jupyter server subprocess with the opt-in resources route. The keep-alive ping
interval is set to ten minutes, so a handler kept by its ping timer after the close (as
jupyter_server's WebSocketMixin does until its next tick) would stay for the whole test.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from hardening_support import open_tab, server_with
from scripted_model import text
from server_fixtures import stop_jupyter_server

NB = "soak.ipynb"


@pytest.fixture(scope="module")
def server(tmp_path_factory, scripted_server_session):
    srv = server_with(str(tmp_path_factory.mktemp("soak-release")), scripted_server_session.base_url,
                      "--ServerApp.tornado_settings={'ws_ping_interval': 600000}",
                      env={"CODEINTERP_DEBUG_RESOURCES": "1"})
    yield srv
    stop_jupyter_server(srv)


async def _resources(server) -> dict:
    resp = await server.fetch("codeinterp/debug/resources?collect=1")
    assert resp.code == 200, resp.body
    return json.loads(resp.body)


async def test_closed_chat_socket_is_dropped_by_the_service_and_freed(server, scripted_model):
    scripted_model.set_script(text("an answer"))
    tab = await open_tab(server)
    end, _ = await tab.turn("soakchat", NB, "hello")  # a chat to show, with a turn behind it
    assert end["status"] == "done"
    await tab.send({"type": "history_request", "id": "h", "notebook_path": NB, "chat_id": "soakchat"})
    await tab.serve_until({"history"})
    before = await _resources(server)
    assert before["chat_sockets"] >= 1 and before["watched_chats"] == 1
    tab.close()
    for _ in range(600):  # until the server has seen the close (no timing asserted)
        now = await _resources(server)
        if now["watched_chats"] == 0 and now["chat_sockets"] == 0:
            break
        await asyncio.sleep(0.1)
    assert now["watched_chats"] == 0 and now["turns_running"] == 0
    assert now["chat_sockets"] == 0, "the closed chat socket's handler is still referenced"


def test_trim_reports_rss_before_and_after():
    import sys

    from jupyterlab_codeinterp.instrumentation import resources

    data = resources.trimmed()
    if not sys.platform.startswith("linux"):
        assert data["malloc_trim"] is False
        return
    assert data["rss_kib"] > 0 and data["rss_trimmed_kib"] > 0
    assert isinstance(data["malloc_trim"], bool)
