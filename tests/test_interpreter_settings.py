"""Process-wide settings of the user's server are left alone by default: Python's thread
switch interval stays as it was and model streams are read on the server's own loop. The
opt-in model I/O thread (with a shorter switch interval) still serves a whole turn in a real
server. The server reports what it runs with on the opt-in debug route the load benchmark
reads (bench/bench_load.py)."""

from __future__ import annotations

import json
import sys

import pytest

from hardening_support import open_tab
from scripted_model import text
from server_fixtures import start_jupyter_server, stop_jupyter_server

from jupyterlab_codeinterp.config import CodeInterp
from jupyterlab_codeinterp.extension import PYTHON_DEFAULT_SWITCH_INTERVAL, apply_switch_interval


def test_the_defaults_change_nothing_process_wide():
    cfg = CodeInterp()
    assert cfg.model_io_thread is False
    assert cfg.gil_switch_interval == 0
    before = sys.getswitchinterval()

    class Log:
        def info(self, *args):
            raise AssertionError("nothing to report: nothing was changed")

    assert apply_switch_interval(cfg.gil_switch_interval, Log()) is False
    assert sys.getswitchinterval() == before


@pytest.mark.parametrize("options, interval, thread", [
    ({}, PYTHON_DEFAULT_SWITCH_INTERVAL, False),
    ({"model_io_thread": True, "gil_switch_interval": 0.001}, 0.001, True),
])
async def test_a_turn_streams_with_either_setting(tmp_path, scripted_server_session, scripted_model,
                                                  options, interval, thread):
    server = start_jupyter_server(str(tmp_path), model_url=scripted_server_session.base_url, codeinterp=options,
                                  env={"CODEINTERP_DEBUG_LOOP_LAG": "1"})
    try:
        resp = await server.fetch("codeinterp/debug/loop-lag")
        assert resp.code == 200, resp.body
        info = json.loads(resp.body)
        assert info["switch_interval"] == pytest.approx(interval)
        assert info["model_io_thread"] is thread
        tab = await open_tab(server)
        try:
            scripted_model.set_script(text("streamed in many small pieces, " * 5, chunk_size=3))
            end, messages = await tab.turn("s1", "nb.ipynb", "hello")
        finally:
            tab.close()
        assert end["status"] == "done"
        streamed = "".join(m["text"] for m in messages if m["type"] == "text_delta")
        assert streamed == "streamed in many small pieces, " * 5
    finally:
        stop_jupyter_server(server)
