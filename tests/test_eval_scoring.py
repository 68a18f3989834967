"""Scoring, --ids parsing, outcome classes, intervals and reports of `jupyter codeinterp eval`
(no kernel, no model: plain functions on made-up answers and records)."""

from __future__ import annotations

import json

import pytest

from jupyterlab_codeinterp import cli
from jupyterlab_codeinterp.evaluation.agent_task import classify
from jupyterlab_codeinterp.evaluation.harness import redact_argv
from jupyterlab_codeinterp.evaluation.report import ModeStats, render_summary, report_table, wilson
from jupyterlab_codeinterp.evaluation.results import Record, read_results, write_run_info
from jupyterlab_codeinterp.evaluation.scoring import (
    Expectation,
    dabench_equal,
    extract_answers,
    parse_number,
    score_answer,
)
from jupyterlab_codeinterp.evaluation.selection import SelectionError, parse_ids
from jupyterlab_codeinterp.evaluation.tasks import SuiteError, load_native_suite


# ----------------------------------------------------------------------------- DABench's rule


def test_extract_answers_like_the_benchmark():
    text = "The mean is **@mean_fare[34.65]** and `@count[891]`; on second thought @mean_fare[34.66]"
    # the benchmark builds dict(zip(names, values)): a repeated name keeps its last value
    assert extract_answers(text) == {"mean_fare": "34.66", "count": "891"}
    assert extract_answers("no closed form here: mean_fare = 34.65") == {}
    assert extract_answers("@a[x] @b[] @c[[1]]") == {"a": "x", "b": "", "c": "[1"}


@pytest.mark.parametrize("response,label,equal", [
    ("34.65", "34.65", True),
    ("34.650", "34.65", True),          # floats within 1e-6
    ("34.6500001", "34.65", True),
    ("34.651", "34.65", False),
    ("34.65000100", "34.65", False),    # 1e-6 is not < 1e-6
    ("male", "male", True),
    ("Male", "male", False),            # strings are compared exactly
    (" 34.65", "34.65", True),          # float() ignores surrounding spaces
    ("1_000", "1000", True),            # ... and accepts underscores, as the benchmark's float() does
    (None, "34.65", False),             # the name is missing from the answer
    ("", "", True),
    ("nan", "nan", True),
])
def test_dabench_equality(response, label, equal):
    assert dabench_equal(response, label) is equal


def test_dabench_question_is_right_only_when_every_sub_answer_is():
    expected = [Expectation("mean", "2.50"), Expectation("label", "yes")]
    assert score_answer("@mean[2.5] @label[yes]", expected, "dabench").correct
    score = score_answer("@mean[2.5] @label[no]", expected, "dabench")
    assert not score.correct and score.per_name == {"mean": True, "label": False} and score.answered
    assert not score_answer("mean 2.5, label yes", expected, "dabench").answered


# ----------------------------------------------------------------------------- native tolerance rule


@pytest.mark.parametrize("text,value", [("1,234.5", 1234.5), ("$12", 12.0), ("15%", 15.0), ("-3e2", -300.0),
                                        ("− 4", -4.0), ("€1,000,000", 1e6), ("12,34", None), ("abc", None)])
def test_parse_number(text, value):
    assert parse_number(text) == value


def test_tolerance_rule():
    exp = [Expectation("total", 1234.56, tolerance=0.01), Expectation("region", "North"),
           Expectation("count", 7, tolerance=0), Expectation("flag", True)]
    assert score_answer("@total[1,234.57] @region[ north ] @count[7] @flag[yes]", exp).correct
    assert not score_answer("@total[1234.58] @region[North] @count[7] @flag[true]", exp).correct
    assert not score_answer("@total[1234.56] @region[North] @count[7.5] @flag[true]", exp).correct
    rel = [Expectation("big", 1_000_000.0, tolerance=0, rel_tolerance=0.001)]
    assert score_answer("@big[1000900]", rel).correct and not score_answer("@big[1001100]", rel).correct


# ----------------------------------------------------------------------------- --ids


def test_ids_parsing():
    sel = parse_ids("0-40,even")
    assert [i for i in range(50) if sel.matches(i)] == list(range(0, 41, 2))
    sel = parse_ids("even")
    assert sel.matches(760) and not sel.matches(3) and not sel.matches("excel-sheets")
    sel = parse_ids("2, 4,10-12,excel-*")
    assert [i for i in range(20) if sel.matches(i)] == [2, 4, 10, 11, 12]
    assert sel.matches("excel-sheets") and not sel.matches("plot-file")
    assert sel.matches("10")  # ids read from a file are text
    assert parse_ids(None).matches("anything") and parse_ids("").everything
    assert parse_ids("3,0-9,odd").explicit_odd() == ["3", "odd"]
    assert parse_ids("0-9").explicit_odd() == []
    for bad in ("9-2", "even,odd", "a b", "1;2"):
        with pytest.raises(SelectionError):
            parse_ids(bad)


