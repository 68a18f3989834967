"""Grounded answers: the loop does not pass on values no cell of the turn computed.

End to end (scripted model, real kernel, real notebook), for both ways the model runs
code (tool calls and ```python blocks), plus the rule's pieces on their own.
"""

from __future__ import annotations

import re

import pytest

from jupyterlab_codeinterp.agent import grounding as g, prompts
from jupyterlab_codeinterp.agent.loop import NOTICE_FORM
from jupyterlab_codeinterp.executors.headless import HeadlessExecutor
from jupyterlab_codeinterp.protocol import NoticeMsg
from scripted_model import run_code, text
from server_fixtures import BrowserStandIn, jupyter_server  # noqa: F401  (fixture)
from test_agent_headless import GDP_CSV, run_agent_turn
from test_chat_changes import _connect, _history

TOTAL = "import pandas as pd\nprint(pd.read_csv('gdp.csv')['gdp'].sum())"


@pytest.fixture
async def workspace(tmp_path):
    (tmp_path / "gdp.csv").write_text(GDP_CSV)
    executor = HeadlessExecutor(str(tmp_path / "analysis.ipynb"))
    await executor.start()
    yield tmp_path, executor
    await executor.close()


def last_user_text(req: dict) -> str:
    return str(req["messages"][-1]["content"]) if req["messages"][-1]["role"] == "user" else ""


@pytest.mark.parametrize("protocol", ["tools", "codeblocks"])
async def test_an_answer_without_a_cell_is_sent_back_and_then_computed(workspace, scripted_model,
                                                                      scripted_config, protocol):
    tmp_path, executor = workspace
    scripted_config.protocol = protocol
    # asked for a whole program, the model replies with a code block whatever the protocol
    scripted_model.set_script(text("The total GDP is 1234.56."), text(f"```python\n{TOTAL}\n```"),
                              text("The total GDP is 790.0."))
    result, sink = await run_agent_turn(scripted_config, executor, tmp_path, "g1",
                                        "What is the total gdp in gdp.csv?")
    assert result.status == "done"
    assert result.answer == "The total GDP is 790.0."
    assert (result.grounding, result.cells_run) == ("computed", 1)
    asked = scripted_model.requests[0]["messages"][-1]["content"]
    assert asked.endswith(prompts.code_first_note(codeblocks=protocol == "codeblocks"))
    # the made-up answer is withdrawn: the request is asked again as one whole program,
    # with the workspace context, without tools, at the configured temperature
    again = scripted_model.requests[1]
    assert again["messages"][0]["content"] == prompts.PROGRAM_SYSTEM
    program = last_user_text(again)
    assert "one complete Python program" in program and "What is the total gdp in gdp.csv?" in program
    assert "gdp.csv" in program.split("User request:")[0]  # the context's file listing
    assert "tools" not in again and again.get("temperature") == scripted_config.temperature
    assert "1234.56" not in str(again["messages"])
    assert any(isinstance(m, NoticeMsg) and m.text == g.NOTICE_NUDGE for m in sink.messages)
    # the program ran as the turn's cell; the answer was asked in the turn's own conversation
    final = scripted_model.requests[2]["messages"]
    assert final[0]["content"] != prompts.PROGRAM_SYSTEM and "790.0" in last_user_text(scripted_model.requests[2])
    # later turns see the computed answer only, not the rejected one nor the nudge
    history = str(result.messages)
    assert "1234.56" not in history and "No code ran" not in history


@pytest.mark.parametrize("protocol", ["tools", "codeblocks"])
async def test_a_model_that_will_not_compute_gets_no_number_through(workspace, scripted_model,
                                                                    scripted_config, protocol):
    tmp_path, executor = workspace
    scripted_config.protocol = protocol
    invented = "The mean volume is 1234.56.\n\n@mean_volume[1234.56]"
    scripted_model.set_script(text(invented), text(invented), text(invented), text("unused"))
    result, _ = await run_agent_turn(scripted_config, executor, tmp_path, "g2",
                                     "What is the mean gdp in gdp.csv? Answer as @mean_volume[value].")
    assert len(scripted_model.requests) == 1 + g.MAX_NUDGES
    # asked again for a program, then again at a higher temperature (the same request at the
    # same temperature gets the same reply from a small local model)
    temps = [r.get("temperature") for r in scripted_model.requests]
    assert temps[:2] == [scripted_config.temperature] * 2 and temps[2] > temps[1]
    assert result.status == "done"
    assert (result.grounding, result.cells_run) == ("not_computed", 0)
    assert "not compute" in result.answer
    assert not re.search(r"\d", result.answer), result.answer
    assert "@mean_volume" not in result.answer
    assert "1234" not in str(result.messages)
    assert executor.nb.cells == []


