"""The columns of a data file, read from its head (for parquet, its footer), never all of it.

csv/tsv (delimiter sniffed from the first 64 KB), json/jsonl (keys of the first record),
parquet (pyarrow schema and row count from the metadata), xlsx (the first row of each
sheet, streamed from the zip without loading the workbook or all of its shared strings).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
import zipfile
from typing import TYPE_CHECKING, Any
from xml.etree.ElementTree import iterparse

if TYPE_CHECKING:
    from .files import FileInfo

HEAD_BYTES = 64 * 1024


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


def sniff(path: str, size: int, info: FileInfo) -> None:
    """Fill in what the head of a data file says (columns, dtypes, rows, sheets), by extension."""
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