# ----------------------------------------------------------------------------- outcome classes


def _classify(answer="", status="done", cells=1, expected=(Expectation("x", 1.0, 0.01),), check=None, error=False):
    score = score_answer(answer, list(expected))
    return classify(status=status, has_error=error, answer=answer, cells_run=cells, score=score, check=check,
                    expects_answer=bool(expected))


def test_classes_of_agent_turns():
    assert _classify("@x[1.0]") == (True, "correct")
    assert _classify("@x[2.0]") == (False, "wrong")
    assert _classify("@x[2.0]", cells=0) == (False, "ungrounded")
    assert _classify("The answer is about 2.", cells=0) == (False, "ungrounded")
    yes_no = (Expectation("is_normal", "no"),)
    assert _classify("@is_normal[yes]", cells=0, expected=yes_no) == (False, "ungrounded")  # a finding, no cell
    assert _classify("@is_normal[yes]", cells=1, expected=yes_no) == (False, "wrong")
    assert _classify("@x[1.0]", cells=0) == (True, "correct")  # scored like the benchmark; reported apart
    assert _classify("I could not find the file.", cells=0) == (False, "no answer")
    assert _classify("x is 1.0 (no closed form)") == (False, "no answer")
    assert _classify("", status="failed", error=True) == (False, "model error")
    assert _classify("I stopped trying to fix this cell", status="gave_up") == (False, "gave up")
    assert _classify("@x[1.0]", check="AssertionError: revenue.png was not written") == (False, "wrong")
    assert _classify("done", expected=(), check="passed") == (True, "correct")


# ----------------------------------------------------------------------------- intervals and reports


def test_wilson_interval():
    lo, hi = wilson(8, 10)
    assert (round(lo, 3), round(hi, 3)) == (0.490, 0.943)  # the textbook values for 8/10
    assert wilson(0, 10)[0] == 0.0 and wilson(10, 10)[1] == 1.0
    assert wilson(0, 0) == (0.0, 0.0)
    # every run all right or all wrong: the interval holds its rate exactly (a chart's error bar
    # of -1e-16 made matplotlib refuse to draw the summary of a 0/11 or 6/6 run)
    for n in range(1, 80):
        assert wilson(0, n)[0] == 0.0 and wilson(n, n)[1] == 1.0
        for k in range(n + 1):
            lo, hi = wilson(k, n)
            assert lo <= k / n <= hi