async def test_numbers_no_output_holds_are_asked_for_once_then_marked(workspace, scripted_model,
                                                                       scripted_config):
    tmp_path, executor = workspace
    claim = "The total GDP is 790.0 and the average growth is 12.75%."
    scripted_model.set_script(run_code(TOTAL), text(claim), text(claim), text("unused"))
    result, _ = await run_agent_turn(scripted_config, executor, tmp_path, "g3", "total gdp in gdp.csv?")
    assert len(scripted_model.requests) == 3
    ask = last_user_text(scripted_model.requests[2])
    assert "12.75%" in ask and "790.0" not in ask
    assert result.answer == claim
    assert (result.grounding, result.cells_run) == ("unverified", 1)


async def test_an_answer_no_output_backs_at_all_is_withheld_after_one_request(workspace, scripted_model,
                                                                             scripted_config):
    """Seen with Qwen2.5-Coder-1.5B (DABench id 28): its one cell failed, it answered seven
    made-up means, was asked to print them, and gave the same answer again."""
    tmp_path, executor = workspace
    claim = "@mean_gdp[129.45] @mean_growth[0.67]"
    broken = "import pandas as pd\nprint(pd.read_csv('gdp.csv')['nope'].mean())"
    scripted_model.set_script(run_code(broken), text(claim), text(claim), text("unused"))
    result, _ = await run_agent_turn(scripted_config, executor, tmp_path, "g13",
                                     "mean gdp and growth in gdp.csv, as @mean_gdp[v] @mean_growth[v]")
    assert len(scripted_model.requests) == 3
    assert (result.grounding, result.cells_run) == ("not_computed", 1)
    assert result.answer.startswith("I did not compute this: " + g.NO_OUTPUT_HOLDS)
    assert "129.45" not in result.answer and "@mean_gdp" not in result.answer


async def test_a_printed_result_is_in_the_answer(workspace, scripted_model, scripted_config):
    tmp_path, executor = workspace
    code = "import pandas as pd\nprint(f\"@total_gdp[{pd.read_csv('gdp.csv')['gdp'].sum():.2f}]\")"
    scripted_model.set_script(run_code(code), text("I computed the total GDP of the file."))
    result, _ = await run_agent_turn(scripted_config, executor, tmp_path, "g4", "total gdp of gdp.csv?")
    assert result.answer == "I computed the total GDP of the file.\n\n@total_gdp[790.00]"
    assert result.grounding == "computed"
    assert result.messages[-1]["content"] == result.answer


async def test_a_printed_result_replaces_the_value_the_model_wrote(workspace, scripted_model,
                                                                    scripted_config):
    tmp_path, executor = workspace
    # (y is printed plainly, so the turn does not end on the printed results alone)
    scripted_model.set_script(run_code("x = 3 / 2\ny = 4\nprint(f'@x[{x}] y={y}')"),
                              text("The result is @x[2.0] @y[4]."))
    result, _ = await run_agent_turn(scripted_config, executor, tmp_path, "g5",
                                     "compute x and y from the data as @x[value] @y[value]")
    assert result.answer == "The result is @x[1.5] @y[4]."
    assert result.grounding == "computed"


