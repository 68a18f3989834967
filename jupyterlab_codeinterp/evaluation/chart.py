"""The accuracy chart of a run: bars by mode, overall and by level, with Wilson intervals.

Drawn with matplotlib's object API on an Agg canvas (no pyplot, so no process-wide backend
is changed). Without matplotlib there is no chart, and the summary says nothing of one.
"""

from __future__ import annotations

from .report import ModeStats, modes_of, wilson
from .results import Record

COLORS = {"agent": "#3b6ea8", "single-shot": "#c8793a"}


def write_chart(records: list[Record], path: str, *, title: str = "") -> bool:
    """Write the PNG; False when there is nothing to draw or matplotlib is missing."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return False
    modes = modes_of(records)
    scored = [r for r in records if r.scored]
    if not scored:
        return False
    levels = sorted({r.level for r in scored if r.level})
    groups = ["all"] + levels
    fig = Figure(figsize=(max(5.0, 1.6 * len(groups) + 2), 3.6), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    width = 0.8 / max(1, len(modes))
    for i, mode in enumerate(modes):
        xs, ys, lows, highs, labels = [], [], [], [], []
        for j, group in enumerate(groups):
            rs = [r for r in scored if r.mode == mode and (group == "all" or r.level == group)]
            if not rs:
                continue
            k = sum(r.correct for r in rs)
            acc = k / len(rs)
            lo, hi = wilson(k, len(rs))
            xs.append(j + (i - (len(modes) - 1) / 2) * width)
            ys.append(100 * acc)
            # clamped: at 0/n or n/n the interval's end can miss the rate by a rounding error
            lows.append(max(0.0, 100 * (acc - lo)))
            highs.append(max(0.0, 100 * (hi - acc)))
            labels.append(f"{k}/{len(rs)}")
        bars = ax.bar(xs, ys, width, yerr=[lows, highs], capsize=3, label=mode, color=COLORS.get(mode))
        for bar, label in zip(bars, labels):
            inside = bar.get_height() > 12
            ax.annotate(label, (bar.get_x() + bar.get_width() / 2, 2 if inside else bar.get_height() + 2),
                        ha="center", va="bottom", fontsize=8, color="white" if inside else "black",
                        bbox=None if inside else {"facecolor": "white", "edgecolor": "none", "pad": 0.5})
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(groups)
    ax.set_ylim(0, 100)
    ax.set_ylabel("accuracy, % (95% Wilson interval)")
    stats = {m: ModeStats(m, records) for m in modes}
    ax.set_title(f"{title}  " + ", ".join(f"{m} {stats[m].accuracy_text()}" for m in modes), fontsize=9)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=max(1, len(modes)), frameon=False)
    fig.tight_layout()
    fig.savefig(path)
    return True
