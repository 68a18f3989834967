"""Results checked against the form the request gives them (choices it lists, nan), unit
and end to end with the scripted model."""

from __future__ import annotations

from jupyterlab_codeinterp.agent import prompts
from jupyterlab_codeinterp.agent.formcheck import form_choices, form_decimals, unfit_note, unfit_results
from jupyterlab_codeinterp.agent.loop import NOTICE_UNFIT
from jupyterlab_codeinterp.executors.headless import HeadlessExecutor  # noqa: F401
from jupyterlab_codeinterp.protocol import NoticeMsg
from scripted_model import run_code, text
from test_agent_headless import run_agent_turn
from test_grounding import last_user_text, workspace  # noqa: F401  (fixture)

FORM = ('@skewed[answer] @total[value] where "answer" is a string that is either "yes" or "no", '
        'and "value" is the total rounded to two decimals.')


def test_the_choices_a_request_lists_are_read_per_result():
    assert form_choices(FORM) == {"skewed": ["yes", "no"]}
    three = '@kind[k] where "k" can be "linear", "nonlinear", or "none" based on the constraints.'
    assert form_choices(three) == {"kind": ["linear", "nonlinear", "none"]}
    # the result's own name may be its placeholder, and the text may quote with single quotes
    assert form_choices("@fit[fit] where 'fit' is a string: either \"good fit\" or \"poor fit\".") == {
        "fit": ["good fit", "poor fit"]}
    # quoted words that are not said to be its values are not choices
    assert form_choices('@mean[m] where "m" is the mean of "Fare" and "Age" columns.') == {}
    assert form_choices("What is the mean fare?") == {}


def test_results_outside_the_choices_or_not_numbers_do_not_fit():
    bad = unfit_results(FORM, "@skewed[0.03] @total[nan]")
    assert [(u.name, u.value, u.choices) for u in bad] == [("skewed", "0.03", ["yes", "no"]), ("total", "nan", None)]
    assert unfit_results(FORM, "@skewed[No] @total[790.00]") == []
    assert unfit_results(FORM, "@skewed['yes'] @total[1.5]") == []
    # only results the request asks for, and the last value stated for a name counts
    assert unfit_results(FORM, "@other[nan] @skewed[maybe] then @skewed[yes]") == []
    assert unfit_results("What is the total?", "@total[nan]") == []
    note = unfit_note(bad)
    assert '@skewed must be one of "yes", "no"' in note and "'nan'" in note and "dropna()" in note
    assert note.rstrip().endswith("exactly that form.")


def test_the_decimals_a_request_rounds_to_are_read_per_result():
    # one count for all
    assert form_decimals("@a[x], @b[y] where \"x\" and \"y\" are rounded to 2 decimal places") == {"a": 2, "b": 2}
    # several: per quoted placeholder
    several = ('@r[r_value] @p[p_value] where "r_value" is rounded to two decimal places. '
               'where "p_value" is a number rounded to four decimal places.')
    assert form_decimals(several) == {"r": 2, "p": 4}
    assert form_decimals("@a[x] where x is the mean") == {}
    # more decimals than asked do not fit; fewer, integers and text do
    bad = unfit_results(several, "@r[0.2346] @p[0.0001]")
    assert [(u.name, u.decimals) for u in bad] == [("r", 2)]
    assert "@r must be rounded to 2 decimal places, not 0.2346" in unfit_note(bad)
    assert unfit_results(several, "@r[0.2] @p[0]") == []


async def test_a_result_outside_the_listed_choices_is_computed_again_once(workspace, scripted_model,  # noqa: F811
                                                                          scripted_config):
    """Seen with Qwen2.5-Coder-1.5B: asked for "Normal" or "Non-normal", its cell printed the
    test's p-value in that slot, and it answered so; told so in the conversation, it sent the
    same cell back."""
    tmp_path, executor = workspace
    prompt = ("Is the gdp in gdp.csv skewed, and what is its total?\n\nGive the final answer in this "
              "format: " + FORM)
    p_value = "import pandas as pd\ngdp = pd.read_csv('gdp.csv')['gdp']\nprint(f'@skewed[0.03] @total[{gdp.sum():.2f}]')"
    decided = p_value.replace("@skewed[0.03]", "@skewed[{\"yes\" if gdp.skew() > 0.5 else \"no\"}]")
    scripted_model.set_script(run_code(p_value), text("@skewed[0.03] @total[790.00]"),
                              text(f"```python\n{decided}\n```"), text("Here it is."))
    result, sink = await run_agent_turn(scripted_config, executor, tmp_path, "u1", prompt)
    # asked apart from the conversation, as one whole program, told what did not fit
    again = scripted_model.requests[2]
    assert again["messages"][0]["content"] == prompts.PROGRAM_SYSTEM and "tools" not in again
    asked = last_user_text(again)
    assert "do not fit the form" in asked and '"yes", "no"' in asked and "'0.03'" in asked
    assert any(isinstance(m, NoticeMsg) and m.text == NOTICE_UNFIT for m in sink.messages)
    assert result.cells_run == 2 and result.status == "done"
    assert "@total[790.00]" in result.answer and "@skewed[0.03]" not in result.answer
    assert len(scripted_model.requests) == 3  # the program printed both, fitting: the turn ended there
    # asked once: a second unfit answer is passed on as computed
    scripted_model.set_script(run_code(p_value), text("@skewed[0.03] @total[790.00]"),
                              text(f"```python\n{p_value}  # again\n```"),
                              text("@skewed[0.03] @total[790.00]"), text("unused"))
    result, _ = await run_agent_turn(scripted_config, executor, tmp_path, "u2", prompt)
    assert (result.status, result.answer) == ("done", "@skewed[0.03] @total[790.00]")
    assert len(scripted_model.requests) == 3 + 4


def test_words_the_request_gave_are_cut_from_a_number_and_others_are_kept():
    prompt = ("Give the final answer in this format: @skew[float between -0.5 and 0.5, rounded to two "
              "decimal places] @kurt[float around 0, answer should be within range of -0.5 to 0.5]")
    from jupyterlab_codeinterp.agent.formcheck import without_echoed_form
    assert without_echoed_form(prompt, "@skew[0.14, rounded to two decimal places]") == "@skew[0.14]"
    assert without_echoed_form(prompt, "@kurt[-0.29 (answer should be within range of -0.5 to 0.5)]") == "@kurt[-0.29]"
    # words the request does not hold, names it does not ask for, and lists stay as they are
    assert without_echoed_form(prompt, "@skew[0.14, see above]") == "@skew[0.14, see above]"
    assert without_echoed_form(prompt, "@other[0.14, rounded to two decimal places]").endswith("places]")
    assert without_echoed_form(prompt, "@skew[0.14, 0.2]") == "@skew[0.14, 0.2]"