@pytest.mark.parametrize("printed, request_form, answer", [
    ("@total_gdp[{df['gdp'].sum():.2f}] @rows[{len(df)}]", "as @total_gdp[value], @rows[n]",
     "@total_gdp[790.00]\n@rows[8]"),
    # seen with Qwen2.5-Coder-1.5B: @skewness_value[0.14, rounded to two decimal places]
    ("@total_gdp[{df['gdp'].sum():.2f}, rounded to two decimal places] @rows[{len(df)}]",
     "as @total_gdp[number, rounded to two decimal places], @rows[n]", "@total_gdp[790.00]\n@rows[8]"),
], ids=["as printed", "words copied from the form cut"])
async def test_a_cell_that_printed_every_named_result_ends_the_turn_with_them(workspace, scripted_model,
                                                                             scripted_config, printed,
                                                                             request_form, answer):
    """The model is not asked to restate what a cell printed in the requested form."""
    tmp_path, executor = workspace
    code = f"import pandas as pd\ndf = pd.read_csv('gdp.csv')\nprint(f\"{printed}\")"
    scripted_model.set_script(run_code(code), text("unused"))
    result, _ = await run_agent_turn(scripted_config, executor, tmp_path, "g6",
                                     f"total gdp and row count of gdp.csv, {request_form}")
    assert (result.status, result.answer, result.grounding) == ("done", answer, "computed")
    assert len(scripted_model.requests) == 1
    assert result.messages[-1] == {"role": "assistant", "content": result.answer}


async def test_a_reply_that_is_only_code_is_run_not_passed_on_as_the_answer(workspace, scripted_model,
                                                                           scripted_config):
    """Seen with Qwen2.5-Coder-1.5B: after a cell ran, its reply was a new program and no words;
    the user got the unrun program as the answer."""
    tmp_path, executor = workspace
    scripted_model.set_script(run_code("print('loaded')"), text(f"```python\n{TOTAL}\n```"),
                              text("The total GDP is 790.0."))
    result, _ = await run_agent_turn(scripted_config, executor, tmp_path, "g9",
                                     "What is the total gdp in gdp.csv?")
    assert (result.status, result.answer, result.cells_run) == ("done", "The total GDP is 790.0.", 2)
    assert "790" in str(scripted_model.requests[2]["messages"][-1]["content"])


async def test_printed_results_outside_the_listed_choices_go_back_to_the_model(workspace, scripted_model,
                                                                              scripted_config):
    tmp_path, executor = workspace
    code = "import pandas as pd\ndf = pd.read_csv('gdp.csv')\nprint(f\"@big[{df['gdp'].sum() > 100}]\")"
    scripted_model.set_script(run_code(code), text("@big[yes]"), text("unused"), text("unused"))
    await run_agent_turn(scripted_config, executor, tmp_path, "g7",
                         "Is the total gdp in gdp.csv over 100?\n\nGive the final answer in this format: "
                         '@big[answer], where "answer" is either "yes" or "no".')
    assert len(scripted_model.requests) > 1


async def test_a_cell_that_prints_a_typed_in_number_backs_nothing(workspace, scripted_model, scripted_config):
    """Seen with Qwen2.5-Coder-1.5B: asked for a mean and a std, it computed the mean, then
    ran ``print("0.56")`` and answered @std_wage[0.56]."""
    tmp_path, executor = workspace
    claim = "@total_gdp[790.00] @growth[0.56]"
    scripted_model.set_script(run_code(TOTAL), run_code('print("0.56")'), text(claim), text(claim))
    result, _ = await run_agent_turn(scripted_config, executor, tmp_path, "g6",
                                     "total gdp and growth in gdp.csv, as @total_gdp[v] @growth[v]")
    after_literal = str(scripted_model.requests[2]["messages"][-1]["content"])
    assert g.LITERAL_NOTE.strip() in after_literal
    ask = last_user_text(scripted_model.requests[3])
    assert "0.56" in ask and "790" not in ask
    assert (result.grounding, result.cells_run) == ("unverified", 2)
    assert len(executor.nb.cells) == 2  # the cell ran and stays in the notebook as it is


@pytest.mark.parametrize("protocol", ["tools", "codeblocks"])
async def test_a_guess_written_after_the_code_is_not_kept(workspace, scripted_model, scripted_config, protocol):
    """Seen with Qwen2.5-Coder-1.5B: the reply held the cell and, after it, the answer
    @mean_fare[128.00], written before the cell printed 34.65; it then kept to 128.00."""
    tmp_path, executor = workspace
    scripted_config.protocol = protocol
    guess = f"```python\n{TOTAL}\n```\n\n@total_gdp[128.00]"
    scripted_model.set_script(text(guess), text("@total_gdp[790.00]"))
    result, _ = await run_agent_turn(scripted_config, executor, tmp_path, "g7",
                                     "total gdp in gdp.csv, as @total_gdp[value]")
    assert result.answer == "@total_gdp[790.00]" and result.grounding == "computed"
    follow_up = str(scripted_model.requests[1]["messages"])
    assert "128.00" not in follow_up and "read_csv" in follow_up
    assert "128.00" not in str(result.messages)


