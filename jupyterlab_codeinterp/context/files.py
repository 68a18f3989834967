"""The files next to the notebook: names, sizes, recency, and the columns of data files.

The columns are read from the head of each data file by file_columns.py. Paths never
leave the root: symlinks are not followed out of it, hidden files, checkpoints, caches
and node_modules are skipped, and a directory with too many entries is only counted.
"""

from __future__ import annotations

import os
import re
import stat
import time
from dataclasses import asdict, dataclass, field

from .file_columns import sniff

SKIP_DIRS = frozenset(["node_modules", "__pycache__", ".ipynb_checkpoints", ".git", ".venv", "venv",
                       "site-packages", ".mypy_cache", ".pytest_cache", ".tox", "dist", "build"])
DATA_EXTS = (".csv", ".tsv", ".tab", ".csv.gz", ".tsv.gz", ".json", ".jsonl", ".ndjson",
             ".parquet", ".pq", ".xlsx", ".xlsm")


@dataclass
class FileInfo:
    path: str  # relative to the notebook's directory, '/'-separated
    size: int
    mtime: float
    kind: str = "file"  # file | dir
    columns: list[str] | None = None
    dtypes: list[str] | None = None
    rows: int | None = None
    rows_estimated: bool = False
    sheets: dict[str, list[str]] | None = None
    delimiter: str | None = None
    entries: int | None = None  # for directories
    note: str = ""

    def to_json(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v not in (None, "", False)}


@dataclass
class FilesResult:
    directory: str
    files: list[FileInfo] = field(default_factory=list)
    total_files: int = 0
    note: str = ""
    elapsed_ms: float = 0.0

    def to_json(self) -> dict:
        return {"directory": self.directory, "files": [f.to_json() for f in self.files],
                "total_files": self.total_files, "note": self.note, "elapsed_ms": self.elapsed_ms}


def safe_join(root_dir: str, rel: str) -> str:
    """root_dir/rel, resolved, or ValueError when it escapes root_dir (.., absolute, symlinks)."""
    root = os.path.realpath(root_dir)
    rel = (rel or "").replace("\\", "/")
    if rel.startswith("/") or re.match(r"^[A-Za-z]:", rel) or "\x00" in rel:
        raise ValueError(f"path must be relative to the server root: {rel!r}")
    full = os.path.realpath(os.path.join(root, rel))
    if full != root and not full.startswith(root.rstrip(os.sep) + os.sep):
        raise ValueError(f"path escapes the server root: {rel!r}")
    return full


def _inside(root: str, path: str) -> bool:
    real = os.path.realpath(path)
    return real == root or real.startswith(root.rstrip(os.sep) + os.sep)


