"""`jupyter codeinterp eval` on a small native suite written by the test: every outcome class
from real turns (scripted replies, real kernels), check scripts, setup code, per-task
timeouts, --resume, and an interrupted run that loses nothing."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading

import pytest

from jupyterlab_codeinterp import cli
from jupyterlab_codeinterp.evaluation.results import read_results
from jupyterlab_codeinterp.llm.client import forget_endpoint_cache
from scripted_model import error, hang, run_code, solutions_responder, text

CHECK_PNG = 'import os\nassert os.path.exists("out.png"), "out.png was not written"\n'

TASKS = {
    # id: (task.toml body, check.py or None)
    "right": ('prompt = "TASK-right: what is 6 times 7?"\n[expected]\nanswer = 42\n', None),
    "setup": ('prompt = "TASK-setup: add 2 to the variable base."\nsetup = "base = 40"\n'
              '[expected]\nanswer = 42\n', None),
    "wrong": ('prompt = "TASK-wrong: what is 6 times 7?"\n[expected]\nanswer = 42\n', None),
    "guess": ('prompt = "TASK-guess: what is 6 times 7?"\n[expected]\nanswer = 42\n', None),
    "lucky": ('prompt = "TASK-lucky: what is 6 times 7?"\n[expected]\nanswer = 42\n', None),
    "vague": ('prompt = "TASK-vague: what is 6 times 7?"\n[expected]\nanswer = 42\n', None),
    "broken": ('prompt = "TASK-broken: what is 6 times 7?"\n[expected]\nanswer = 42\n', None),
    "fails": ('prompt = "TASK-fails: divide."\n[expected]\nanswer = 42\n', None),
    "slow": ('prompt = "TASK-slow: what is 6 times 7?"\ntimeout = 3\n[expected]\nanswer = 42\n', None),
    "sleepy": ('prompt = "TASK-sleepy: what is 6 times 7?"\ntimeout = 3\n[expected]\nanswer = 42\n', None),
    "plot": ('prompt = "TASK-plot: save out.png and say 42."\n[expected]\nanswer = 42\n', CHECK_PNG),
}

# each computes its value (a cell that only prints a number typed into it backs nothing)
SOLUTIONS = {
    "TASK-right": "answer = 6 * 7\nprint(f'@answer[{answer}]')",
    "TASK-setup": "print(f'@answer[{base + 2}]')",
    "TASK-wrong": "answer = 6 * 7 - 1\nprint(f'@answer[{answer}]')",
    "TASK-plot": "answer = 6 * 7\nprint(f'@answer[{answer}]')",  # ... and writes no out.png: its check fails
    "TASK-sleepy": "import time\ntime.sleep(60)",
}
SPECIAL = {
    "TASK-guess": lambda req: text("It is surely @answer[41]."),  # a number, and no cell ran
    "TASK-lucky": lambda req: text("It is @answer[42]."),  # right, though no cell ran
    "TASK-vague": lambda req: text("I cannot tell from here."),
    "TASK-broken": lambda req: error(401, "Incorrect API key provided."),
    "TASK-fails": lambda req: run_code("1 / 0"),  # the same error after the repair: gives up
    "TASK-slow": lambda req: hang(60),
}


def responder(req: dict):
    asked = json.dumps([m for m in req.get("messages", []) if m.get("role") == "user"])
    for marker, reply in SPECIAL.items():
        if marker in asked:
            return reply(req)
    return solutions_responder(SOLUTIONS)(req)


@pytest.fixture
def suite(tmp_path):
    root = tmp_path / "suite"
    for name, (toml, check) in TASKS.items():
        (root / name).mkdir(parents=True)
        (root / name / "task.toml").write_text(toml)
        if check:
            (root / name / "check.py").write_text(check)
    (root / "suite.toml").write_text('name = "classes"\n')
    return root


def eval_args(suite, scripted_model, out, *extra):
    return ["eval", "--suite", str(suite), "--base-url", scripted_model.base_url, "--model", "scripted-model",
            "--api-key", "sk-test", "--out", str(out), *extra]


def run(args, capsys):
    forget_endpoint_cache()
    code = cli.main(args)
    return code, capsys.readouterr().err


def test_every_outcome_class(suite, scripted_model, tmp_path, capsys):
    scripted_model.responder = responder
    out = tmp_path / "run"
    code, err = run(eval_args(suite, scripted_model, out, "--jobs", "4"), capsys)
    assert code == 0, err
    got = {r.id: r for r in read_results(str(out))}
    # an answer given with no cell run is passed through by a loop that does not check grounding
    # (then: ungrounded, or correct when lucky), or withheld by one that does (then: no answer,
    # and the loop's verdict "not_computed" is recorded)
    for name, passed_through in (("guess", "ungrounded"), ("lucky", "correct")):
        rec = got.pop(name)
        if name == "guess":  # the turn's transcript keeps the answers the loop sent back
            turn = json.loads((out / rec.workspace / "turn.json").read_text())
            said = [m["content"] for m in turn["transcript"] if m["role"] == "assistant"]
            assert said and all("@answer[41]" in c for c in said), said
        assert rec.cells_run == 0 and rec.grounded is False
        if rec.grounding == "not_computed":
            assert rec.failure == "no answer" and not rec.correct and "not computed" in rec.detail
        else:
            assert rec.failure == passed_through and rec.correct == (name == "lucky")
    assert {k: r.failure for k, r in got.items()} == {
        "right": "correct", "setup": "correct", "wrong": "wrong", "vague": "no answer",
        "broken": "model error", "fails": "gave up", "slow": "timeout", "sleepy": "timeout", "plot": "wrong"}
    assert got["right"].cells_run == 1 and got["right"].grounded and got["right"].answer.endswith("@answer[42]")
    fails = got["fails"]  # the same failing cell again: repaired once, or refused as a repeat
    assert fails.status == "gave_up" and fails.cells_run >= 1 and fails.repairs == fails.cells_run - 1
    assert fails.detail.startswith("I stopped")
    assert "auth" in got["broken"].detail and got["broken"].status == "failed"
    assert "within 3 s" in got["slow"].detail and "within 3 s" in got["sleepy"].detail
    assert got["plot"].check == "AssertionError: out.png was not written"
    assert "check.py: AssertionError" in got["plot"].detail
    # the interrupted cell is in the notebook, and the kernel was stopped, not left sleeping
    nb = json.loads((out / got["sleepy"].workspace / "analysis.ipynb").read_text())
    assert "time.sleep(60)" in "".join(nb["cells"][-1]["source"])
    summary = (out / "summary.md").read_text()
    assert "# Evaluation: classes suite" in summary
    for line in ("| timeout | 2 |", "| model error | 1 |", "| gave up | 1 |", "| wrong | 2 |"):
        assert line in summary, line


def test_resume_runs_only_what_is_missing(suite, scripted_model, tmp_path, capsys):
    scripted_model.responder = responder
    out = tmp_path / "run"
    code, err = run(eval_args(suite, scripted_model, out, "--ids", "right,setup"), capsys)
    assert code == 0, err
    assert len(read_results(str(out))) == 2
    # an existing run is never overwritten by accident
    code, err = run(eval_args(suite, scripted_model, out, "--ids", "right,wrong"), capsys)
    assert code == 2 and "--resume" in err
    # a different model cannot be mixed into the same run
    code, err = run(eval_args(suite, scripted_model, out, "--resume", "--model", "scripted-large"), capsys)
    assert code == 2 and "scripted-model" in err
    # a crash left half a line and a harness error: both are run again
    with open(out / "results.jsonl", "a") as fh:
        fh.write(json.dumps({"id": "wrong", "mode": "agent", "failure": "error", "detail": "kernel died"}) + "\n")
        fh.write('{"id": "guess", "mode": "agen')
    scripted_model.requests.clear()
    code, err = run(eval_args(suite, scripted_model, out, "--resume", "--ids", "right,setup,wrong,guess",
                              "--mode", "both"), capsys)
    assert code == 0, err
    assert "6 to run, 2 already done" in err
    records = {(r.id, r.mode): r for r in read_results(str(out))}
    assert len(records) == 8
    assert records[("wrong", "agent")].failure == "wrong"  # the error record was replaced
    assert records[("setup", "single-shot")].failure == "correct"  # the setup ran before the program too
    assert records[("guess", "single-shot")].failure == "no answer"  # the reply had no program
    info = json.loads((out / "run.json").read_text())
    assert info["modes"] == ["agent", "single-shot"] and len(info["invocations"]) == 2
    # no model request was made for the tasks already done
    asked = [json.dumps(r["messages"]) for r in scripted_model.requests]
    assert not any("TASK-right" in a and "Write one complete Python program" not in a for a in asked)


def test_interrupted_run_loses_nothing_and_resumes(suite, scripted_model, tmp_path):
    """Ctrl-C while a task runs: the finished tasks are kept, the summary written, exit 130;
    --resume then runs the rest."""
    state = {"slow": True, "asked": threading.Event()}

    def interruptible(req):
        asked = json.dumps([m for m in req.get("messages", []) if m.get("role") == "user"])
        if "TASK-wrong" in asked and state["slow"]:
            state["asked"].set()
            return run_code("import time\ntime.sleep(120)")
        return responder(req)

    scripted_model.responder = interruptible
    out = tmp_path / "run"
    # tasks run in the suite's order: right, setup, then wrong (which sleeps in a cell)
    args = [sys.executable, "-m", "jupyterlab_codeinterp.cli"] + eval_args(suite, scripted_model, out, "--ids",
                                                                          "right,setup,wrong")
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert state["asked"].wait(120), "the run never reached its third task"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "--resume runs the rest" in err
    assert {r.id: r.failure for r in read_results(str(out))} == {"right": "correct", "setup": "correct"}
    assert "| agent | 2 | 100% (2/2) |" in (out / "summary.md").read_text()
    state["slow"] = False
    forget_endpoint_cache()
    code = cli.main(eval_args(suite, scripted_model, out, "--ids", "right,setup,wrong", "--resume"))
    assert code == 0
    assert {r.id: r.failure for r in read_results(str(out))} == {"right": "correct", "wrong": "wrong",
                                                                  "setup": "correct"}