async def test_a_code_block_sent_when_asked_for_a_cell_runs(workspace, scripted_model, scripted_config):
    """Offered tools, the model answers the loop's request for a cell with a code block
    after cells already ran: that block is the cell asked for."""
    tmp_path, executor = workspace
    growth = "import pandas as pd\nprint(round(pd.read_csv('gdp.csv')['gdp'].pct_change().mean() * 100, 2))"
    scripted_model.set_script(run_code(TOTAL), text("The total GDP is 790.0 and growth is 12.75%."),
                              text(f"```python\n{growth}\n```"), text("The total GDP is 790.0."))
    result, _ = await run_agent_turn(scripted_config, executor, tmp_path, "g8", "total gdp in gdp.csv?")
    assert (result.cells_run, result.grounding) == (2, "computed")
    assert len(executor.nb.cells) == 2


@pytest.mark.parametrize("protocol", ["tools", "codeblocks"])
async def test_results_asked_for_and_not_printed_are_named(workspace, scripted_model, scripted_config, protocol):
    """Seen with Qwen2.5-Coder-1.5B: asked for @mean_wage and @std_wage, its cell printed
    the mean alone; told which results no cell printed, it sends the whole program."""
    tmp_path, executor = workspace
    scripted_config.protocol = protocol
    total = "import pandas as pd\ngdp = pd.read_csv('gdp.csv')['gdp']\nprint(f'@total[{gdp.sum():.2f}]')"
    both = total + "\nprint(f'@rows[{gdp.count()}]')"
    first = run_code(total) if protocol == "tools" else text(f"```python\n{total}\n```")
    scripted_model.set_script(first, text(f"```python\n{both}\n```"), text("@total[790.00] @rows[7]"))
    result, _ = await run_agent_turn(scripted_config, executor, tmp_path, "g11",
                                     "Total gdp and number of values in gdp.csv.\n\n"
                                     "Give the final answer in this format: @total[value] @rows[count]")
    after_first = str(scripted_model.requests[1]["messages"][-1]["content"])
    assert "Not printed yet in that form: @rows." in after_first
    assert "@total[{total}] @rows[{rows}]" in after_first
    # the second cell printed both: the turn ends with them, the model not asked to restate them
    assert len(scripted_model.requests) == 2
    assert (result.cells_run, result.grounding) == (2, "computed")
    assert result.answer == "@total[790.00]\n@rows[7]"


async def test_an_answer_without_the_named_results_is_asked_once_in_the_requested_form(
        workspace, scripted_model, scripted_config):
    """Seen with Qwen2.5-Coder-1.5B: asked for @percentage_cases_min[...], its cell printed
    @36.45[38.79] and it answered so; the values were right, the form was not."""
    tmp_path, executor = workspace
    code = "import pandas as pd\ngdp = pd.read_csv('gdp.csv')['gdp']\nprint(f'@{gdp.sum():.2f}[{gdp.count()}]')"
    scripted_model.set_script(run_code(code), text("@790.00[7]"), text("@total[790.00] @rows[7]"),
                              text("unused"))
    prompt = "Total gdp and number of values in gdp.csv.\n\nGive the final answer in this format: @total[value] @rows[count]"
    result, sink = await run_agent_turn(scripted_config, executor, tmp_path, "g13", prompt)
    asked = last_user_text(scripted_model.requests[2])
    assert asked.startswith("Your answer does not state @total, @rows in the form")
    assert "@total[value] @rows[count]" in asked
    assert (result.cells_run, result.grounding, result.answer) == (1, "computed", "@total[790.00] @rows[7]")
    assert any(isinstance(m, NoticeMsg) and m.text == NOTICE_FORM for m in sink.messages)
    # asked once: an answer still without them is passed on as it is
    scripted_model.set_script(run_code(code), text("@790.00[7]"), text("790.00 and 7"), text("unused"))
    result, _ = await run_agent_turn(scripted_config, executor, tmp_path, "g14", prompt)
    assert (result.status, result.answer) == ("done", "790.00 and 7")
    assert len(scripted_model.requests) == 3 + 3


