"""The built-in suite: generated the same way every time, right by construction (its reference
solutions must agree with its expected answers), and the whole harness end to end on it with
the scripted model, real kernels and the real agent."""

from __future__ import annotations

import filecmp
import json
import os
import re

from jupyterlab_codeinterp import cli
from jupyterlab_codeinterp.evaluation.builtin import all_tasks
from jupyterlab_codeinterp.evaluation.builtin.generate import generate_builtin_suite, verify_suite
from jupyterlab_codeinterp.evaluation.results import read_results
from jupyterlab_codeinterp.evaluation.tasks import load_native_suite
from jupyterlab_codeinterp.llm.client import forget_endpoint_cache
from scripted_model import solutions_responder


def workbook_cells(path: str) -> dict:
    from openpyxl import load_workbook

    wb = load_workbook(path, read_only=True)
    return {ws.title: [list(row) for row in ws.iter_rows(values_only=True)] for ws in wb.worksheets}


def test_suite_covers_the_messy_cases():
    tasks = all_tasks()
    assert 18 <= len(tasks) <= 24 and len({t.id for t in tasks}) == len(tasks)
    concepts = {c for t in tasks for c in t.concepts}
    for needed in ("cleaning", "dates", "join", "excel", "groupby", "pivot", "resampling", "plot", "kernel state"):
        assert needed in concepts, needed
    assert {t.level for t in tasks} == {"easy", "medium", "hard"}


def test_generation_is_deterministic_and_verified(tmp_path):
    a = generate_builtin_suite(str(tmp_path / "a"))  # verifies: raises if a reference disagrees
    b = generate_builtin_suite(str(tmp_path / "b"), verify=False)
    for task in load_native_suite(a):
        folder_a, folder_b = os.path.join(a, task.key), os.path.join(b, task.key)
        assert filecmp.cmp(os.path.join(folder_a, "task.toml"), os.path.join(folder_b, "task.toml"), shallow=False)
        for _src, name in task.files:
            file_a, file_b = os.path.join(folder_a, "files", name), os.path.join(folder_b, "files", name)
            if name.endswith(".xlsx"):  # a workbook carries its creation time: compare its cells
                assert workbook_cells(file_a) == workbook_cells(file_b), (task.key, name)
            else:
                assert filecmp.cmp(file_a, file_b, shallow=False), (task.key, name)
    assert generate_builtin_suite(a) == a  # a current suite is reused, not rewritten


def test_verification_catches_a_wrong_expected_value(tmp_path):
    suite = generate_builtin_suite(str(tmp_path / "suite"), verify=False)
    toml = os.path.join(suite, "groupby-mean", "task.toml")
    text = open(toml).read()
    value = re.search(r"mean_salary = ([\d.]+)", text).group(1)
    with open(toml, "w") as fh:
        fh.write(text.replace(f"mean_salary = {value}", f"mean_salary = {float(value) + 1}"))
    problems = verify_suite(suite)
    assert len(problems) == 1 and problems[0].startswith("groupby-mean: reference gave")


def test_whole_builtin_suite_end_to_end(scripted_model, tmp_path, capsys):
    """The scripted model answers each task with that task's reference solution as a run_code
    call, then with what the cell printed: every number in an answer comes from the kernel."""
    suite = generate_builtin_suite(str(tmp_path / "reference"), verify=False)
    tasks = load_native_suite(suite)
    scripted_model.responder = solutions_responder({t.prompt: t.solution for t in tasks})
    out = tmp_path / "run"
    forget_endpoint_cache()
    code = cli.main(["eval", "--suite", "builtin", "--base-url", scripted_model.base_url, "--model", "scripted-model",
                     "--api-key", "sk-test", "--jobs", "4", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 0, err
    records = read_results(str(out))
    assert sorted(str(r.id) for r in records) == sorted(t.key for t in tasks)
    wrong = [(r.id, r.failure, r.detail, r.answer) for r in records if r.failure != "correct"]
    assert not wrong, wrong
    for r in records:
        assert r.mode == "agent" and r.cells_run == 1 and r.repairs == 0 and r.grounded
        assert r.tokens_in > 0 and r.tokens_out > 0 and r.seconds > 0 and r.level and r.concepts
        assert os.path.isfile(out / r.workspace / "analysis.ipynb")
    plot = next(r for r in records if r.id == "plot-file")
    assert plot.check == "passed" and (out / plot.workspace / "revenue.png").is_file()
    # the kernel-variable task's setup ran as the notebook's first cell, before the agent's cell
    nb = json.loads((out / "tasks" / "agent" / "kernel-variable" / "analysis.ipynb").read_text())
    assert "inventory = pd.DataFrame" in "".join(nb["cells"][0]["source"])
    assert nb["cells"][1]["metadata"]["codeinterp"]["generated"] is True
    # the scripted model never saw an expected value: only requests, and its own cells' output
    summary = (out / "summary.md").read_text()
    assert f"| agent | {len(tasks)} | 100% ({len(tasks)}/{len(tasks)}) |" in summary
    assert "## By level" in summary and "## By concept" in summary and "| kernel state |" in summary
    assert (out / "accuracy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    run = json.loads((out / "run.json").read_text())
    assert run["suite"] == "builtin" and run["model"] == "scripted-model" and "sk-test" not in json.dumps(run)
    assert "agent: 100%" in err and "summary: " in err

    code = cli.main(["eval-report", str(out)])
    table = capsys.readouterr().out
    assert code == 0
    assert f"| scripted-model | builtin | agent | {len(tasks)} | 100% ({len(tasks)}/{len(tasks)}) |" in table


def test_scripted_model_knows_every_builtin_solution():
    """`scripted_model.py --solutions builtin`, the README's plumbing row, covers the whole suite."""
    from scripted_model import suite_solutions

    solutions = suite_solutions("builtin")
    assert len(solutions) == 20 and all(code.strip() for code in solutions.values())
