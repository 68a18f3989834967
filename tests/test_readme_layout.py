"""The README's architecture table names where each concern lives: keep it true to the tree."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "jupyterlab_codeinterp"


def _architecture_rows() -> list[tuple[str, str]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Architecture", 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and len(cells) == 3 and not set(cells[1]) <= {"-", " "}:
            rows.append((cells[1], cells[2]))
    return rows[1:]  # the header row


def _names(cell: str) -> list[str]:
    return re.findall(r"`([\w./+-]+\.(?:py|ts|tsx)|[\w]+/)`", cell)


def test_every_path_the_table_names_exists():
    rows = _architecture_rows()
    assert len(rows) >= 6
    for server, browser in rows:
        for name in _names(server):
            # a bare file name sits in the folder named before it in the same cell
            found = (PACKAGE / name).exists() or any(PACKAGE.glob(f"*/{name}")) or (ROOT / name).exists()
            assert found, f"README architecture names {name}, which is not in jupyterlab_codeinterp/"
        for name in _names(browser):
            found = (ROOT / "src" / name).exists() or any((ROOT / "src").glob(f"**/{name}"))
            assert found, f"README architecture names {name}, which is not in src/"


def test_every_server_module_has_its_place_in_the_table():
    named = {n for server, _ in _architecture_rows() for n in _names(server)}
    folders = {n.rstrip("/") for n in named if n.endswith("/")}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE)
        if path.name in ("__init__.py", "_version.py") or "labextension" in rel.parts:
            continue
        if rel.parts[0] in folders and rel.parts[0] in ("evaluation", "instrumentation"):
            continue
        assert str(rel) in named or path.name in named, f"{rel} is missing from the README's architecture table"
