"""A turn's change set (cells added, cells replaced, files written), read off its messages.

The recorder is fed the protocol messages a turn sends; the server tests run real turns
through a real Jupyter server and check the ``changes`` of ``turn_end`` and of the saved
history (which is what "Undo this turn" uses after a reload).
"""

from __future__ import annotations

import json

from jupyterlab_codeinterp.chat.changes import TurnChangeRecorder
from jupyterlab_codeinterp.protocol import ApprovalRequestMsg, StepMsg
from scripted_model import run_code, text
from server_fixtures import BrowserStandIn, jupyter_server  # noqa: F401  (fixture)


def step(step_id: str, state: str, code: str, cell_id: str = "", **kw) -> StepMsg:
    return StepMsg(chat_id="c", turn=1, step_id=step_id, tool="run_code", state=state, code=code,
                   cell_id=cell_id, **kw)


def fix_request(step_id: str, cell_id: str, code: str, original: str) -> ApprovalRequestMsg:
    return ApprovalRequestMsg(chat_id="c", turn=1, step_id=step_id, kind="fix", code=code,
                              original=original, cell_id=cell_id)


def record(*msgs) -> dict:
    recorder = TurnChangeRecorder()
    for msg in msgs:
        recorder.observe(msg)
    return recorder.result().model_dump()


def test_a_new_cell_repaired_in_place_is_one_added_cell_with_the_last_code():
    changes = record(
        step("s1", "running", "print(x)"),
        step("s1", "error", "print(x)", "cellA"),
        step("s1", "running", "x = 1\nprint(x)", "cellA", attempt=2),
        step("s1", "ok", "x = 1\nprint(x)", "cellA", attempt=2, files=["out/a.csv"]),
        step("s2", "running", "y = 2"),
        step("s2", "ok", "y = 2", "cellB", files=["out/a.csv", "b.png"]),
    )
    assert changes == {
        "cells": [
            {"kind": "added", "cell_id": "cellA", "step_id": "s1", "source": "x = 1\nprint(x)", "original": ""},
            {"kind": "added", "cell_id": "cellB", "step_id": "s2", "source": "y = 2", "original": ""},
        ],
        "files": ["out/a.csv", "b.png"],
    }


def test_an_accepted_fix_replaces_the_users_cell_and_keeps_the_source_from_before_the_turn():
    changes = record(
        fix_request("f", "mine", "df['price'].sum()", "df['prices'].sum()"),
        step("f", "running", "df['price'].sum()", "mine"),
        step("f", "error", "df['price'].sum()", "mine"),
        # the second proposal is diffed against attempt 1; the original stays the user's
        fix_request("f", "mine", "df.price.sum()", "df['price'].sum()"),
        step("f", "running", "df.price.sum()", "mine", attempt=2),
        step("f", "ok", "df.price.sum()", "mine", attempt=2),
    )
    assert changes["cells"] == [{"kind": "replaced", "cell_id": "mine", "step_id": "f",
                                 "source": "df.price.sum()", "original": "df['prices'].sum()"}]


def test_skipped_and_rejected_code_changes_nothing():
    changes = record(
        fix_request("f", "mine", "new", "old"),
        step("f", "waiting_approval", "new", "mine"),
        step("f", "skipped", "new", "mine"),
        step("s", "waiting_approval", "rm_everything()"),
        step("s", "skipped", "rm_everything()"),
    )
    assert changes == {"cells": [], "files": []}


def test_a_repair_the_user_skipped_leaves_the_previous_attempt_as_what_the_turn_left():
    changes = record(
        step("s", "running", "a()"),
        step("s", "error", "a()", "c1"),
        step("s", "waiting_approval", "b()", "c1", attempt=2),
        step("s", "skipped", "b()", "c1", attempt=2),
    )
    assert [c["source"] for c in changes["cells"]] == ["a()"]


def test_code_edited_in_the_approval_is_what_the_cell_holds():
    changes = record(
        step("s", "waiting_approval", "print(1)"),
        step("s", "running", "print(2)"),  # the user edited it before Run
        step("s", "ok", "print(2)", "c1"),
    )
    assert changes["cells"][0]["source"] == "print(2)"