@pytest.mark.parametrize("protocol", ["tools", "codeblocks"])
async def test_an_answer_written_in_a_python_fence_is_the_answer(workspace, scripted_model, scripted_config, protocol):
    """Seen with Qwen2.5-Coder-1.5B: its cell printed @mean[..] @sd[..]; it then repeated
    them in a ```python fence, which ran as a SyntaxError and the turn ended in a failed
    repair. A block of results alone is the final answer, not a cell."""
    tmp_path, executor = workspace
    scripted_config.protocol = protocol
    total = "import pandas as pd\ngdp = pd.read_csv('gdp.csv')['gdp']\nprint(f'@total[{gdp.sum():.2f}]')"
    first = run_code(total) if protocol == "tools" else text(f"```python\n{total}\n```")
    scripted_model.set_script(first, text("```python\n@total[790.00]\n```"))
    result, _ = await run_agent_turn(scripted_config, executor, tmp_path, "g12",
                                     "Total gdp in gdp.csv.\n\nGive the final answer in this format: @total[value]")
    assert (result.status, result.cells_run, result.grounding) == ("done", 1, "computed")
    assert result.answer == "@total[790.00]"
    assert len(executor.nb.cells) == 1


@pytest.mark.parametrize("code, nothing", [
    ('print("0.56")', True), ("print(f'@std[{2.07:.2f}]')", True), ("import math\nprint(-128.00)", True),
    ("print(6 * 7)", False),
    ("x = 1\nprint(x)", False), ("print(df['wage'].std())", False), ('print(len("ab"))', False),
    ("42", False), ("pass", False),
])
def test_which_cells_compute_nothing(code, nothing):
    assert g.computes_nothing(code) is nothing


@pytest.mark.parametrize("prompt, reply", [
    ("hi", "Hello! I can analyse gdp.csv for you."),
    ("explain this code", "It multiplies every value by 100 and keeps 25 rows."),
    ("How do I read a csv with pandas?", "Use pd.read_csv('file.csv'), for example with nrows=50."),
])
async def test_conversation_is_not_pressed_to_compute(workspace, scripted_model, scripted_config,
                                                      prompt, reply):
    tmp_path, executor = workspace
    scripted_model.set_script(text(reply), text("unused"))
    result, _ = await run_agent_turn(scripted_config, executor, tmp_path, "g6", prompt)
    assert len(scripted_model.requests) == 1
    assert result.answer == reply
    assert (result.grounding, result.cells_run) == ("", 0)


async def test_declined_code_is_not_pressed_again(workspace, scripted_model, scripted_config):
    from test_agent_headless import CollectingSink

    tmp_path, executor = workspace
    scripted_model.set_script(run_code(TOTAL), text("Without running it: about 800."), text("unused"))
    result, sink = await run_agent_turn(scripted_config, executor, tmp_path, "g7", "total gdp in gdp.csv?",
                                        sink=CollectingSink(decision="skip"), auto_run=False)
    assert len(scripted_model.requests) == 2
    assert result.grounding == "not_computed" and "800" not in result.answer



async def test_declined_code_and_an_answer_without_numbers_pass(workspace, scripted_model, scripted_config):
    from test_agent_headless import CollectingSink

    tmp_path, executor = workspace
    scripted_model.set_script(run_code("import shutil\nshutil.rmtree('data')"), text("I did not delete anything."))
    result, _ = await run_agent_turn(scripted_config, executor, tmp_path, "g9", "clean up the data folder",
                                     sink=CollectingSink(decision="skip"))
    assert (result.answer, result.grounding) == ("I did not delete anything.", "")


# ------------------------------------------------------------------ through the server

