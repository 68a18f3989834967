"""The files next to the notebook: names, sizes, recency, and the columns of data files.

Everything is read from the head of a file (or, for parquet, its footer), never
the whole file: csv/tsv (delimiter sniffed from the first 64 KB), json/jsonl
(keys of the first record), parquet (pyarrow schema and row count from the
metadata), xlsx (the first row of each sheet, streamed from the zip without
loading the workbook or all of its shared strings). Paths never leave the root:
symlinks are not followed out of it, hidden files, checkpoints, caches and
node_modules are skipped, and a directory with too many entries is only counted.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import re
import stat
import time
import zipfile
from dataclasses import asdict, dataclass, field
from typing import Any
from xml.etree.ElementTree import iterparse

HEAD_BYTES = 64 * 1024
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


def _read_head(path: str, n: int = HEAD_BYTES) -> bytes:
    if path.endswith(".gz"):
        with gzip.open(path, "rb") as f:
            return f.read(n)
    with open(path, "rb") as f:
        return f.read(n)


def _decode(raw: bytes) -> str:
    for enc in ("utf-8-sig", "cp1252"):
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            continue
    return raw.decode("utf-8", "replace")


def _guess_type(values: list[str]) -> str:
    vals = [v.strip() for v in values if v is not None and v.strip() != ""]
    if not vals:
        return "empty"
    def all_match(rx: str) -> bool:
        return all(re.fullmatch(rx, v) for v in vals)
    if all_match(r"[-+]?\d+"):
        return "int"
    if all_match(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?|nan|NaN|inf|-inf"):
        return "float"
    if all_match(r"\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([+-]\d{2}:?\d{2}|Z)?)?"):
        return "datetime"
    if all_match(r"(?i)true|false"):
        return "bool"
    return "str"


def sniff_csv(path: str, size: int, info: FileInfo) -> None:
    raw = _read_head(path)
    complete = len(raw) < HEAD_BYTES
    text = _decode(raw)
    lines = text.splitlines()
    if not complete and len(lines) > 1:
        lines = lines[:-1]  # the last line is probably cut
    sample = "\n".join(lines[:200])
    lower = path.lower()
    default = "\t" if (".tsv" in lower or ".tab" in lower) else ","
    try:
        dialect = csv.Sniffer().sniff(sample[:20000], delimiters=",;\t|")
        delim = dialect.delimiter
    except csv.Error:
        delim = default
    rows = list(csv.reader(io.StringIO(sample), delimiter=delim))
    rows = [r for r in rows if r]
    if not rows:
        info.note = "empty"
        return
    header, body = rows[0], rows[1:21]
    info.delimiter = delim
    info.columns = [h.strip()[:80] for h in header]
    info.dtypes = [_guess_type([r[i] if i < len(r) else "" for r in body]) for i in range(len(header))]
    if complete and not path.endswith(".gz"):
        all_rows = rows if len(lines) <= 200 else [
            r for r in csv.reader(io.StringIO("\n".join(lines)), delimiter=delim) if r]
        info.rows = max(len(all_rows) - 1, 0)
    elif len(lines) > 1 and not path.endswith(".gz"):
        avg = max(len("\n".join(lines).encode("utf-8")) / len(lines), 1)
        info.rows = int(size / avg) - 1
        info.rows_estimated = True


def _first_json_record(text: str) -> Any:
    """The first record of a JSON document from its head: a list's first element or the object."""
    dec = json.JSONDecoder()
    s = text.lstrip()
    if s.startswith("["):
        body = s[1:].lstrip()
        if body.startswith("]"):
            return []
        obj, _ = dec.raw_decode(body)
        return obj
    obj, _ = dec.raw_decode(s)
    return obj


def _top_level_keys(text: str, limit: int = 100) -> list[str]:
    """Keys of a (possibly truncated) top-level JSON object, by a small scanner."""
    keys: list[str] = []
    depth = 0
    i, n = 0, len(text)
    expect_key = False
    while i < n and len(keys) < limit:
        c = text[i]
        if c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            if depth == 1 and expect_key:
                k = j + 1
                while k < n and text[k] in " \t\r\n":
                    k += 1
                if k < n and text[k] == ":":
                    try:
                        keys.append(json.loads(text[i:j + 1]))
                    except ValueError:
                        pass
                    expect_key = False
            i = j + 1
            continue
        if c in "{[":
            depth += 1
            expect_key = depth == 1 and c == "{"
        elif c in "}]":
            depth -= 1
        elif c == "," and depth == 1:
            expect_key = True
        i += 1
    return keys


def sniff_json(path: str, size: int, info: FileInfo) -> None:
    raw = _read_head(path)
    text = _decode(raw)
    lower = path.lower()
    if lower.endswith((".jsonl", ".ndjson")):
        first = text.split("\n", 1)[0]
        try:
            rec = json.loads(first)
        except ValueError:
            info.note = "first line is not JSON"
            return
        if isinstance(rec, dict):
            info.columns = [str(k)[:80] for k in list(rec)[:100]]
        lines = text.count("\n")
        if len(raw) < HEAD_BYTES:
            info.rows = lines + (0 if text.endswith("\n") else 1)
        elif lines:
            info.rows = int(size / (len(raw) / lines))
            info.rows_estimated = True
        return
    try:
        rec = _first_json_record(text)
    except ValueError:
        if text.lstrip().startswith("{"):
            info.columns = [str(k)[:80] for k in _top_level_keys(text)]
            info.note = "top-level keys (object too large to parse from its head)"
        else:
            info.note = "could not read the first record from the head"
        return
    if isinstance(rec, dict):
        info.columns = [str(k)[:80] for k in list(rec)[:100]]
        if text.lstrip().startswith("{"):
            info.note = "top-level keys"
        else:
            info.note = "keys of the first record"


