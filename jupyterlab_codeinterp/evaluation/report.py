"""summary.md of one run, and the Markdown table across runs (``jupyter codeinterp eval-report``)."""

from __future__ import annotations

import math
import os
import statistics
from collections import Counter
from typing import Any, Iterable, Optional

from .results import FAILURE_CLASSES, MODES, NOT_SCORED, Record, read_results, read_run_info

SUMMARY = "summary.md"
CHART = "accuracy.png"


def wilson(correct: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a proportion (95 % for z = 1.96); (0, 0) when n is 0."""
    if n <= 0:
        return 0.0, 0.0
    p = correct / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # exact at the ends: 0/n and n/n would otherwise miss 0 and 1 by a rounding error
    lo = 0.0 if correct == 0 else max(0.0, centre - half)
    hi = 1.0 if correct == n else min(1.0, centre + half)
    return lo, hi


def _pct(x: float) -> str:
    return f"{100 * x:.0f}%"


def _median(values: list[float]) -> Optional[float]:
    return statistics.median(values) if values else None


def _num(x: Optional[float], fmt: str = "{:.1f}") -> str:
    return "–" if x is None else fmt.format(x)


class ModeStats:
    """Accuracy and costs of one mode's scored records."""

    def __init__(self, mode: str, records: list[Record]) -> None:
        self.mode = mode
        self.records = [r for r in records if r.mode == mode]
        self.scored = [r for r in self.records if r.scored]
        self.n = len(self.scored)
        self.correct = sum(r.correct for r in self.scored)
        self.accuracy = self.correct / self.n if self.n else 0.0
        self.low, self.high = wilson(self.correct, self.n)
        self.ungrounded = sum(r.failure == "ungrounded" for r in self.scored)
        self.correct_without_cell = sum(r.correct and r.grounded is False for r in self.scored)
        self.median_seconds = _median([r.seconds for r in self.scored])
        self.median_in = _median([r.tokens_in for r in self.scored])
        self.median_out = _median([r.tokens_out for r in self.scored])
        self.cells = sum(r.cells_run for r in self.scored)
        self.repairs = sum(r.repairs for r in self.scored)
        self.classes = {c: sum(r.failure == c for r in self.records) for c in FAILURE_CLASSES}

    def accuracy_text(self) -> str:
        return f"{_pct(self.accuracy)} ({self.correct}/{self.n})" if self.n else "–"

    def interval_text(self) -> str:
        return f"{_pct(self.low)}–{_pct(self.high)}" if self.n else "–"


def modes_of(records: Iterable[Record]) -> list[str]:
    present = {r.mode for r in records}
    return [m for m in MODES if m in present] + sorted(present - set(MODES))


def _cell(records: list[Record]) -> str:
    scored = [r for r in records if r.scored]
    if not scored:
        return "–"
    k = sum(r.correct for r in scored)
    return f"{k}/{len(scored)} ({_pct(k / len(scored))})"


def _breakdown(title: str, records: list[Record], modes: list[str], keys_of) -> list[str]:
    groups: dict[str, list[Record]] = {}
    for r in records:
        for key in keys_of(r):
            groups.setdefault(key, []).append(r)
    if not groups:
        return []
    lines = [f"## By {title}", "", f"| {title} | " + " | ".join(modes) + " |", "|---" * (len(modes) + 1) + "|"]
    for key in sorted(groups):
        rs = groups[key]
        lines.append(f"| {key} | " + " | ".join(_cell([r for r in rs if r.mode == m]) for m in modes) + " |")
    return lines + [""]


def _paired(records: list[Record]) -> list[str]:
    """Agent and single-shot on the same tasks: where each one is right."""
    by_task: dict[str, dict[str, Record]] = {}
    for r in records:
        if r.scored:
            by_task.setdefault(str(r.id), {})[r.mode] = r
    pairs = [(d["agent"], d["single-shot"]) for d in by_task.values() if "agent" in d and "single-shot" in d]
    if not pairs:
        return []
    both = sum(a.correct and s.correct for a, s in pairs)
    agent_only = sum(a.correct and not s.correct for a, s in pairs)
    single_only = sum(s.correct and not a.correct for a, s in pairs)
    neither = len(pairs) - both - agent_only - single_only
    return ["## Agent vs single-shot, on the same tasks", "",
            f"{len(pairs)} tasks ran in both modes in this run (same questions, same model, interleaved).", "",
            "| | single-shot right | single-shot not right |", "|---|---|---|",
            f"| **agent right** | {both} | {agent_only} |",
            f"| **agent not right** | {single_only} | {neither} |", "",
            f"Agent {sum(a.correct for a, _ in pairs)}/{len(pairs)}, single-shot "
            f"{sum(s.correct for _, s in pairs)}/{len(pairs)}; the agent alone was right on {agent_only} "
            f"task(s), the single-shot program alone on {single_only}.", ""]


def render_summary(info: dict[str, Any], records: list[Record], *, chart: Optional[str] = None) -> str:
    modes = modes_of(records)
    stats = [ModeStats(m, records) for m in modes]
    lines = [f"# Evaluation: {info.get('suite', '?')} suite, model {info.get('model', '?')}", ""]
    lines += [f"- endpoint: {info.get('base_url') or '(default)'}; protocol {info.get('protocol', '?')}, "
              f"prompt style {info.get('prompt_style', '?')}",
              f"- tasks: {len({str(r.id) for r in records})}; modes: {', '.join(modes) or '–'}; "
              f"timeout per task {info.get('timeout', '?')} s",
              f"- started {info.get('created', '?')}; last command: `{info.get('command', '')}`", ""]
    lines += ["## Accuracy", "",
              "| mode | tasks scored | accuracy | 95% interval (Wilson) | ungrounded | median s/task | "
              "median tokens in / out | cells run | repairs |",
              "|---|---|---|---|---|---|---|---|---|"]
    for s in stats:
        lines.append(f"| {s.mode} | {s.n} | {s.accuracy_text()} | {s.interval_text()} | {s.ungrounded} | "
                     f"{_num(s.median_seconds)} | {_num(s.median_in, '{:.0f}')} / {_num(s.median_out, '{:.0f}')} | "
                     f"{s.cells} | {s.repairs} |")
    lines.append("")
    lucky = sum(s.correct_without_cell for s in stats if s.mode == "agent")
    if lucky:
        lines += [f"{lucky} agent answer(s) were right although no cell ran in the turn.", ""]
    verdicts = Counter(r.grounding for r in records if r.mode == "agent" and r.scored and r.grounding)
    if verdicts:
        lines += ["The agent's own grounding verdicts: " + ", ".join(
            f"{name.replace('_', ' ')} {n}" for name, n in sorted(verdicts.items())) + ".", ""]
    lines += _paired(records)
    lines += ["## Outcomes", "", "| outcome | " + " | ".join(modes) + " |", "|---" * (len(modes) + 1) + "|"]
    for c in FAILURE_CLASSES:
        counts = [s.classes.get(c, 0) for s in stats]
        if any(counts):
            lines.append(f"| {c} | " + " | ".join(str(n) for n in counts) + " |")
    lines += ["", "ungrounded: the answer states a number or a result but no cell ran in the turn. "
              "skipped and error are not scored (a data file is missing; the harness failed).", ""]
    lines += _breakdown("level", records, modes, lambda r: [r.level] if r.level else [])
    lines += _breakdown("concept", records, modes, lambda r: r.concepts)
    not_run = [r for r in records if r.failure in NOT_SCORED]
    if not_run:
        lines += ["## Not scored", ""] + [f"- {r.id} ({r.mode}, {r.failure}): {r.detail}" for r in not_run] + [""]
    if chart:
        lines += [f"![accuracy by mode and level]({chart})", ""]
    lines += ["Per-task records: `results.jsonl`; each task's notebook and files: `tasks/<mode>/<id>/`.", ""]
    return "\n".join(lines)


def write_summary(folder: str) -> str:
    """(Re)write summary.md and the chart from what the folder holds; returns summary.md's path."""
    from .chart import write_chart

    info = read_run_info(folder)
    records = read_results(folder)
    chart = CHART if write_chart(records, os.path.join(folder, CHART), title=info.get("model", "")) else None
    text = render_summary(info, records, chart=chart)
    path = os.path.join(folder, SUMMARY)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)
    return path


def report_table(folders: list[str]) -> str:
    """One Markdown table over several run folders: model × suite × mode."""
    lines = ["| model | suite | mode | tasks | accuracy | 95% interval | ungrounded | median s/task |",
             "|---|---|---|---|---|---|---|---|"]
    for folder in folders:
        info = read_run_info(folder)
        records = read_results(folder)
        if not info and not records:
            raise FileNotFoundError(f"{folder}: no run.json or results.jsonl (not an eval run folder)")
        for mode in modes_of(records):
            s = ModeStats(mode, records)
            lines.append(f"| {info.get('model', '?')} | {info.get('suite', '?')} | {mode} | {s.n} | "
                         f"{s.accuracy_text()} | {s.interval_text()} | {s.ungrounded} | {_num(s.median_seconds)} |")
    return "\n".join(lines)
