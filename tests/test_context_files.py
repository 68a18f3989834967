"""Files next to the notebook: listing rules and head-only column sniffing on real files."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pandas as pd
import pytest

from jupyterlab_codeinterp.context.files import list_files, render_files, safe_join


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "data").mkdir(parents=True)
    df = pd.DataFrame({"id": range(300), "price": [i * 0.5 for i in range(300)],
                       "city": ["Paris", "Oslo", "Lima"] * 100,
                       "day": pd.date_range("2024-01-01", periods=300).strftime("%Y-%m-%d")})
    df.to_csv(root / "sales.csv", index=False)
    df.to_csv(root / "data" / "semi.csv", sep=";", index=False)
    df.to_csv(root / "data" / "tabs.tsv", sep="\t", index=False)
    df.to_parquet(root / "data" / "sales.parquet")
    with pd.ExcelWriter(root / "book.xlsx") as xw:
        df.head(10).to_excel(xw, sheet_name="Sales", index=False)
        pd.DataFrame({"Région": ["Nord"], "Total €": [1]}).to_excel(xw, sheet_name="Summary", index=False)
    df.head(20).to_json(root / "records.json", orient="records")
    df.head(20).to_json(root / "records.jsonl", orient="records", lines=True)
    (root / "config.json").write_text(json.dumps({"alpha": 1, "beta": {"x": [1, 2]}, "gamma": "g"}))
    (root / ".secret").write_text("hidden")
    (root / ".ipynb_checkpoints").mkdir()
    (root / ".ipynb_checkpoints" / "x-checkpoint.ipynb").write_text("{}")
    (root / "node_modules" / "pkg").mkdir(parents=True)
    (root / "node_modules" / "pkg" / "index.js").write_text("")
    (tmp_path / "outside.csv").write_text("a,b\n1,2\n")
    os.symlink(tmp_path / "outside.csv", root / "link_out.csv")
    os.symlink(tmp_path, root / "link_dir")
    return root


def by_path(result):
    return {f.path: f for f in result.files}


def test_lists_files_with_columns(workspace: Path):
    r = list_files(str(workspace))
    files = by_path(r)
    assert files["sales.csv"].columns == ["id", "price", "city", "day"]
    assert files["sales.csv"].dtypes == ["int", "float", "str", "datetime"]
    assert files["sales.csv"].rows == 300 and not files["sales.csv"].rows_estimated
    assert files["data/semi.csv"].delimiter == ";"
    assert files["data/semi.csv"].columns == ["id", "price", "city", "day"]
    assert files["data/tabs.tsv"].delimiter == "\t"
    assert files["data/sales.parquet"].columns == ["id", "price", "city", "day"]
    assert files["data/sales.parquet"].rows == 300
    assert files["data/sales.parquet"].dtypes[0] == "int64"
    assert files["book.xlsx"].sheets == {"Sales": ["id", "price", "city", "day"],
                                         "Summary": ["Région", "Total €"]}
    assert files["records.json"].columns == ["id", "price", "city", "day"]
    assert files["records.jsonl"].columns == ["id", "price", "city", "day"]
    assert files["records.jsonl"].rows == 20
    assert files["config.json"].columns == ["alpha", "beta", "gamma"]
    text = render_files(r)
    assert "sales.csv" in text and "columns: id (int), price (float)" in text
    assert "sheet 'Summary': Région, Total €" in text


def test_skips_hidden_checkpoints_node_modules_and_links_out(workspace: Path):
    paths = set(by_path(list_files(str(workspace))))
    assert not any(p.startswith(".") or "/." in p for p in paths)
    assert not any("node_modules" in p or "checkpoint" in p for p in paths)
    assert "link_out.csv" not in paths
    assert not any(p.startswith("link_dir") for p in paths)


def test_sorted_by_recency_and_capped(workspace: Path):
    old = time.time() - 3600
    os.utime(workspace / "sales.csv", (old, old))
    newest = workspace / "fresh.txt"
    newest.write_text("x")
    r = list_files(str(workspace), max_files=3)
    files = [f for f in r.files if f.kind == "file"]
    assert files[0].path == "fresh.txt"
    assert len(files) == 3
    assert r.total_files > 3 and "older files not listed" in r.note


def test_reads_only_the_head(tmp_path: Path):
    # a valid header and rows, then 8 MB of binary junk: parsing the whole file would fail
    p = tmp_path / "big.csv"
    with open(p, "wb") as f:
        f.write(b"alpha,beta,gamma\n" + b"1,2.5,x\n" * 10000)
        f.write(os.urandom(8 * 1024 * 1024))
    r = list_files(str(tmp_path))
    info = by_path(r)["big.csv"]
    assert info.columns == ["alpha", "beta", "gamma"]
    assert info.rows_estimated


def test_big_json_object_keys_from_head(tmp_path: Path):
    big = {"meta": {"n": 1}, "rows": [{"a": i} for i in range(50000)], "tail_key": 1}
    (tmp_path / "big.json").write_text(json.dumps(big))
    info = by_path(list_files(str(tmp_path)))["big.json"]
    assert info.columns[:2] == ["meta", "rows"]


def test_broken_data_files_are_listed_by_name_and_size(tmp_path: Path):
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    (tmp_path / "bad.xlsx").write_bytes(b"not a zip")
    (tmp_path / "bad.json").write_text("{oops")
    files = by_path(list_files(str(tmp_path)))
    for name in ("bad.parquet", "bad.xlsx"):
        assert files[name].size > 0 and files[name].columns is None
        assert "could not read columns" in files[name].note


def test_huge_directory_is_counted_not_listed(tmp_path: Path):
    (tmp_path / "many").mkdir()
    for i in range(60):
        (tmp_path / "many" / f"f{i}.txt").write_text("")
    r = list_files(str(tmp_path), max_dir_entries=50)
    dirs = {f.path: f for f in r.files if f.kind == "dir"}
    assert "more than 50 entries" in dirs["many/"].note
    assert not any(f.path.startswith("many/f") for f in r.files)


def test_paths_outside_root_are_rejected(workspace: Path):
    for bad in ("../", "../../etc", "/etc", "data/../../x", "link_dir"):
        with pytest.raises(ValueError):
            list_files(str(workspace), bad)
    assert safe_join(str(workspace), "data") == os.path.realpath(workspace / "data")
