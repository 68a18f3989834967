"""``jupyter codeinterp``: the agent without a browser.

    jupyter codeinterp run NOTEBOOK.ipynb -m "PROMPT" [--model M] [--base-url URL]
        [--api-key KEY] [--max-repairs N] [--timeout S] [--no-restore]
    jupyter codeinterp doctor [--model M] [--base-url URL] [--api-key KEY]
    jupyter codeinterp eval [--suite builtin|PATH] [--mode agent|single-shot|both] [--ids IDS] ...
    jupyter codeinterp eval-report RUN_DIR [RUN_DIR...]

``run`` exit codes: 0 the agent finished; 1 it stopped without finishing (repairs
exhausted, step limit); 2 bad arguments; 3 the model endpoint failed; 4 the kernel or
notebook failed; 124 the --timeout ran out; 130 interrupted (Ctrl-C). The notebook is
saved after every cell, so nothing that ran is lost whatever the exit.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import Optional

from pydantic import BaseModel
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader, JSONFileConfigLoader, ConfigFileNotFound

from .config import CodeInterp
from .protocol import ApprovalReplyMsg, ApprovalRequestMsg, ContextNoteMsg, ErrorMsg, StepMsg, TextDeltaMsg

EXIT_OK, EXIT_GAVE_UP, EXIT_USAGE, EXIT_MODEL, EXIT_KERNEL, EXIT_TIMEOUT, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 124, 130


def load_config() -> Config:
    """c.CodeInterp settings from the usual Jupyter config files (server and our own)."""
    from jupyter_core.paths import jupyter_config_path

    merged = Config()
    for directory in reversed(jupyter_config_path()):
        for name in ("jupyter_server_config", "jupyter_codeinterp_config"):
            for loader_cls, ext in ((JSONFileConfigLoader, ".json"), (PyFileConfigLoader, ".py")):
                try:
                    merged.merge(loader_cls(name + ext, path=directory).load_config())
                except ConfigFileNotFound:
                    pass
                except Exception as exc:  # a broken config file must not stop the CLI silently
                    print(f"warning: ignoring {os.path.join(directory, name + ext)}: {exc}", file=sys.stderr)
    return merged


def make_config(args: argparse.Namespace) -> CodeInterp:
    cfg = CodeInterp(config=load_config())
    if getattr(args, "model", None):
        cfg.model = args.model
    if getattr(args, "base_url", None):
        cfg.base_url = args.base_url
    if getattr(args, "api_key", None):
        cfg.api_key = args.api_key
    if getattr(args, "max_repairs", None) is not None:
        cfg.max_repairs = args.max_repairs
    if getattr(args, "protocol", None):
        cfg.protocol = args.protocol
    if getattr(args, "prompt_style", None):
        cfg.prompt_style = args.prompt_style
    return cfg


class PrintingSink:
    """Reports a headless turn on stderr; the final answer goes to stdout."""

    def __init__(self, *, verbose: bool, allow_destructive: bool, stream=sys.stderr) -> None:
        self.verbose = verbose
        self.allow_destructive = allow_destructive
        self.stream = stream
        self._in_text = False

    def _line(self, text: str) -> None:
        if self._in_text:
            self.stream.write("\n")
            self._in_text = False
        self.stream.write(text + "\n")
        self.stream.flush()

    async def send(self, msg: BaseModel) -> None:
        if isinstance(msg, TextDeltaMsg):
            if self.verbose:
                self.stream.write(msg.text)
                self.stream.flush()
                self._in_text = True
        elif isinstance(msg, ContextNoteMsg):
            note = f"context: ~{msg.tokens} tokens"
            if msg.notes:
                note += " (" + "; ".join(msg.notes) + ")"
            self._line(note)
        elif isinstance(msg, StepMsg):
            if msg.tool != "run_code":
                self._line(f"· {msg.tool} {msg.summary}")
                return
            attempt = f" (attempt {msg.attempt} of {msg.max_attempts})" if msg.attempt > 1 else ""
            if msg.state == "running":
                first = msg.code.strip().splitlines()[0] if msg.code.strip() else ""
                self._line(f"▶ running cell{attempt}: {first[:80]}")
                if self.verbose:
                    self._line("\n".join("    " + l for l in msg.code.splitlines()))
            elif msg.state in ("ok", "error", "timeout", "interrupted", "aborted", "skipped"):
                head = msg.summary.splitlines()
                detail = next((l for l in head if l.startswith("error:")), "")
                self._line(f"  {msg.state}{attempt} in {msg.elapsed:.1f}s {detail}".rstrip())
            elif msg.state == "waiting_approval":
                self._line(f"  needs approval: {msg.reason}")
        elif isinstance(msg, ErrorMsg):
            self._line(f"error: {msg.message}" + (f"\n  {msg.hint}" if msg.hint else ""))

    async def ask_approval(self, request: ApprovalRequestMsg) -> ApprovalReplyMsg:
        if self.allow_destructive:
            self._line(f"  running despite: {request.reason} (--allow-destructive)")
            return ApprovalReplyMsg(step_id=request.step_id, decision="run")
        self._line(f"  skipped: this code {request.reason}; nobody is here to approve it "
                   "(use --allow-destructive to run such code headless)")
        return ApprovalReplyMsg(step_id=request.step_id, decision="skip")


async def run_headless(args: argparse.Namespace) -> int:
    from .agent.loop import Agent, Turn, new_chat_id
    from .executors.base import ExecutorError
    from .executors.headless import HeadlessExecutor
    from .llm.client import ModelClient

    cfg = make_config(args)
    if args.cell_timeout:
        cfg.cell_timeout = args.cell_timeout
    path = os.path.abspath(args.notebook)
    if not path.endswith(".ipynb"):
        print(f"error: {args.notebook} is not an .ipynb file", file=sys.stderr)
        return EXIT_USAGE
    executor = HeadlessExecutor(path, root_dir=os.path.dirname(path), kernel_name=args.kernel)
    model = ModelClient(cfg)
    sink = PrintingSink(verbose=args.verbose, allow_destructive=args.allow_destructive)
    try:
        try:
            await executor.start()
            if not args.no_restore and executor.nb.cells:
                report = await executor.restore()
                if report.cells_run:
                    msg = f"restored: ran {report.cells_run} existing cell(s)"
                    if report.errors:
                        msg += f", {report.errors} with errors ({report.first_error})"
                    print(msg, file=sys.stderr)
        except ExecutorError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_KERNEL
        agent = Agent(config=cfg, model=model, executor=executor, sink=sink, root_dir=executor.root_dir)
        turn = Turn(chat_id=new_chat_id(), turn=1, prompt=args.message, notebook_path=executor.notebook_path,
                    mode="chat", auto_run=True)
        result = await agent.run_turn(turn, [])
        executor.save()
        if result.status == "failed":
            err = result.error
            msg = err.message if err else result.answer or "the agent failed"
            hint = f"\n  {err.hint}" if err and err.hint else ""
            print(f"error: {msg}{hint}", file=sys.stderr)
            return EXIT_MODEL if err else EXIT_KERNEL
        print(result.answer)
        if result.grounding in ("not_computed", "unverified"):
            why = ("no cell computed the answer's values" if result.grounding == "not_computed"
                   else "numbers in the answer are not in any output of this run")
            print(f"grounding: {result.grounding} ({why})", file=sys.stderr)
        u = result.usage
        cost = f", ${u.cost:.4f}" if u.cost is not None else ""
        approx = "~" if u.estimated else ""
        print(f"tokens: {approx}{u.prompt_tokens} in, {approx}{u.completion_tokens} out{cost}; notebook: {path}",
              file=sys.stderr)
        return EXIT_OK if result.status == "done" else EXIT_GAVE_UP
    finally:
        try:
            executor.save()
        except Exception as exc:
            print(f"warning: could not save {path}: {exc}", file=sys.stderr)
        await executor.close()
        await model.close()


async def _run_with_timeout(args: argparse.Namespace) -> int:
    if not args.timeout:
        return await run_headless(args)
    try:
        return await asyncio.wait_for(run_headless(args), timeout=args.timeout)
    except asyncio.TimeoutError:
        print(f"error: the run did not finish within --timeout {args.timeout:g}s; "
              "the cells that ran are saved in the notebook", file=sys.stderr)
        return EXIT_TIMEOUT


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jupyter codeinterp", description="Code Interpreter for Jupyter, headless.")
    sub = parser.add_subparsers(dest="command", required=True)

    def provider_flags(p: argparse.ArgumentParser) -> None:
        p.add_argument("--model", help="model name (default: c.CodeInterp.model, $CODEINTERP_MODEL)")
        p.add_argument("--base-url", help="OpenAI-compatible endpoint (default: $OPENAI_BASE_URL)")
        p.add_argument("--api-key", help="API key (default: $OPENAI_API_KEY)")
        p.add_argument("--protocol", choices=["auto", "tools", "codeblocks"], help="how the model runs code")
        p.add_argument("--prompt-style", choices=["full", "compact"],
                       help="system prompt: full, or compact for small local models")

    run = sub.add_parser("run", help="run a request against a notebook and write the cells back")
    run.add_argument("notebook", help="the .ipynb file (created if missing)")
    run.add_argument("-m", "--message", required=True, help="what to do, in plain language")
    provider_flags(run)
    run.add_argument("--max-repairs", type=int, help="automatic repairs per failing cell (default 3)")
    run.add_argument("--timeout", type=float, default=0, help="give up after S seconds in all (default: none)")
    run.add_argument("--cell-timeout", type=float, default=0, help="interrupt a cell after S seconds (default 600)")
    run.add_argument("--no-restore", action="store_true", help="do not run the notebook's existing cells first")
    run.add_argument("--kernel", help="kernel name (default: the notebook's, else python3)")
    run.add_argument("--allow-destructive", action="store_true",
                     help="run code that looks destructive (deleting files...) without asking")
    run.add_argument("-v", "--verbose", action="store_true", help="stream the model's text and code to stderr")

    doctor = sub.add_parser("doctor", help="check the configured model endpoint and say what to change")
    provider_flags(doctor)

    ev = sub.add_parser("eval", help="measure right answers: run a suite of tasks headless and score them",
                        description="Run each task of a suite in a fresh folder with a fresh kernel, through "
                        "the same agent as 'run', score the answers and write results.jsonl, summary.md and "
                        "accuracy.png into --out.")
    ev.add_argument("--suite", default="builtin",
                    help="'builtin' (generated messy-data tasks), 'fixes' (Fix this error on broken "
                    "multi-line cells), a DABench data folder "
                    "(da-dev-questions.jsonl...), or a folder of task folders (task.toml) (default: builtin)")
    provider_flags(ev)
    ev.add_argument("--max-repairs", type=int, help="automatic repairs per failing cell (default 3)")
    ev.add_argument("--mode", choices=["agent", "single-shot", "both"], default="agent",
                    help="agent; single-shot (one request for a whole program, run once: the bare model); "
                    "or both, interleaved on the same tasks (default: agent)")
    ev.add_argument("--baseline", choices=["single-shot"],
                    help="also run the single-shot baseline on the same tasks (same as --mode both)")
    ev.add_argument("--ids", help="tasks to run: 12,14 ranges 0-40 names globs excel-* and even/odd "
                    "(DABench: use --ids even; odd ids are held out and refused)")
    ev.add_argument("--limit", type=int, help="run at most N of the selected tasks")
    ev.add_argument("--jobs", type=int, default=1, help="tasks run at the same time (default 1)")
    ev.add_argument("--timeout", type=float, default=600.0, help="seconds per task (default 600)")
    ev.add_argument("--out", help="run folder (default: codeinterp-eval/SUITE-MODEL-TIME)")
    ev.add_argument("--resume", action="store_true",
                    help="continue the run in --out: skip the tasks already in its results.jsonl")
    ev.add_argument("--kernel", help="kernel name for the tasks (default python3)")
    ev.add_argument("--held-out", action="store_true",
                    help="DABench only: allow the odd ids, the held-out split. Never use it to tune.")

    rep = sub.add_parser("eval-report", help="one Markdown table over several eval run folders")
    rep.add_argument("runs", nargs="+", help="run folders written by 'jupyter codeinterp eval'")
    rep.add_argument("--summary", action="store_true", help="also rewrite each folder's summary.md and chart")
    return parser


def run_eval_command(args: argparse.Namespace, argv: list[str]) -> int:
    from .evaluation.harness import EvalOptions, run_eval_sync

    modes = ("agent", "single-shot") if args.mode == "both" or args.baseline else (args.mode,)
    opts = EvalOptions(suite=args.suite, modes=modes, ids=args.ids, limit=args.limit, jobs=args.jobs,
                       timeout=args.timeout, resume=args.resume, out=args.out, held_out=args.held_out,
                       kernel=args.kernel, argv=argv)
    return run_eval_sync(opts, make_config(args))


def eval_report_command(args: argparse.Namespace) -> int:
    from .evaluation.report import report_table, write_summary

    try:
        if args.summary:
            for run in args.runs:
                print(f"wrote {write_summary(run)}", file=sys.stderr)
        print(report_table(args.runs))
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


def main(argv: Optional[list[str]] = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    if args.command == "eval":
        return run_eval_command(args, argv)
    if args.command == "eval-report":
        return eval_report_command(args)
    try:
        if args.command == "run":
            return asyncio.run(_run_with_timeout(args))
        if args.command == "doctor":
            from .doctor import run_doctor

            return asyncio.run(run_doctor(make_config(args)))
    except KeyboardInterrupt:
        print("interrupted; the cells that ran are saved in the notebook", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_USAGE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
