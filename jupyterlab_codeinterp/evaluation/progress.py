"""A progress bar on stderr (one redrawn line on a terminal, one line per task otherwise)."""

from __future__ import annotations

import sys
import time
from typing import Optional, TextIO

from .results import Record

MARKS = {"correct": "✓", "wrong": "✗", "ungrounded": "?", "no answer": "∅", "gave up": "…", "timeout": "⏱",
         "model error": "!", "skipped": "-", "error": "E"}


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 60}:{seconds % 60:02d}" if seconds < 3600 else f"{seconds // 3600}h{seconds % 3600 // 60:02d}"


class Progress:
    def __init__(self, total: int, stream: Optional[TextIO] = None, *, width: int = 24) -> None:
        self.total = total
        self.stream = stream or sys.stderr
        self.width = width
        self.done = 0
        self.correct: dict[str, int] = {}
        self.scored: dict[str, int] = {}
        self.started = time.monotonic()
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def _bar(self) -> str:
        filled = int(self.width * self.done / self.total) if self.total else self.width
        elapsed = time.monotonic() - self.started
        eta = elapsed / self.done * (self.total - self.done) if self.done else 0
        modes = "  ".join(f"{m} {self.correct.get(m, 0)}/{n}" for m, n in self.scored.items())
        left = f", ~{_clock(eta)} left" if 0 < self.done < self.total else ""
        return (f"[{'#' * filled}{'.' * (self.width - filled)}] {self.done}/{self.total}  {modes}  "
                f"{_clock(elapsed)} elapsed{left}")

    def start(self) -> None:
        if self.tty:
            self.stream.write(self._bar())
            self.stream.flush()

    def note(self, text: str) -> None:
        """A line above the bar."""
        if self.tty:
            self.stream.write("\r\033[K" + text + "\n" + self._bar())
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def finished(self, rec: Record) -> None:
        self.done += 1
        if rec.scored:
            self.scored[rec.mode] = self.scored.get(rec.mode, 0) + 1
            self.correct[rec.mode] = self.correct.get(rec.mode, 0) + int(rec.correct)
        line = f"{MARKS.get(rec.failure, ' ')} {rec.mode:<11} {str(rec.id):<24} {rec.failure:<11} {rec.seconds:6.1f}s"
        if rec.detail and not rec.correct:
            line += f"  {rec.detail[:90]}"
        if self.tty:
            self.note(line)
        else:
            self.stream.write(f"[{self.done}/{self.total}] {line}\n")
            self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\r\033[K" + self._bar() + "\n")
            self.stream.flush()
