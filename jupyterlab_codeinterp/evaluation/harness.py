"""``jupyter codeinterp eval``: pick the suite and tasks, run them (``--jobs`` at a time), write
every record as it comes, and the summary at the end (also after Ctrl-C)."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import re
import shlex
import sys
import traceback
from dataclasses import dataclass, field
from typing import Optional, TextIO

from ..config import CodeInterp
from .dabench import find_dabench_folder, load_dabench
from .results import MODES, Record, ResultsWriter, new_record, read_results, read_run_info, write_run_info
from .selection import SelectionError, parse_ids
from .tasks import EvalTask, SuiteError, is_native_suite, load_native_suite, native_suite_name, safe_dirname

BUILTIN_SUITES = ("builtin", "fixes")
#: the "fix this error" suite, a native suite shipped with the package
FIXES_SUITE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixes")
EXIT_OK, EXIT_USAGE, EXIT_INTERRUPTED = 0, 2, 130


class EvalError(Exception):
    """Bad options or an unusable suite: a message for the user, exit code 2."""


@dataclass
class EvalOptions:
    suite: str = "builtin"
    modes: tuple[str, ...] = ("agent",)
    ids: Optional[str] = None
    limit: Optional[int] = None
    jobs: int = 1
    timeout: float = 600.0
    resume: bool = False
    out: Optional[str] = None
    held_out: bool = False
    kernel: Optional[str] = None
    argv: list[str] = field(default_factory=list)


@dataclass
class Suite:
    name: str
    source: str
    tasks: list[EvalTask]
    notes: list[str] = field(default_factory=list)


def suite_label(suite: str) -> str:
    """A short name for ``--suite`` (for the default output folder)."""
    if suite in BUILTIN_SUITES or not os.path.isdir(suite):
        return suite
    if find_dabench_folder(suite):
        return "dabench"
    try:
        return native_suite_name(suite)
    except SuiteError:
        return os.path.basename(os.path.normpath(suite))


def default_out(suite: str, model: str) -> str:
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    name = re.sub(r"[^\w.-]+", "_", f"{suite}-{model}")
    return os.path.join("codeinterp-eval", f"{name}-{stamp}")


def load_suite(opts: EvalOptions, out: str) -> Suite:
    """The selected tasks of ``--suite`` (a built-in name, a DABench folder or a native suite)."""
    try:
        selector = parse_ids(opts.ids)
        if opts.suite == "fixes":
            suite = Suite("fixes", "fixes", load_native_suite(FIXES_SUITE, selector))
        elif opts.suite in BUILTIN_SUITES:
            from .builtin.generate import generate_builtin_suite

            folder = generate_builtin_suite(os.path.join(out, "suite"))
            suite = Suite("builtin", "builtin", load_native_suite(folder, selector),
                          [f"built-in suite written to {folder}"])
        elif not os.path.isdir(opts.suite):
            raise EvalError(f"--suite {opts.suite!r}: not a built-in suite ({', '.join(BUILTIN_SUITES)}) "
                            "nor a folder")
        elif find_dabench_folder(opts.suite):
            folder = find_dabench_folder(opts.suite)
            tasks = load_dabench(folder, selector, held_out=opts.held_out)  # type: ignore[arg-type]
            split = "all ids (--held-out)" if opts.held_out else "even ids only; odd ids are held out, never read"
            suite = Suite("dabench", os.path.abspath(folder), tasks, [f"InfiAgent-DABench, {split}"])  # type: ignore
        elif is_native_suite(opts.suite):
            suite = Suite(native_suite_name(opts.suite), os.path.abspath(opts.suite),
                          load_native_suite(opts.suite, selector))
        else:
            raise EvalError(f"--suite {opts.suite}: no da-dev-questions.jsonl (DABench) and no task folders "
                            "with task.toml or task.json in it")
    except (SuiteError, SelectionError) as exc:
        raise EvalError(str(exc)) from None
    if opts.limit is not None:
        suite.tasks = suite.tasks[: max(0, opts.limit)]
    if not suite.tasks:
        raise EvalError(f"no task of suite {suite.name!r} matches --ids {opts.ids or '(all)'}"
                        + (" (even/odd select numeric ids; this suite's ids are names)" if suite.name != "dabench"
                           and opts.ids and re.search(r"\b(even|odd)\b", opts.ids) else ""))
    missing = [t for t in suite.tasks if t.missing_files]
    if missing:
        suite.notes.append(f"{len(missing)} task(s) have missing data files and will be reported as skipped: "
                           + ", ".join(f"{t.id} ({', '.join(t.missing_files)})" for t in missing))
    return suite


def redact_argv(argv: list[str]) -> list[str]:
    """The command line without the API key (run.json and summary.md are meant to be shared)."""
    out, hide = [], False
    for arg in argv:
        if hide:
            out.append("***")
            hide = False
        elif len(arg) > 4 and "--api-key".startswith(arg.split("=", 1)[0]):  # argparse takes --api too
            out.append(arg.split("=", 1)[0] + ("=***" if "=" in arg else ""))
            hide = "=" not in arg
        else:
            out.append(arg)
    return out


def prepare_out(opts: EvalOptions, config: CodeInterp, suite_name: str, out: str) -> dict:
    """Check ``out`` against --resume and write run.json; returns the run info."""
    existing = read_run_info(out)
    model = config.effective_model()
    if opts.resume and existing:
        for key, now in (("suite", suite_name), ("model", model)):
            if existing.get(key) not in (None, now):
                raise EvalError(f"--resume: {out} holds a run of {key} {existing.get(key)!r}, not {now!r}; "
                                "use another --out")
    command = "jupyter codeinterp " + " ".join(shlex.quote(a) for a in redact_argv(opts.argv))
    info = {**existing, "suite": suite_name, "model": model, "base_url": config.base_url,
            "protocol": config.protocol, "prompt_style": config.prompt_style, "timeout": opts.timeout,
            "created": existing.get("created") or dt.datetime.now().isoformat(timespec="seconds"),
            "command": command, "modes": sorted(set(existing.get("modes", [])) | set(opts.modes))}
    info["invocations"] = existing.get("invocations", []) + [
        {"started": dt.datetime.now().isoformat(timespec="seconds"), "command": command}]
    os.makedirs(out, exist_ok=True)
    write_run_info(out, info)
    return info


async def run_unit(task: EvalTask, mode: str, out: str, config: CodeInterp, opts: EvalOptions) -> Record:
    from .agent_task import run_agent_task
    from .single_shot import run_single_shot_task

    rel = os.path.join("tasks", mode, safe_dirname(task.id))
    folder = os.path.join(out, rel)
    timeout = task.timeout or opts.timeout
    runner = run_agent_task if mode == "agent" else run_single_shot_task
    try:
        return await runner(task, folder, config, timeout=timeout, kernel_name=opts.kernel, workspace=rel)
    except Exception as exc:  # a bug or an environment problem must not end the whole run
        rec = new_record(task, mode, rel)
        rec.detail = f"harness error: {type(exc).__name__}: {exc}"
        traceback.print_exc(file=sys.stderr)
        return rec


async def run_eval(opts: EvalOptions, config: CodeInterp, out: str, stream: TextIO) -> None:
    from .progress import Progress

    if read_results(out) and not opts.resume:
        raise EvalError(f"{out} already holds results; add --resume to continue that run, or choose another --out")
    suite = load_suite(opts, out)
    prepare_out(opts, config, suite.name, out)
    done = {(str(r.id), r.mode) for r in read_results(out) if r.failure != "error"} if opts.resume else set()
    units = [(t, m) for t in suite.tasks for m in opts.modes if (t.key, m) not in done]
    for note in suite.notes:
        stream.write(note + "\n")
    stream.write(f"{len(suite.tasks)} task(s) × {', '.join(opts.modes)}: {len(units)} to run"
                 + (f", {len(suite.tasks) * len(opts.modes) - len(units)} already done" if done else "")
                 + f"; model {config.effective_model()}; results in {out}\n")
    progress = Progress(len(units), stream)
    progress.start()
    writer = ResultsWriter(out)
    gate = asyncio.Semaphore(max(1, opts.jobs))

    async def one(task: EvalTask, mode: str) -> None:
        async with gate:
            rec = await run_unit(task, mode, out, config, opts)
        writer.write(rec)
        progress.finished(rec)

    try:
        await asyncio.gather(*(one(t, m) for t, m in units))
    finally:
        progress.close()
        writer.close()


def run_eval_sync(opts: EvalOptions, config: CodeInterp, stream: Optional[TextIO] = None) -> int:
    """Run the evaluation and write the summary, whatever happens; the exit code."""
    stream = stream or sys.stderr
    from .report import SUMMARY, ModeStats, modes_of, write_summary

    bad = [m for m in opts.modes if m not in MODES]
    if bad:
        stream.write(f"error: unknown mode(s) {bad}; choose from {', '.join(MODES)}\n")
        return EXIT_USAGE
    out = opts.out or default_out(suite_label(opts.suite), config.effective_model())
    code = EXIT_OK
    try:
        asyncio.run(run_eval(opts, config, out, stream))
    except EvalError as exc:
        stream.write(f"error: {exc}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        stream.write("interrupted: the finished tasks are in results.jsonl; --resume runs the rest\n")
        code = EXIT_INTERRUPTED
    records = read_results(out)
    if records:
        path = write_summary(out)
        for mode in modes_of(records):
            s = ModeStats(mode, records)
            stream.write(f"{mode}: {s.accuracy_text()} correct, 95% interval {s.interval_text()}, "
                         f"{s.ungrounded} ungrounded\n")
        stream.write(f"summary: {path}\n")
    elif code == EXIT_OK:
        stream.write(f"no results in {out}; {SUMMARY} not written\n")
    return code
