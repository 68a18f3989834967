"""Repairs that teach and keep the cell, end to end: scripted model, real kernel, real notebook."""

from __future__ import annotations

import json

import nbformat
import pytest
from nbclient import NotebookClient

from jupyterlab_codeinterp.agent import prompts
from jupyterlab_codeinterp.agent.loop import NOTICE_START_OVER
from jupyterlab_codeinterp.agent.repair import MAX_IDENTICAL, different_approach
from jupyterlab_codeinterp.executors.headless import HeadlessExecutor
from jupyterlab_codeinterp.protocol import NoticeMsg
from scripted_model import run_code, text
from test_agent_headless import CollectingSink, run_agent_turn

CSV = "Country,GDP (USD),Region\nA,100.0,North\nB,200.0,South\nC,50.0,North\n"

FOUR_LINES = (
    "import pandas as pd\n"
    'df = pd.read_csv("countries.csv")\n'
    'df["GDP_bn"] = df["GDP"] / 1000\n'
    'print(df.groupby("Region")["GDP_bn"].sum())'
)
FIXED = FOUR_LINES.replace('df["GDP"]', 'df["GDP (USD)"]')


@pytest.fixture
async def workspace(tmp_path):
    (tmp_path / "countries.csv").write_text(CSV)
    executor = HeadlessExecutor(str(tmp_path / "analysis.ipynb"))
    await executor.start()
    yield tmp_path, executor
    await executor.close()


def tool_results(request: dict) -> list[str]:
    return [m["content"] for m in request["messages"] if m.get("role") == "tool"]