def test_a_cell_stopped_before_its_id_was_known_is_found_by_its_step():
    stopped = record(step("s", "running", "import time; time.sleep(60)"),
                     step("s", "interrupted", "import time; time.sleep(60)"))
    assert stopped["cells"] == [{"kind": "added", "cell_id": "", "step_id": "s",
                                 "source": "import time; time.sleep(60)", "original": ""}]
    # cancelled before the interrupted message went out: still counted
    recorder = TurnChangeRecorder()
    recorder.observe(step("s", "running", "slow()"))
    assert recorder.result().cells[0].step_id == "s"


def test_code_the_browser_could_not_insert_is_not_a_change():
    changes = record(step("s", "running", "x = 1"), step("s", "aborted", "x = 1"))
    assert changes["cells"] == []


def test_read_only_steps_are_not_changes():
    changes = record(StepMsg(chat_id="c", turn=1, step_id="i", tool="inspect_variable", state="running"),
                     StepMsg(chat_id="c", turn=1, step_id="i", tool="inspect_variable", state="ok"))
    assert changes == {"cells": [], "files": []}


# ---------------------------------------------------------------------- a real server


async def _connect(server):
    ws = await server.ws()
    assert json.loads(await ws.read_message())["type"] == "hello"
    return ws


async def _history(server, path: str, chat_id: str) -> list[dict]:
    ws = await _connect(server)
    try:
        await ws.write_message(json.dumps({"type": "history_request", "id": "h", "notebook_path": path,
                                           "chat_id": chat_id}))
        return json.loads(await ws.read_message())["messages"]
    finally:
        ws.close()


async def test_turn_end_and_the_saved_history_carry_the_change_set(jupyter_server, scripted_model):
    kernel_id = await jupyter_server.start_session("changes.ipynb")
    scripted_model.set_script(
        run_code("open('written.txt', 'w').write('hi')\nprint(undefined)"),
        run_code("open('written.txt', 'w').write('hi')\nprint('done')"),
        text("Wrote written.txt."),
    )
    ws = await _connect(jupyter_server)
    browser = BrowserStandIn(jupyter_server, ws, kernel_id)
    try:
        end, _ = await browser.turn("chg1", "changes.ipynb", "write a file")
    finally:
        browser.close()
    assert end["status"] == "done"
    cell = browser.cells[0]
    assert end["changes"] == {
        "cells": [{"kind": "added", "cell_id": cell["id"], "step_id": cell["metadata"]["codeinterp"]["step_id"],
                   "source": "open('written.txt', 'w').write('hi')\nprint('done')", "original": ""}],
        "files": ["written.txt"],
    }
    saved = [m for m in await _history(jupyter_server, "changes.ipynb", "chg1") if m["type"] == "turn_end"]
    assert saved[-1]["changes"] == end["changes"]


async def test_an_accepted_fix_is_recorded_with_the_users_source(jupyter_server, scripted_model):
    kernel_id = await jupyter_server.start_session("fixchanges.ipynb")
    scripted_model.set_script(run_code("total = sum([1, 2])\nprint(total)"), text("Fixed: 3."))
    ws = await _connect(jupyter_server)
    browser = BrowserStandIn(jupyter_server, ws, kernel_id, approve="accept")
    mine = "total = sum([1, 2]\nprint(total)"
    browser.cells.append({"id": "usercell", "cell_type": "code", "source": mine, "metadata": {},
                          "outputs": [{"output_type": "error", "ename": "SyntaxError", "evalue": "'(' was never closed",
                                       "traceback": []}]})
    try:
        end, _ = await browser.turn("chg2", "fixchanges.ipynb", "fix this error", mode="fix", cell_id="usercell")
    finally:
        browser.close()
    assert end["status"] == "done"
    assert browser.cells[0]["source"] == "total = sum([1, 2])\nprint(total)"
    assert end["changes"]["cells"] == [{"kind": "replaced", "cell_id": "usercell", "step_id": end["changes"]["cells"][0]["step_id"],
                                        "source": "total = sum([1, 2])\nprint(total)", "original": mine}]
    saved = [m for m in await _history(jupyter_server, "fixchanges.ipynb", "chg2") if m["type"] == "turn_end"]
    assert saved[-1]["changes"] == end["changes"]
