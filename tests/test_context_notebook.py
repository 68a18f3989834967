"""Notebook cells/errors summaries and compact tracebacks from real kernel errors."""

from __future__ import annotations

import json
import re

import pytest
from jupyter_client.manager import AsyncKernelManager

from jupyterlab_codeinterp.context.notebook import (
    compact_traceback,
    render_cells,
    summarize_cells,
    summarize_output,
)


async def _errors_from_kernel(cells: list[str]) -> list[dict]:
    """Run cells in a real kernel; return the error content of each failing one."""
    km = AsyncKernelManager()
    await km.start_kernel()
    kc = km.client()
    kc.start_channels()
    errors = []
    try:
        await kc.wait_for_ready(timeout=60)
        for code in cells:
            msg_id = kc.execute(code)
            err = None
            while True:
                msg = await kc.get_iopub_msg(timeout=120)
                if msg["parent_header"].get("msg_id") != msg_id:
                    continue
                if msg["msg_type"] == "error":
                    err = msg["content"]
                if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                    break
            if err is not None:
                errors.append(err)
    finally:
        kc.stop_channels()
        await km.shutdown_kernel(now=True)
    return errors


@pytest.fixture(scope="module")
def kernel_errors():
    import asyncio

    return asyncio.run(_errors_from_kernel([
        "import pandas as pd\ndf = pd.DataFrame({'price': [1, 2]})\n"
        "def total(d):\n    return d['prise'].sum()",
        "x = 1\ndf['prise']",
        "total(df)",
        "def broken(:\n    pass",
        "def rec(n):\n    return rec(n + 1)\nrec(0)",
        "try:\n    df['nope']\nexcept KeyError as e:\n    raise ValueError('column missing') from e",
    ]))


def test_pandas_keyerror_under_1kb_with_user_line(kernel_errors):
    err = kernel_errors[0]
    raw = sum(len(t) for t in err["traceback"])
    assert raw > 3000  # what peers send
    tb = compact_traceback(err["traceback"])
    assert len(tb.encode()) < 1000
    assert "df['prise']" in tb
    assert "KeyError" in tb and "'prise'" in tb
    assert "\x1b[" not in tb
    assert re.search(r"\.\.\. \d+ library frames? \(last: pandas/", tb)
    # the library-internal chained cause repeats the final error: not shown twice
    assert tb.count("KeyError: 'prise'") == 1


def test_user_function_frames_kept(kernel_errors):
    tb = compact_traceback(kernel_errors[1]["traceback"])
    assert "total(df)" in tb and "return d['prise'].sum()" in tb
    assert "in total" in tb
    assert len(tb.encode()) < 1000


def test_syntax_error_keeps_caret(kernel_errors):
    tb = compact_traceback(kernel_errors[2]["traceback"])
    assert "def broken(:" in tb and "^" in tb and "SyntaxError" in tb


def test_recursion_error_is_bounded(kernel_errors):
    err = kernel_errors[3]
    for limit in (1000, 400):
        tb = compact_traceback(err["traceback"], max_bytes=limit)
        assert len(tb.encode()) <= limit
        assert "RecursionError" in tb


def test_user_chained_exception_keeps_both(kernel_errors):
    tb = compact_traceback(kernel_errors[4]["traceback"])
    assert "ValueError: column missing" in tb
    assert "direct cause" in tb
    assert "KeyError: 'nope'" in tb
    assert tb.count("KeyError: 'nope'") == 1
    assert len(tb.encode()) < 1000


def test_plain_python_traceback_format():
    tb = [
        "Traceback (most recent call last):\n",
        '  File "/home/u/project/analysis.py", line 10, in <module>\n    main()\n',
        '  File "/home/u/project/analysis.py", line 6, in main\n    df["x"]\n',
        '  File "/usr/lib/python3.11/site-packages/pandas/core/frame.py", line 4102, in __getitem__\n'
        "    indexer = self.columns.get_loc(key)\n",
        '  File "/usr/lib/python3.11/site-packages/pandas/core/indexes/base.py", line 3812, in get_loc\n'
        "    raise KeyError(key) from err\n",
        "KeyError: 'x'\n",
    ]
    out = compact_traceback(tb, user_paths=["/home/u/project"])
    assert 'df["x"]' in out and "main()" in out
    assert "... 2 library frames (last: pandas/core/indexes/base.py:3812 in get_loc) ..." in out
    assert out.rstrip().endswith("KeyError: 'x'")


@pytest.mark.parametrize("junk", [None, [], "", [None, 3], ["\x1b[31m\x1b[0m"], "just text"])
def test_garbage_never_raises(junk):
    assert isinstance(compact_traceback(junk, ename="E", evalue="v"), str)


def test_summarize_cells_outputs_and_errors(kernel_errors):
    err = kernel_errors[0]
    cells = [
        {"cell_type": "markdown", "source": "# Title", "metadata": {}},
        {"cell_type": "code", "source": ["import pandas as pd\n", "df = pd.read_csv('x.csv')"],
         "execution_count": 1, "metadata": {}, "outputs": [
             {"output_type": "stream", "name": "stdout", "text": "line\n" * 2000}]},
        {"cell_type": "code", "source": "df.plot()", "execution_count": 2,
         "metadata": {"codeinterp": {"generated": True}}, "outputs": [
             {"output_type": "display_data", "data": {"image/png": "iVBOR", "text/plain": "<Figure size 640x480 with 1 Axes>"},
              "metadata": {}}]},
        {"cell_type": "code", "source": "df['prise']", "execution_count": 3, "metadata": {},
         "outputs": [{"output_type": "error", **err}]},
    ]
    s = summarize_cells(cells, max_cells=3)
    assert [c["index"] for c in s["cells"]] == [1, 2, 3]
    stream = s["cells"][0]["outputs"][0]
    assert "characters cut" in stream["text"] and len(stream["text"]) < 700
    assert s["cells"][1]["outputs"][0]["text"] == "[image/png image]"
    assert s["cells"][1]["generated"]
    assert s["errors"][0]["ename"] == "KeyError" and s["errors"][0]["cell"] == 3
    assert len(s["errors"][0]["traceback"].encode()) < 1000
    text = render_cells(s["cells"])
    assert "[cell 3]" in text and "In[" not in text and "error KeyError" in text
    json.dumps(s)  # JSON-able


def test_summarize_output_html_only():
    out = summarize_output({"output_type": "execute_result", "data": {"text/html": "<table>" * 100}})
    assert out["text"].startswith("[html output")