def sniff_parquet(path: str, size: int, info: FileInfo) -> None:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        info.note = "pyarrow not installed"
        return
    pf = pq.ParquetFile(path)  # reads the footer only
    schema = pf.schema_arrow
    info.columns = [str(n)[:80] for n in schema.names[:200]]
    info.dtypes = [str(t)[:40] for t in schema.types[:200]]
    info.rows = int(pf.metadata.num_rows)
    if len(schema.names) > 200:
        info.note = f"{len(schema.names) - 200} more columns"


_NS_RE = re.compile(r"^\{[^}]*\}")


def _local(tag: str) -> str:
    return _NS_RE.sub("", tag)


def _xlsx_first_rows(path: str, max_sheets: int = 10, max_cols: int = 100) -> dict[str, list[str]]:
    """First row of each sheet, streamed from the zip (no workbook load, shared strings read
    only up to the highest index the first rows use)."""
    with zipfile.ZipFile(path) as z:
        names = set(z.namelist())
        rels: dict[str, str] = {}
        if "xl/_rels/workbook.xml.rels" in names:
            with z.open("xl/_rels/workbook.xml.rels") as f:
                for _, el in iterparse(f):
                    if _local(el.tag) == "Relationship":
                        target = el.get("Target", "")
                        target = target.lstrip("/")
                        if not target.startswith("xl/"):
                            target = "xl/" + target
                        rels[el.get("Id", "")] = target
        sheets: list[tuple[str, str]] = []
        with z.open("xl/workbook.xml") as f:
            for _, el in iterparse(f):
                if _local(el.tag) == "sheet":
                    rid = next((v for k, v in el.attrib.items() if _local(k) == "id"), "")
                    target = rels.get(rid) or f"xl/worksheets/sheet{len(sheets) + 1}.xml"
                    sheets.append((el.get("name", f"Sheet{len(sheets) + 1}"), target))
        first_rows: dict[str, list[tuple[str, str]]] = {}
        for sname, target in sheets[:max_sheets]:
            cells: list[tuple[str, str]] = []
            if target not in names:
                first_rows[sname] = cells
                continue
            with z.open(target) as f:
                in_row = False
                ctype, value = "", None
                for event, el in iterparse(f, events=("start", "end")):
                    tag = _local(el.tag)
                    if event == "start":
                        if tag == "row":
                            in_row = True
                        elif tag == "c":
                            ctype, value = el.get("t", ""), None
                        continue
                    if tag in ("v", "t") and in_row:
                        value = (value or "") + (el.text or "")
                    elif tag == "c" and in_row:
                        cells.append((ctype, value if value is not None else ""))
                        if len(cells) >= max_cols:
                            break
                    elif tag == "row" and in_row:
                        break
                    el.clear()
            first_rows[sname] = cells
        need = sorted({int(v) for cells in first_rows.values() for t, v in cells
                       if t == "s" and v.strip().isdigit()})
        shared: dict[int, str] = {}
        if need and "xl/sharedStrings.xml" in names:
            wanted, top = set(need), need[-1]
            with z.open("xl/sharedStrings.xml") as f:
                idx, buf = 0, []
                for event, el in iterparse(f, events=("end",)):
                    tag = _local(el.tag)
                    if tag == "t":
                        buf.append(el.text or "")
                    elif tag == "si":
                        if idx in wanted:
                            shared[idx] = "".join(buf)
                        idx += 1
                        buf = []
                        el.clear()
                        if idx > top:
                            break
        out: dict[str, list[str]] = {}
        for sname, cells in first_rows.items():
            row = []
            for t, v in cells:
                if t == "s":
                    row.append(shared.get(int(v), "") if v.strip().isdigit() else "")
                else:
                    row.append(v)
            out[sname] = [str(x)[:80] for x in row]
        return out


def sniff_xlsx(path: str, size: int, info: FileInfo) -> None:
    sheets = _xlsx_first_rows(path)
    info.sheets = sheets
    if sheets:
        info.columns = next(iter(sheets.values()))


def _sniff(path: str, size: int, info: FileInfo) -> None:
    lower = path.lower()
    try:
        if lower.endswith((".csv", ".tsv", ".tab", ".csv.gz", ".tsv.gz")):
            sniff_csv(path, size, info)
        elif lower.endswith((".json", ".jsonl", ".ndjson")):
            sniff_json(path, size, info)
        elif lower.endswith((".parquet", ".pq")):
            sniff_parquet(path, size, info)
        elif lower.endswith((".xlsx", ".xlsm")):
            sniff_xlsx(path, size, info)
    except Exception as e:  # a broken file is listed by name and size
        info.note = f"could not read columns ({type(e).__name__})"


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
            _sniff(os.path.join(base, info.path), info.size, info)
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
