"""`jupyter codeinterp eval --suite fixes`: broken multi-line cells fixed in fix mode, judged by
re-running the notebook from the top in a fresh kernel."""

from __future__ import annotations

import json

from jupyterlab_codeinterp import cli
from jupyterlab_codeinterp.evaluation.harness import FIXES_SUITE
from jupyterlab_codeinterp.evaluation.results import read_results
from jupyterlab_codeinterp.evaluation.tasks import load_native_suite
from jupyterlab_codeinterp.llm.client import forget_endpoint_cache
from scripted_model import run_code, text

# a small model's habit: the proposal is only the line it changed
# (a marker of the task in the request: the proposal)
ONLY_THE_CHANGED_LINE = {
    "np.round": "import numpy as np",
    "sale.groupby": 'by_region = sales.groupby("region")["revenue"].sum()',
    "KeyError": 'sales["revenue"] = sales["Price (USD)"] * sales["qty"]',
    "FileNotFoundError": 'sales = pd.read_csv("sales_2024.csv")',
}


def responder(req: dict):
    msgs = req.get("messages", [])
    if any(m.get("role") == "tool" for m in msgs):
        return text("Fixed.")
    asked = json.dumps([m for m in msgs if m.get("role") == "user"])
    for marker, line in ONLY_THE_CHANGED_LINE.items():
        if marker in asked:
            return run_code(line)
    return text("I do not know.")


def test_the_fixes_suite_loads_as_fix_tasks():
    tasks = load_native_suite(FIXES_SUITE)
    assert sorted(t.key for t in tasks) == ["missing-import", "name-typo", "wrong-column", "wrong-file"]
    for t in tasks:
        assert t.mode == "fix" and len(t.cell.strip().splitlines()) >= 4 and t.check
        assert t.request() == "Fix this error."


def test_fixes_suite_with_one_line_proposals_re_runs_from_the_top(scripted_model, tmp_path, capsys):
    scripted_model.responder = responder
    out = tmp_path / "run"
    forget_endpoint_cache()
    code = cli.main(["eval", "--suite", "fixes", "--base-url", scripted_model.base_url, "--model",
                     "scripted-model", "--api-key", "sk-test", "--out", str(out), "--mode", "both"])
    err = capsys.readouterr().err
    assert code == 0, err
    records = read_results(str(out))
    agent = {r.id: r for r in records if r.mode == "agent"}
    assert {k: (r.failure, r.check) for k, r in agent.items()} == {
        k: ("correct", "passed") for k in ("missing-import", "name-typo", "wrong-column", "wrong-file")}
    # the notebook holds the whole fixed cell, not the lone line the model sent
    nb = json.loads((out / agent["wrong-column"].workspace / "analysis.ipynb").read_text())
    sources = ["".join(c["source"]) for c in nb["cells"]]
    assert len(sources) == 1 and sources[0].startswith("import pandas as pd\nsales = pd.read_csv")
    assert 'sales["Price (USD)"]' in sources[0] and "print(by_region)" in sources[0]
    assert {r.failure for r in records if r.mode == "single-shot"} == {"skipped"}


def test_a_fix_that_breaks_the_rerun_is_wrong(scripted_model, tmp_path, capsys):
    # the proposal runs in the live kernel (sales is there from the broken run) but not from the top
    proposal = ('import pandas as pd\nprint(len(sales))\n'
                'sales["revenue"] = sales["Price (USD)"] * sales["qty"]\n'
                'by_region = sales.groupby("region")["revenue"].sum()\nprint(by_region)')
    scripted_model.set_script(run_code(proposal), text("Fixed."))
    scripted_model.responder = lambda req: text("Fixed.")
    out = tmp_path / "run"
    forget_endpoint_cache()
    code = cli.main(["eval", "--suite", "fixes", "--ids", "name-typo", "--base-url", scripted_model.base_url,
                     "--model", "scripted-model", "--api-key", "sk-test", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    (rec,) = read_results(str(out))
    assert not rec.correct and rec.failure == "wrong"
    assert rec.check.startswith("the notebook does not re-run from the top") and "NameError" in rec.check