@pytest.mark.parametrize("mode", ["chat", "generate"])
async def test_turn_end_and_the_saved_chat_carry_the_verdict(jupyter_server, scripted_model, mode):
    nb, chat = f"ground-{mode}.ipynb", f"gr{mode}"
    kernel_id = await jupyter_server.start_session(nb)
    invented = "The mean price is 2.33."
    scripted_model.set_script(text(invented), text(invented), text(invented),
                              run_code("print(sum([2.5, 3.5]) / 2)"), text("The mean is 3.0."))
    ws = await _connect(jupyter_server)
    browser = BrowserStandIn(jupyter_server, ws, kernel_id)
    browser.cells.append({"id": "here", "cell_type": "code", "source": "", "metadata": {}, "outputs": []})
    where = {"mode": mode, "cell_id": "here"} if mode == "generate" else {}
    try:
        first, msgs = await browser.turn(chat, nb, "What is the mean price in sales.csv?", **where)
        second, _ = await browser.turn(chat, nb, "What is the mean of the prices 2.5 and 3.5?")
    finally:
        browser.close()
    assert (first["grounding"], first["cells_run"]) == ("not_computed", 0)
    assert "2.33" not in first["answer"]
    assert [m["text"] for m in msgs if m["type"] == "notice"] == [g.NOTICE_NUDGE] * g.MAX_NUDGES
    assert (second["grounding"], second["cells_run"]) == ("computed", 1)
    saved = [m for m in await _history(jupyter_server, nb, chat) if m["type"] == "turn_end"]
    assert [(m["grounding"], m["cells_run"]) for m in saved] == [("not_computed", 0), ("computed", 1)]


async def test_an_accepted_fix_is_computed_without_asking_for_more(jupyter_server, scripted_model):
    kernel_id = await jupyter_server.start_session("groundfix.ipynb")
    scripted_model.set_script(run_code("total = sum([10, 25])\nprint(total)"), text("Fixed: the total is 35."))
    ws = await _connect(jupyter_server)
    browser = BrowserStandIn(jupyter_server, ws, kernel_id, approve="accept")
    browser.cells.append({"id": "usercell", "cell_type": "code", "source": "total = sum([10, 25]\nprint(total)",
                          "metadata": {}, "outputs": [{"output_type": "error", "ename": "SyntaxError",
                                                       "evalue": "'(' was never closed", "traceback": []}]})
    try:
        end, _ = await browser.turn("grfix", "groundfix.ipynb", "fix this error", mode="fix", cell_id="usercell")
    finally:
        browser.close()
    assert end["status"] == "done" and end["answer"] == "Fixed: the total is 35."
    assert (end["grounding"], end["cells_run"]) == ("computed", 1)
    assert len(scripted_model.requests) == 2


# ------------------------------------------------------------------ the rule's pieces

@pytest.mark.parametrize("prompt, context, expected", [
    ("What is the mean price in sales.csv?", "", True),
    ("What is the average volume?", "- sales.csv (2 KB)", True),
    ("What is the average volume?", "", False),
    ("Load sales.csv and show the first rows", "", True),
    ("hi", "- sales.csv", False),
    ("thanks!", "df: DataFrame", False),
    ("explain this code", "df: DataFrame", False),
    ("how do I read a csv with pandas?", "", False),
])
def test_which_requests_ask_for_data(prompt, context, expected):
    assert g.asks_for_data(prompt, context) is expected


def test_numbers_are_backed_by_outputs_as_printed_rounded_or_as_percentages():
    outputs = ["2.33333\n-0.538\n1500.0\n0.253\n1234567.0"]
    assert g.unbacked_numbers("Mean 2.33, change -53.8%, total 1,500, share 25.3%, 1.23 million", outputs) == []
    assert g.unbacked_numbers("Mean 2.34 and 1,234.56 rows; 3 steps", outputs) == ["2.34", "1,234.56"]
    assert g.unbacked_numbers("```python\nx = 12345\n```\nDone.", outputs) == []
    # a CSV line: 100 and 200 (and 100200); a report: 1,234,567
    assert g.unbacked_numbers("North 200, South 100, all 1,234,567", ["North,100,200\n1,234,567"]) == []


def test_the_withheld_answer_keeps_the_code_and_drops_the_numbers():
    answer = g.not_computed_answer("The mean is 2.33 (@mean[2.33]).\n```python\nprint(df.head(10))\n```")
    assert "2.33" not in answer and "@mean" not in answer
    assert "print(df.head(10))" in answer