def list_files(
    root_dir: str,
    rel_dir: str = "",
    *,
    max_files: int = 40,
    max_schemas: int = 12,
    max_depth: int = 2,
    max_dir_entries: int = 1000,
    max_scan: int = 5000,
) -> FilesResult:
    """Files under root_dir/rel_dir (up to max_depth levels), newest first, with data columns.

    Raises ValueError when rel_dir escapes root_dir.
    """
    t0 = time.perf_counter()
    root = os.path.realpath(root_dir)
    base = safe_join(root, rel_dir)
    result = FilesResult(directory=(rel_dir or "").strip("/") or ".")
    if not os.path.isdir(base):
        result.note = "directory not found"
        return result
    found: list[FileInfo] = []
    dirs: list[FileInfo] = []
    scanned = 0
    stack = [(base, 0)]
    truncated = False
    big_base = False
    while stack:
        d, depth = stack.pop()
        try:
            with os.scandir(d) as it:
                entries = []
                for e in it:
                    entries.append(e)
                    if len(entries) > max_dir_entries:
                        break
        except OSError:
            continue
        rel_d = os.path.relpath(d, base).replace(os.sep, "/")
        if len(entries) > max_dir_entries:
            if d != base:  # a huge data directory: counted, not listed
                for x in dirs:
                    if x.path == rel_d + "/":
                        x.note = f"more than {max_dir_entries:,} entries; not listed"
                continue
            big_base = True
        for e in entries:
            scanned += 1
            if scanned > max_scan:
                truncated = True
                break
            name = e.name
            if name.startswith(".") or name.startswith("~$") or name in SKIP_DIRS:
                continue
            try:
                st = e.stat(follow_symlinks=True)
            except OSError:
                continue
            if e.is_symlink() and not _inside(root, e.path):
                continue  # never follow links out of the root
            rel = name if rel_d == "." else f"{rel_d}/{name}"
            if stat.S_ISDIR(st.st_mode):
                if e.is_symlink():
                    continue  # no loops
                info = FileInfo(path=rel + "/", size=0, mtime=st.st_mtime, kind="dir")
                dirs.append(info)
                if depth + 1 < max_depth:
                    stack.append((e.path, depth + 1))
                continue
            if not stat.S_ISREG(st.st_mode):
                continue
            if name.endswith((".pyc", ".swp")):
                continue
            found.append(FileInfo(path=rel, size=st.st_size, mtime=st.st_mtime))
        if truncated:
            break
    # directory entry counts (cheap: already known for scanned ones) -> count children found
    for dinfo in dirs:
        prefix = dinfo.path
        dinfo.entries = sum(1 for f in found if f.path.startswith(prefix))
        dinfo.mtime = max([dinfo.mtime] + [f.mtime for f in found if f.path.startswith(prefix)])
    found.sort(key=lambda f: -f.mtime)
    result.total_files = len(found)
    # newest first, but data files (the reason the model looks) are kept even when
    # many newer non-data files would push them out
    data_files = [f for f in found if f.path.lower().endswith(DATA_EXTS)][: min(max_schemas, max(max_files // 2, 1))]
    keep = set(id(f) for f in data_files)
    others = [f for f in found if id(f) not in keep][: max(max_files - len(data_files), 0)]
    keep.update(id(f) for f in others)
    chosen = [f for f in found if id(f) in keep][:max_files]
    schemas = 0
    for info in chosen:
        if info.path.lower().endswith(DATA_EXTS) and schemas < max_schemas:
            schemas += 1
            sniff(os.path.join(base, info.path), info.size, info)
    top_dirs = [d for d in dirs if d.path.count("/") == 1]
    top_dirs.sort(key=lambda d: -d.mtime)
    result.files = chosen + top_dirs[:10]
    notes = []
    if len(found) > max_files:
        notes.append(f"{len(found) - max_files:,} older files not listed")
    if big_base:
        notes.append(f"the directory has more than {max_dir_entries:,} entries; only some were looked at")
    if truncated:
        notes.append(f"stopped after scanning {max_scan:,} entries")
    result.note = "; ".join(notes)
    result.elapsed_ms = round((time.perf_counter() - t0) * 1000.0, 2)
    return result


def _human(n: int) -> str:
    f = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if f < 1024 or unit == "TB":
            return f"{f:.0f} {unit}" if unit == "B" else f"{f:.1f} {unit}"
        f /= 1024
    return str(n)


def render_files(result: FilesResult, *, max_files: int | None = None, with_columns: bool | int = True,
                 max_columns: int = 30) -> str:
    """Text for the model, newest first. with_columns: True, False, or how many files may
    show columns.  No ages ("3 min ago"): the text must stay byte-identical while nothing
    changes, so a local server can reuse the prompt it already read."""
    lines = []
    files = [f for f in result.files if f.kind == "file"]
    dirs = [f for f in result.files if f.kind == "dir"]
    shown = files if max_files is None else files[:max_files]
    col_budget = (10 ** 9 if with_columns is True else int(with_columns or 0))
    for f in shown:
        line = f"{f.path} ({_human(f.size)})"
        if f.rows is not None:
            line += f", {'~' if f.rows_estimated else ''}{f.rows:,} rows"
        if f.note:
            line += f" [{f.note}]"
        lines.append(line)
        if col_budget > 0 and (f.columns or f.sheets):
            col_budget -= 1
            if f.sheets and len(f.sheets) > 1:
                for sname, cols in list(f.sheets.items())[:6]:
                    lines.append(f"  sheet {sname!r}: " + _cols(cols, None, max_columns))
            else:
                lines.append("  columns: " + _cols(f.columns or [], f.dtypes, max_columns))
    if max_files is not None and len(files) > max_files:
        lines.append(f"… {len(files) - max_files} more files")
    if dirs:
        lines.append("directories: " + ", ".join(
            f"{d.path} ({d.note or (str(d.entries) + ' files')})" for d in dirs))
    if result.note:
        lines.append(f"note: {result.note}")
    return "\n".join(lines) if lines else "(no files)"


def _cols(cols: list[str], dtypes: list[str] | None, max_columns: int) -> str:
    items = [f"{c} ({dtypes[i]})" if dtypes and i < len(dtypes) else str(c)
             for i, c in enumerate(cols[:max_columns])]
    more = f", … +{len(cols) - max_columns} more" if len(cols) > max_columns else ""
    return ", ".join(items) + more