def test_chart_of_all_wrong_and_all_right_runs(tmp_path):
    from jupyterlab_codeinterp.evaluation.chart import write_chart

    records = [Record(id=str(i), mode=mode, correct=(mode == "agent"), failure="correct" if mode == "agent" else "wrong")
               for i in range(11) for mode in ("agent", "single-shot")]
    path = tmp_path / "accuracy.png"
    assert write_chart(records, str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _write_run(folder, model, records):
    folder.mkdir()
    write_run_info(str(folder), {"suite": "builtin", "model": model, "base_url": "http://x/v1", "timeout": 60})
    with open(folder / "results.jsonl", "w") as fh:
        for r in records:
            fh.write(r.to_json() + "\n")
        fh.write('{"id": "cut-by-a-cra')  # a line cut short by a crash is ignored


def _rec(i, mode, failure, seconds=10.0, level="easy"):
    grounded = failure != "ungrounded"
    return Record(id=f"t{i}", mode=mode, failure=failure, correct=failure == "correct", seconds=seconds,
                  level=level, concepts=["csv"], grounded=grounded, cells_run=int(grounded))


def test_summary_and_cross_run_table(tmp_path):
    a = [_rec(0, "agent", "correct", 10), _rec(1, "agent", "ungrounded", 20), _rec(2, "agent", "correct", 30),
         _rec(3, "agent", "skipped"),
         _rec(0, "single-shot", "wrong", 5), _rec(1, "single-shot", "correct", 6), _rec(2, "single-shot", "correct", 7)]
    a[0].grounding, a[1].grounding = "computed", "not_computed"
    _write_run(tmp_path / "run-a", "qwen", a)
    _write_run(tmp_path / "run-b", "smol", [_rec(0, "agent", "no answer", 3, level="hard")])
    records = read_results(str(tmp_path / "run-a"))
    assert len(records) == 7
    stats = ModeStats("agent", records)
    assert (stats.n, stats.correct, stats.ungrounded, stats.median_seconds) == (3, 2, 1, 20)
    summary = render_summary({"suite": "builtin", "model": "qwen"}, records, chart="accuracy.png")
    assert "| agent | 3 | 67% (2/3) | 21%–94% | 1 | 20.0 |" in summary
    assert "| **agent right** | 1 | 1 |" in summary and "| **agent not right** | 1 | 0 |" in summary
    assert "The agent's own grounding verdicts: computed 1, not computed 1." in summary
    assert "- t3 (agent, skipped)" in summary and "![accuracy by mode and level](accuracy.png)" in summary
    table = report_table([str(tmp_path / "run-a"), str(tmp_path / "run-b")])
    lines = table.splitlines()
    assert lines[0].startswith("| model | suite | mode | tasks | accuracy | 95% interval | ungrounded | median s/task")
    assert lines[2:] == ["| qwen | builtin | agent | 3 | 67% (2/3) | 21%–94% | 1 | 20.0 |",
                         "| qwen | builtin | single-shot | 3 | 67% (2/3) | 21%–94% | 0 | 6.0 |",
                         "| smol | builtin | agent | 1 | 0% (0/1) | 0%–79% | 0 | 3.0 |"]
    with pytest.raises(FileNotFoundError):
        report_table([str(tmp_path / "nothing-here")])


def test_eval_report_command(tmp_path, capsys):
    _write_run(tmp_path / "run-a", "qwen", [_rec(0, "agent", "correct"), _rec(1, "agent", "wrong", level="hard")])
    assert cli.main(["eval-report", "--summary", str(tmp_path / "run-a")]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines()[2] == "| qwen | builtin | agent | 2 | 50% (1/2) | 9%–91% | 0 | 10.0 |"
    summary = (tmp_path / "run-a" / "summary.md").read_text()
    assert "| hard | 0/1 (0%) |" in summary and (tmp_path / "run-a" / "accuracy.png").is_file()
    assert cli.main(["eval-report", str(tmp_path / "missing")]) == 2
    assert "not an eval run folder" in capsys.readouterr().err


def test_api_key_is_not_recorded():
    argv = ["eval", "--api-key", "sk-secret", "--model", "m"]
    assert redact_argv(argv) == ["eval", "--api-key", "***", "--model", "m"]
    assert redact_argv(["eval", "--api-key=sk-secret"]) == ["eval", "--api-key=***"]
    assert redact_argv(["eval", "--api", "sk-secret"]) == ["eval", "--api", "***"]


# ----------------------------------------------------------------------------- native format errors


def _task(folder, toml=None, js=None, check=None):
    folder.mkdir(parents=True)
    if toml is not None:
        (folder / "task.toml").write_text(toml)
    if js is not None:
        (folder / "task.json").write_text(json.dumps(js))
    if check is not None:
        (folder / "check.py").write_text(check)


def test_native_suite_loading(tmp_path):
    suite = tmp_path / "suite"
    _task(suite / "a", toml='prompt = "Sum x."\n[expected]\ntotal = 3\n[tolerance]\ntotal = 0\n')
    _task(suite / "b", js={"prompt": "Make a plot.", "level": "easy", "concepts": "plot"}, check="assert True\n")
    (suite / "a" / "files").mkdir()
    (suite / "a" / "files" / "x.csv").write_text("x\n1\n2\n")
    (suite / "notes").mkdir()  # a folder without task.toml is not a task
    tasks = load_native_suite(str(suite))
    assert [t.id for t in tasks] == ["a", "b"]
    a, b = tasks
    assert a.expected[0].name == "total" and a.expected[0].tolerance == 0 and a.files[0][1] == "x.csv"
    assert "@total[value]" in a.request() and a.request().startswith("Sum x.")
    assert b.concepts == ["plot"] and b.check and not b.expected
    assert [t.id for t in load_native_suite(str(suite), parse_ids("b"))] == ["b"]


@pytest.mark.parametrize("toml,message", [
    ('level = "easy"\n[expected]\nx = 1\n', "'prompt' is missing"),
    ('prompt = "p"\n', "give an [expected] table, a check.py, or both"),
    ('prompt = "p"\n[expected]\n"bad name" = 1\n', "must be letters, digits or _"),
    ('prompt = "p"\nexpected = 3\n', "[expected] must be a table"),
    ('prompt = "p"\n[expected]\nx = [1, 2]\n', "must be a number, a string or a boolean"),
    ('prompt = "p\n', "not valid TOML"),
])
def test_native_task_errors_say_what_to_change(tmp_path, toml, message):
    _task(tmp_path / "t", toml=toml)
    with pytest.raises(SuiteError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_native_suite(str(tmp_path))