def test_an_earlier_turns_result_may_be_restated():
    history = [{"role": "user", "content": "User request:\ntotal gdp?", "turn_start": True},
               {"role": "assistant", "content": None, "tool_calls": []},
               {"role": "tool", "tool_call_id": "a", "content": "status: ok\noutput:\n790.0"},
               {"role": "assistant", "content": "The total GDP is 790.0."}]
    rule = g.GroundingRule(prompt="and the rows?", context_text="", mode="chat", codeblocks=False,
                           history=history)
    verdict = rule.review("8 rows; the total was 790.0.", outputs=["8"], cells_run=1)
    assert verdict.grounding == "computed"
    fresh = g.GroundingRule(prompt="and the rows?", context_text="", mode="chat", codeblocks=False)
    assert fresh.review("8 rows; the total was 790.0.", outputs=["8"], cells_run=1).ask is not None


def test_the_command_line_says_when_an_answer_was_not_computed(tmp_path, scripted_model):
    import os
    import subprocess
    import sys

    (tmp_path / "gdp.csv").write_text(GDP_CSV)
    scripted_model.set_script(*[text("The total GDP is 1234.56.")] * 3)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI")}
    proc = subprocess.run(
        [sys.executable, "-m", "jupyterlab_codeinterp.cli", "run", str(tmp_path / "n.ipynb"), "-m",
         "What is the total gdp in gdp.csv?", "--base-url", scripted_model.base_url, "--api-key", "sk-test",
         "--model", "scripted-model", "--timeout", "120"],
        capture_output=True, text=True, env=env, timeout=180, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "1234" not in proc.stdout and "not compute" in proc.stdout
    assert "grounding: not_computed" in proc.stderr


@pytest.mark.parametrize("protocol", ["tools", "codeblocks"])
async def test_the_required_form_of_the_answer_is_recalled_with_the_result(workspace, scripted_model,
                                                                          scripted_config, protocol):
    """Seen with Qwen2.5-Coder-1.5B: the cell printed 0.0679982268 and the answer gave it
    unrounded, or in prose, though the request asked for @name[value] to two decimals."""
    tmp_path, executor = workspace
    scripted_config.protocol = protocol
    compute = run_code(TOTAL) if protocol == "tools" else text(f"```python\n{TOTAL}\n```")
    scripted_model.set_script(compute, text("@total_gdp[790.00]"))
    prompt = ("What is the total gdp in gdp.csv?\n\nConstraints: round to two decimal places.\n\n"
              "Give the final answer in this format: @total_gdp[value]")
    result, _ = await run_agent_turn(scripted_config, executor, tmp_path, "g9", prompt)
    assert result.status == "done" and result.grounding == "computed"
    after_cell = str(scripted_model.requests[1]["messages"][-1]["content"])
    assert "in the form the user asked for" in after_cell
    assert "round to two decimal places" in after_cell and "@total_gdp[value]" in after_cell
    # and before it, the model is asked for code that prints the result in that form
    request = str(scripted_model.requests[0]["messages"][-1]["content"])
    assert request.endswith(prompts.PRINT_IN_FORM)
    # a request that asks for no particular form gets no reminder
    scripted_model.set_script(compute, text("The total GDP is 790.0."))
    await run_agent_turn(scripted_config, executor, tmp_path, "g10", "What is the total gdp in gdp.csv?")
    assert "in the form the user asked for" not in str(scripted_model.requests[-1]["messages"][-1]["content"])
    assert prompts.PRINT_IN_FORM not in str(scripted_model.requests[-2]["messages"])


def test_a_printed_result_rounded_in_the_answer_keeps_its_rounding():
    # the request asked for two decimals; the cell printed ten
    printed = {"mean": "87.9616129032", "n": "7", "p": "0.125"}
    assert g.with_printed_results("@mean[87.96] @n[7] @p[0.13]", printed) == "@mean[87.96] @n[7] @p[0.13]"
    # another number, or no fewer decimals, or no decimals at all: the printed value
    assert g.with_printed_results("@mean[87.97] @p[0.12]", printed).startswith("@mean[87.9616129032] @p[0.12]")
    assert g.with_printed_results("@mean[88]", printed).startswith("@mean[87.9616129032]")
