"""The InfiAgent-DABench loader and scorer, on a tiny made-up benchmark folder in its format
(never the real data): even ids only, odd ids never parsed, missing files reported, and one
end-to-end run of both modes through the scripted model and real kernels."""

from __future__ import annotations

import json

import pytest

from jupyterlab_codeinterp import cli
from jupyterlab_codeinterp.evaluation.dabench import find_dabench_folder, load_dabench
from jupyterlab_codeinterp.evaluation.results import read_results
from jupyterlab_codeinterp.evaluation.selection import SelectionError, parse_ids
from jupyterlab_codeinterp.evaluation.tasks import SuiteError
from jupyterlab_codeinterp.llm.client import forget_endpoint_cache
from scripted_model import solutions_responder

QUESTIONS = [
    {"id": 0, "question": "What is the mean of the column v?", "concepts": ["Summary Statistics"],
     "constraints": "Use all rows. Round to two decimals.",
     "format": "@mean_v[mean] where \"mean\" is a number rounded to two decimals.",
     "file_name": "numbers.csv", "level": "easy"},
    {"id": 2, "question": "How many rows have the kind 'b'?", "concepts": ["Data Preprocessing"],
     "constraints": "Count exact matches.", "format": "@count_b[count] where \"count\" is an integer.",
     "file_name": "kinds.csv", "level": "medium"},
    {"id": 4, "question": "Which kind appears most often?", "concepts": ["Summary Statistics", "Data Preprocessing"],
     "constraints": "", "format": "@top_kind[kind]", "file_name": "kinds.csv", "level": "hard"},
    {"id": 6, "question": "What is the largest value?", "concepts": ["Summary Statistics"], "constraints": "",
     "format": "@max[value]", "file_name": "gone.csv", "level": "easy"},
]
LABELS = [{"id": 0, "common_answers": [["mean_v", "2.50"]]}, {"id": 2, "common_answers": [["count_b", "2"]]},
          {"id": 4, "common_answers": [["top_kind", "a"]]}, {"id": 6, "common_answers": [["max", "9"]]}]
# odd ids are the held-out split: these lines are not even valid JSON, so a loader that
# parsed them would fail
HELD_OUT_LINE = '{"id": %d, "question": "held out: never parsed'

SOLUTIONS = {
    "mean of the column v": 'import pandas as pd\nprint(f"@mean_v[{pd.read_csv(\'numbers.csv\')[\'v\'].mean():.2f}]")',
    "kind 'b'": 'import pandas as pd\nprint(f"@count_b[{(pd.read_csv(\'kinds.csv\')[\'kind\'] == \'b\').sum()}]")',
    "appears most often": 'import pandas as pd\nprint(f"@top_kind[{pd.read_csv(\'kinds.csv\')[\'kind\'].mode()[0]}]")',
    "largest value": 'import pandas as pd\nprint(f"@max[{pd.read_csv(\'gone.csv\').max().max()}]")',
}


@pytest.fixture
def dabench(tmp_path):
    """The benchmark's layout: <root>/data/{da-dev-questions.jsonl, da-dev-labels.jsonl, da-dev-tables/}."""
    data = tmp_path / "DA-Agent" / "data"
    (data / "da-dev-tables").mkdir(parents=True)
    lines_q, lines_l = [], []
    for question, label in zip(QUESTIONS, LABELS):
        lines_q.append(json.dumps(question))
        lines_l.append(json.dumps(label))
        lines_q.append(HELD_OUT_LINE % (question["id"] + 1))
        lines_l.append(HELD_OUT_LINE % (question["id"] + 1))
    (data / "da-dev-questions.jsonl").write_text("\n".join(lines_q) + "\n")
    (data / "da-dev-labels.jsonl").write_text("\n".join(lines_l) + "\n")
    (data / "da-dev-tables" / "numbers.csv").write_text("v\n1\n2\n3\n4\n")
    (data / "da-dev-tables" / "kinds.csv").write_text("kind\na\nb\na\nb\na\n")
    return data


def test_even_ids_only_and_odd_lines_never_parsed(dabench):
    tasks = load_dabench(str(dabench), parse_ids("even"))
    assert [t.id for t in tasks] == [0, 2, 4, 6]
    assert [t.id for t in load_dabench(str(dabench), parse_ids(None))] == [0, 2, 4, 6]
    assert [t.id for t in load_dabench(str(dabench), parse_ids("0-3"))] == [0, 2]  # a range keeps its even ids
    for asked in ("1", "odd", "0-4,3"):
        with pytest.raises(SelectionError, match="held-out split"):
            load_dabench(str(dabench), parse_ids(asked))
    # only an explicit held_out reads odd lines (and these made-up ones are broken on purpose)
    with pytest.raises(SuiteError, match="not valid JSON"):
        load_dabench(str(dabench), parse_ids("1"), held_out=True)


def test_task_prompt_missing_file_and_layout(dabench):
    assert find_dabench_folder(str(dabench.parent)) == str(dabench)
    t0, _t2, _t4, t6 = load_dabench(str(dabench), parse_ids("even"))
    request = t0.request()
    for part in ("What is the mean of the column v?", "Constraints: Use all rows.", "`numbers.csv`",
                 "@mean_v[mean] where"):
        assert part in request
    assert t0.rule == "dabench" and t0.expected[0].value == "2.50" and t0.level == "easy"
    assert t0.files == [(str(dabench / "da-dev-tables" / "numbers.csv"), "numbers.csv")]
    assert t6.missing_files == ["gone.csv"] and t6.files == []


def run_eval(args, capsys):
    forget_endpoint_cache()
    code = cli.main(["eval", "--model", "scripted-model", "--api-key", "sk-test", *args])
    return code, capsys.readouterr().err


def test_eval_on_dabench_both_modes(dabench, scripted_model, tmp_path, capsys):
    scripted_model.responder = solutions_responder(SOLUTIONS)
    out = tmp_path / "run"
    code, err = run_eval(["--suite", str(dabench.parent), "--base-url", scripted_model.base_url, "--ids", "even",
                          "--mode", "both", "--jobs", "3", "--out", str(out)], capsys)
    assert code == 0, err
    assert "even ids only" in err and "gone.csv" in err
    records = {(str(r.id), r.mode): r for r in read_results(str(out))}
    assert len(records) == 8
    for qid in ("0", "2", "4"):
        for mode in ("agent", "single-shot"):
            rec = records[(qid, mode)]
            assert rec.failure == "correct", (qid, mode, rec)
            assert rec.cells_run == 1 and rec.level and rec.concepts
    assert records[("0", "agent")].extracted == {"mean_v": "2.50"}
    assert records[("0", "agent")].expected == {"mean_v": "2.50"}
    for mode in ("agent", "single-shot"):
        rec = records[("6", mode)]
        assert rec.failure == "skipped" and "gone.csv" in rec.detail
    summary = (out / "summary.md").read_text()
    assert "| agent | 3 | 100% (3/3) |" in summary and "- 6 (agent, skipped): missing data file(s): gone.csv" in summary
    assert "| Data Preprocessing |" in summary and "| hard | 1/1 (100%) | 1/1 (100%) |" in summary
    # no request ever carried a held-out question
    assert not any("held out" in json.dumps(req) for req in scripted_model.requests)


def test_odd_ids_are_refused_on_the_command_line(dabench, scripted_model, tmp_path, capsys):
    code, err = run_eval(["--suite", str(dabench), "--base-url", scripted_model.base_url, "--ids", "3",
                          "--out", str(tmp_path / "run")], capsys)
    assert code == 2 and "held-out split" in err and "--ids even" in err
    assert scripted_model.requests == []