def rerun_cleanly(tmp_path, executor) -> list:
    """The saved notebook, re-run top to bottom in a fresh kernel: its cells."""
    executor.save()
    fresh = nbformat.read(tmp_path / "analysis.ipynb", as_version=4)
    NotebookClient(fresh, timeout=120, resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [o for c in fresh.cells for o in c.get("outputs", []) if o["output_type"] == "error"]
    assert not errors, errors
    return fresh.cells


async def test_fix_proposing_only_the_changed_line_keeps_the_whole_cell(workspace, scripted_model, scripted_config):
    tmp_path, executor = workspace
    broken = await executor.run_cell(FOUR_LINES, metadata={}, timeout=60)
    assert broken.status == "error"
    scripted_model.set_script(run_code('df["GDP_bn"] = df["GDP (USD)"] / 1000'), text("The column is `GDP (USD)`."))
    result, sink = await run_agent_turn(scripted_config, executor, tmp_path, "f1", "Fix this error",
                                        mode="fix", cell_id=broken.cell_id)
    assert result.status == "done", result.answer
    # the user reviewed the whole cell with one line changed, not the lone line
    assert [a.code for a in sink.approvals] == [FIXED]
    assert sink.approvals[0].original == FOUR_LINES
    cells = executor.nb.cells
    assert [c.source for c in cells] == [FIXED]
    assert "North" in "".join(o.get("text", "") for o in cells[0].outputs)
    # the first request already told the model which columns exist
    first = scripted_model.requests[0]["messages"][-1]["content"]
    assert "df has columns" in first and "'GDP (USD)'" in first
    assert [c.source for c in rerun_cleanly(tmp_path, executor)] == [FIXED]


async def test_an_ambiguous_partial_repair_is_answered_with_a_request_for_the_whole_cell(
        workspace, scripted_model, scripted_config):
    tmp_path, executor = workspace
    scripted_model.set_script(run_code(FOUR_LINES), run_code("print('done')"), run_code(FIXED), text("Fixed."))
    result, sink = await run_agent_turn(scripted_config, executor, tmp_path, "f2", "GDP in billions by region")
    assert result.status == "done", result.answer
    asked = tool_results(scripted_model.requests[2])[-1]
    assert "Not run" in asked and "whole corrected cell" in asked and "import pandas as pd" in asked
    # the lone line never ran, nor counted as an attempt
    assert [s.attempt for s in sink.steps("running")] == [1, 2]
    assert [c.source for c in executor.nb.cells] == [FIXED]


async def test_a_missing_package_hint_names_installed_alternatives(workspace, scripted_model, scripted_config):
    tmp_path, executor = workspace
    scripted_model.set_script(run_code("import nosuch_stats_pkg\nprint(1)"),
                              run_code("import numpy as np\nprint(np.mean([1, 2]))"), text("1.5"))
    await run_agent_turn(scripted_config, executor, tmp_path, "h2", "mean")
    fed = tool_results(scripted_model.requests[1])[-1]
    assert "ModuleNotFoundError" in fed and "Installed and usable instead: numpy" in fed
    assert "Do not install packages" in fed


async def test_a_repeated_error_gets_one_more_attempt_with_the_hint_then_an_account(
        workspace, scripted_model, scripted_config):
    tmp_path, executor = workspace
    bad = 'import pandas as pd\ndf = pd.read_csv("countries.csv")\nprint(df["GDP"].sum())'
    scripted_model.set_script(run_code(bad), run_code(bad.replace("sum()", "mean()")),
                              run_code(bad.replace("sum()", "max()")), text("unused"))
    result, sink = await run_agent_turn(scripted_config, executor, tmp_path, "r1", "x")
    assert result.status == "gave_up"
    assert "same error" in result.answer and "KeyError" in result.answer
    assert len(scripted_model.requests) == 3
    # the last chance is a request of its own: the cell, its error, the hint, the instruction
    second = scripted_model.requests[2]
    assert second["messages"][0]["content"] == prompts.REPAIR_SYSTEM and "tools" not in second
    told = second["messages"][-1]["content"]
    assert "same error" in told and "different approach" in told and "'GDP (USD)'" in told
    assert bad.replace("sum()", "mean()") in told and "KeyError" in told
    assert len(executor.nb.cells) == 1


async def test_a_repeated_error_then_a_different_approach_succeeds(workspace, scripted_model, scripted_config):
    tmp_path, executor = workspace
    bad = 'import pandas as pd\ndf = pd.read_csv("countries.csv")\nprint(df["GDP"].sum())'
    good = 'import pandas as pd\ndf = pd.read_csv("countries.csv")\nprint(df.iloc[:, 1].sum())'
    scripted_model.set_script(run_code(bad), run_code(bad + "  # again"), run_code(good), text("350.0"))
    result, sink = await run_agent_turn(scripted_config, executor, tmp_path, "r2", "x")
    assert result.status == "done" and result.answer == "350.0"
    assert [c.source for c in executor.nb.cells] == [good]


async def test_a_repair_identical_to_the_failed_code_is_not_run_and_the_model_is_told(
        workspace, scripted_model, scripted_config):
    tmp_path, executor = workspace
    bad = 'import pandas as pd\ndf = pd.read_csv("countries.csv")\nprint(df["GDP"].sum())'
    scripted_model.set_script(run_code(bad), run_code(bad + "\n"), run_code(FIXED), text("Done."))
    result, sink = await run_agent_turn(scripted_config, executor, tmp_path, "r3", "x")
    assert result.status == "done", result.answer
    told = scripted_model.requests[2]["messages"][-1]["content"]
    assert "identical to the code that failed" in told and "different approach" in told
    assert "'GDP (USD)'" in told
    assert [s.attempt for s in sink.steps("running")] == [1, 2]
    # the conversation keeps the refusal for the requests after it
    assert "identical to the code that failed" in tool_results(scripted_model.requests[3])[-2]
    # the re-ask is sampled warmer (at the configured temperature a small model sends the
    # same cell again); the requests around it are not
    temps = [r.get("temperature") for r in scripted_model.requests]
    assert temps[2] > temps[1] == temps[3] == scripted_config.temperature


async def test_an_identical_repair_after_the_extra_attempt_ends_with_an_account(
        workspace, scripted_model, scripted_config):
    tmp_path, executor = workspace
    bad = 'import pandas as pd\ndf = pd.read_csv("countries.csv")\nprint(df["GDP"].sum())'
    scripted_model.set_script(*[run_code(bad)] * (2 + MAX_IDENTICAL), text("unused"))
    result, _ = await run_agent_turn(scripted_config, executor, tmp_path, "r4", "x")
    assert result.status == "gave_up" and "identical" in result.answer
    assert len(scripted_model.requests) == 2 + MAX_IDENTICAL


async def test_a_fix_sent_back_restyled_is_reviewed_as_the_one_change(workspace, scripted_model, scripted_config):
    # what Qwen2.5-Coder-1.5B sent for a wrong column: the whole cell, as a call written as
    # text, every string in single quotes
    tmp_path, executor = workspace
    broken = await executor.run_cell(FOUR_LINES, metadata={}, timeout=60)
    restyled = FIXED.replace('"', "'")
    call = json.dumps({"name": "run_code", "arguments": {"code": restyled}})
    scripted_model.set_script(text(f"<tools>\n{call}\n</tools>"), text("The column is 'GDP (USD)'."))
    result, sink = await run_agent_turn(scripted_config, executor, tmp_path, "f3", "Fix this error",
                                        mode="fix", cell_id=broken.cell_id)
    assert result.status == "done", result.answer
    assert [a.code for a in sink.approvals] == [FIXED]
    assert [c.source for c in rerun_cleanly(tmp_path, executor)] == [FIXED]


def test_the_different_approach_points_at_the_hint_when_there_is_one():
    # told "other column or file names" with no hint, Qwen2.5-Coder-1.5B read 'another_file.csv';
    # with a hint naming the file, it is pointed at that name
    assert "exact names the hint" in different_approach("Hint: files there: 'sales_2024.csv'.")
    without = different_approach("")
    assert "another function or method" in without and "file" not in without


async def test_repairs_that_give_up_on_a_data_request_get_the_program_asked_afresh_once(
        workspace, scripted_model, scripted_config):
    """On DABench, Qwen2.5-Coder-1.5B repaired `result['p-value']` into the same KeyError three
    times; asked once for the whole program (the single-shot baseline), it was right."""
    tmp_path, executor = workspace
    bad = 'import pandas as pd\ndf = pd.read_csv("countries.csv")\nprint(df["GDP"].sum())'
    good = 'import pandas as pd\ndf = pd.read_csv("countries.csv")\nprint(df["GDP (USD)"].sum())'
    prompt = "What is the total GDP in countries.csv?"
    scripted_model.set_script(run_code(bad), run_code(bad + "  # again"), run_code(bad + "  # third"),
                              text(f"```python\n{good}\n```"), text("The total GDP is 350.0."))
    result, sink = await run_agent_turn(scripted_config, executor, tmp_path, "s1", prompt)
    assert (result.status, result.answer) == ("done", "The total GDP is 350.0.")
    afresh = scripted_model.requests[3]
    assert afresh["messages"][0]["content"] == prompts.PROGRAM_SYSTEM and "tools" not in afresh
    asked = afresh["messages"][-1]["content"]
    # the error and its hint, not the failed code (which a small model sends back)
    assert "failed with `KeyError: 'GDP'`" in asked and "'GDP (USD)'" in asked and 'df["GDP"]' not in asked
    assert any(isinstance(m, NoticeMsg) and m.text == NOTICE_START_OVER for m in sink.messages)
    # the failed cell stays with its error; the program runs in a cell of its own
    assert [c.source for c in executor.nb.cells][-1] == good and len(executor.nb.cells) == 2
    # once a turn: a program that fails the same way ends with the account
    scripted_model.set_script(*[run_code(bad + f"  # {i}") for i in range(3)],
                              *[text(f"```python\n{bad}  # p{i}\n```") for i in range(3)], text("unused"))
    result, _ = await run_agent_turn(scripted_config, executor, tmp_path, "s2", prompt)
    assert result.status == "gave_up" and "same error" in result.answer


async def test_on_a_data_request_a_repair_identical_to_the_failed_code_gets_the_program_asked_afresh(
        workspace, scripted_model, scripted_config):
    """Told that its repair was identical, Qwen2.5-Coder-1.5B sent the same cell again twice
    (DABench ids 10, 28, 118, 130); the first identical repair now starts the request over."""
    tmp_path, executor = workspace
    bad = 'import pandas as pd\ndf = pd.read_csv("countries.csv")\nprint(df["GDP"].sum())'
    good = 'import pandas as pd\ndf = pd.read_csv("countries.csv")\nprint(df["GDP (USD)"].sum())'
    scripted_model.set_script(run_code(bad), run_code(bad), text(f"```python\n{good}\n```"),
                              text("The total GDP is 350.0."))
    result, sink = await run_agent_turn(scripted_config, executor, tmp_path, "s4",
                                        "What is the total GDP in countries.csv?")
    assert (result.status, result.answer) == ("done", "The total GDP is 350.0.")
    afresh = scripted_model.requests[2]
    assert afresh["messages"][0]["content"] == prompts.PROGRAM_SYSTEM
    assert "failed with `KeyError: 'GDP'`" in afresh["messages"][-1]["content"]
    assert any(isinstance(m, NoticeMsg) and m.text == NOTICE_START_OVER for m in sink.messages)
    assert [c.source for c in executor.nb.cells] == [bad, good]
    assert len(scripted_model.requests) == 4


async def test_a_fix_that_gives_up_is_not_asked_afresh(workspace, scripted_model, scripted_config):
    tmp_path, executor = workspace
    broken = await executor.run_cell(FOUR_LINES, metadata={}, timeout=60)
    scripted_model.set_script(*[run_code(FOUR_LINES + f"  # {i}") for i in range(4)], text("unused"))
    result, sink = await run_agent_turn(scripted_config, executor, tmp_path, "s3", "Fix this error",
                                        mode="fix", cell_id=broken.cell_id)
    assert result.status == "gave_up"
    assert not any(isinstance(m, NoticeMsg) and m.text == NOTICE_START_OVER for m in sink.messages)
