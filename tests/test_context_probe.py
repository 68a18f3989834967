"""The kernel probe against real ipykernels: bounded, namespace-clean, silent, busy-safe."""

from __future__ import annotations

import asyncio
import json
import sys
import textwrap
from pathlib import Path
from queue import Empty

import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager

from jupyterlab_codeinterp.context.kernel_probe import ProbeResult, probe_kernel
from jupyterlab_codeinterp.context.probe_clients import KernelClientPool, new_probe_client
from jupyterlab_codeinterp.context.probe_render import render_probe

BIG_NAMESPACE = """
import numpy as np, pandas as pd
n = 2_000_000
big = pd.DataFrame({f"col{i}": np.arange(n, dtype="float64") for i in range(6)})
big["label"] = pd.Categorical(np.where(np.arange(n) % 2, "odd", "even"))
arr = np.zeros(10_000_000)
for i in range(1000):
    globals()[f"small_{i}"] = {"i": i, "name": "x"}
"""

# names, ids of the displayhook variables, lengths of In/Out: all must survive a probe
SNAPSHOT_EXPR = (
    "__import__('json').dumps({'keys': sorted(globals()), "
    "'ids': [id(globals().get(k)) for k in ('_', '__', '___', '_i', '_ii', '_iii', 'Out', 'In')], "
    "'len_in': len(In), 'len_out': len(Out)})"
)


async def _start(**kw) -> tuple[AsyncKernelManager, object]:
    km = AsyncKernelManager(**kw)
    await km.start_kernel()
    kc = km.client()
    kc.start_channels()
    await kc.wait_for_ready(timeout=60)
    return km, kc


@pytest.fixture
async def kernel():
    km, kc = await _start()
    probe_client = new_probe_client(km)
    yield km, kc, probe_client
    probe_client.stop_channels()
    kc.stop_channels()
    await km.shutdown_kernel(now=True)


async def run(kc, code: str, timeout: float = 120) -> dict:
    """A normal (visible) execute; returns the reply content plus collected stream text."""
    msg_id = kc.execute(code)
    stream = []
    while True:
        msg = await kc.get_iopub_msg(timeout=timeout)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "stream":
            stream.append(msg["content"]["text"])
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            break
    while True:
        reply = await kc.get_shell_msg(timeout=timeout)
        if reply["parent_header"].get("msg_id") == msg_id:
            break
    content = dict(reply["content"])
    content["stream"] = "".join(stream)
    assert content["status"] == "ok", content
    return content


async def snapshot(kc) -> dict:
    reply = await kc.execute("", silent=True, store_history=False,
                             user_expressions={"s": SNAPSHOT_EXPR}, reply=True, timeout=60)
    import ast

    return json.loads(ast.literal_eval(reply["content"]["user_expressions"]["s"]["data"]["text/plain"]))


async def iopub_for(kc, parent_id: str, timeout: float = 30) -> list[dict]:
    """IOPub messages whose parent is parent_id, up to its idle status."""
    msgs = []
    while True:
        msg = await kc.get_iopub_msg(timeout=timeout)
        if msg["parent_header"].get("msg_id") != parent_id:
            continue
        msgs.append(msg)
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return msgs


async def test_big_namespace_bounded_clean_and_silent(kernel):
    km, kc, pc = kernel
    await run(kc, BIG_NAMESPACE)
    before_visible = await run(kc, "print(sorted(n for n in dir() if not n.startswith('_')))")
    count_before = before_visible["execution_count"]
    snap_before = await snapshot(kc)

    result = await probe_kernel(pc, timeout=30, max_bytes=16000)

    assert result.ok, result.note
    assert 0 < result.bytes <= 16000
    by_name = {v["name"]: v for v in result.variables}
    assert by_name["big"]["kind"] == "DataFrame"
    assert by_name["big"]["shape"] == [2_000_000, 7]
    assert list(by_name["big"]["columns"]) == [f"col{i}" for i in range(6)] + ["label"]
    assert by_name["big"]["columns"]["label"].startswith("category")
    assert by_name["arr"]["shape"] == [10_000_000] and by_name["arr"]["dtype"] == "float64"
    # the 1,000 small dicts are summarised, not listed one by one
    assert result.summary_data["omitted"] >= 990
    assert "dict" in result.summary
    text = render_probe(result)
    assert "big: DataFrame 2,000,000 rows × 7 columns" in text
    assert "arr: numpy.ndarray shape (10,000,000)" in text

    # nothing reached a cell: only busy/idle status for the probe's request
    msgs = await iopub_for(kc, result.msg_id)
    assert {m["msg_type"] for m in msgs} == {"status"}

    # no names added, displayhook variables and history untouched
    snap_after = await snapshot(kc)
    assert snap_after == snap_before
    after_visible = await run(kc, "print(sorted(n for n in dir() if not n.startswith('_')))")
    assert after_visible["stream"] == before_visible["stream"]
    # the silent probe did not take an execution count
    assert after_visible["execution_count"] == count_before + 1


async def test_output_bounded_by_small_max_bytes(kernel):
    km, kc, pc = kernel
    await run(kc, BIG_NAMESPACE)
    await run(kc, "wide = pd.DataFrame(np.zeros((500, 5000)))\nlong_text = 'x' * 24_000_000")
    for max_bytes in (16000, 4000, 1500):
        result = await probe_kernel(pc, timeout=30, max_bytes=max_bytes)
        assert result.ok, result.note
        assert result.bytes <= max_bytes
        names = [v["name"] for v in result.variables]
        assert "big" in names and "wide" in names  # frames keep priority
    wide = {v["name"]: v for v in (await probe_kernel(pc, timeout=30, max_bytes=16000)).variables}["wide"]
    assert wide["shape"] == [500, 5000]
    assert len(wide["columns"]) <= 40 and wide["columns_omitted"] == 5000 - len(wide["columns"])
    assert wide["dtype_counts"] == {"float64": 5000}


async def test_recently_assigned_names_come_first(kernel):
    km, kc, pc = kernel
    await run(kc, "\n".join(f"a{i} = {i}" for i in range(200)))
    await run(kc, "threshold = 0.75\nlabels = ['a', 'b']")
    result = await probe_kernel(pc, timeout=30, max_bytes=16000)
    names = [v["name"] for v in result.variables]
    assert names[:2] == ["labels", "threshold"] or names[:2] == ["threshold", "labels"]
    by_name = {v["name"]: v for v in result.variables}
    assert by_name["threshold"]["value"] == 0.75
    assert by_name["labels"]["len"] == 2


async def test_skips_ipython_names_modules_and_private(kernel):
    km, kc, pc = kernel
    await run(kc, "import os, json\n_private = 1\ndef helper(x):\n    return x\nclass Model:\n    pass\nvalue = 3")
    result = await probe_kernel(pc, timeout=30, max_bytes=16000)
    names = {v["name"] for v in result.variables}
    assert names == {"value"}
    assert result.summary_data["modules"] == ["json", "os"]
    assert result.summary_data["functions"] == ["helper"]
    assert result.summary_data["classes"] == ["Model"]


async def test_hostile_objects_do_not_break_the_probe(kernel):
    km, kc, pc = kernel
    await run(kc, textwrap.dedent("""
        class Meta(type):
            def __getattribute__(cls, name):
                if name in ('__module__', '__qualname__', '__name__'):
                    raise RuntimeError('boom')
                return super().__getattribute__(name)
        class Evil(metaclass=Meta):
            def __len__(self): raise RuntimeError('no len')
            def __repr__(self): raise RuntimeError('no repr')
        evil = Evil()
        fine = 1
    """))
    snap_before = await snapshot(kc)
    result = await probe_kernel(pc, timeout=30, max_bytes=16000)
    assert result.ok, result.note
    assert "fine" in {v["name"] for v in result.variables}
    assert await snapshot(kc) == snap_before  # in particular sys.last_* untouched -> no error stored


async def test_busy_kernel_times_out_and_kernel_stays_fine(kernel):
    km, kc, pc = kernel
    await run(kc, "x = 1")
    sleep_id = kc.execute("import time; time.sleep(5)")
    await asyncio.sleep(0.5)  # let the cell start
    result = await probe_kernel(pc, timeout=0.5, max_bytes=16000)
    assert not result.ok
    assert result.busy
    assert "busy" in result.note
    assert render_probe(result).startswith("(no variables: kernel busy")

    # the cell finishes normally; its outputs are its own
    msgs = await iopub_for(kc, sleep_id)
    assert "error" not in {m["msg_type"] for m in msgs}
    # the late reply of the timed-out probe is not mistaken for anything: next probe is fine
    result2 = await probe_kernel(pc, timeout=30, max_bytes=16000)
    assert result2.ok, result2.note
    assert {v["name"] for v in result2.variables} >= {"x"}
    after = await run(kc, "print(x + 1)")
    assert after["stream"] == "2\n"


async def test_concurrent_probes_on_one_client_are_serialised(kernel):
    km, kc, pc = kernel
    await run(kc, "y = 2")
    results = await asyncio.gather(*(probe_kernel(pc, timeout=30, max_bytes=8000) for _ in range(5)))
    assert all(r.ok for r in results), [r.note for r in results]
    assert len({r.msg_id for r in results}) == 5


async def test_dead_kernel_degrades_to_a_note():
    km, kc = await _start()
    pc = new_probe_client(km)
    kc.stop_channels()
    await km.shutdown_kernel(now=True)
    try:
        result = await probe_kernel(pc, timeout=0.5, max_bytes=16000)
        assert not result.ok and result.note
        assert isinstance(render_probe(result), str)
    finally:
        pc.stop_channels()


async def test_no_client_degrades_to_a_note():
    result = await probe_kernel(None, timeout=1, max_bytes=1000)
    assert isinstance(result, ProbeResult) and not result.ok
    assert "no kernel" in result.note


ECHO_KERNEL = '''
from ipykernel.kernelbase import Kernel

class EchoKernel(Kernel):
    implementation = "echo"
    implementation_version = "1.0"
    language = "echo"
    language_version = "1.0"
    language_info = {"name": "echo", "mimetype": "text/plain", "file_extension": ".txt"}
    banner = "echo"

    async def do_execute(self, code, silent, store_history=True, user_expressions=None,
                         allow_stdin=False, *, cell_id=None):
        if not silent:
            self.send_response(self.iopub_socket, "stream", {"name": "stdout", "text": code})
        return {"status": "ok", "execution_count": self.execution_count, "payload": [],
                "user_expressions": {}}

if __name__ == "__main__":
    from ipykernel.kernelapp import IPKernelApp
    IPKernelApp.launch_instance(kernel_class=EchoKernel)
'''


async def test_non_python_kernel_gives_no_variable_context(tmp_path: Path):
    (tmp_path / "echo_kernel.py").write_text(ECHO_KERNEL)
    spec_dir = tmp_path / "kernels" / "echo"
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, str(tmp_path / "echo_kernel.py"), "-f", "{connection_file}"],
        "display_name": "Echo", "language": "echo",
    }))
    ksm = KernelSpecManager(kernel_dirs=[str(tmp_path / "kernels")])
    km, kc = await _start(kernel_name="echo", kernel_spec_manager=ksm)
    pc = new_probe_client(km)
    try:
        result = await probe_kernel(pc, timeout=10, max_bytes=16000)
        assert not result.ok and not result.busy
        assert result.language == "echo"
        assert "no variable context" in result.note
        # nothing was executed in the echo kernel: no stream output was produced
        with pytest.raises(Empty):
            while True:
                msg = await kc.get_iopub_msg(timeout=0.5)
                assert msg["msg_type"] != "stream"
    finally:
        pc.stop_channels()
        kc.stop_channels()
        await km.shutdown_kernel(now=True)


class _FakeMultiKernelManager:
    """The two calls KernelClientPool makes, over real kernels (not a mock of the kernel)."""

    def __init__(self) -> None:
        self.kernels: dict[str, AsyncKernelManager] = {}

    def __contains__(self, kid: str) -> bool:
        return kid in self.kernels

    def get_kernel(self, kid: str) -> AsyncKernelManager:
        return self.kernels[kid]


async def test_pool_reuses_clients_and_drops_gone_kernels():
    mkm = _FakeMultiKernelManager()
    km, kc = await _start()
    mkm.kernels["k1"] = km
    pool = KernelClientPool(mkm)
    try:
        await run(kc, "z = 5")
        c1 = await pool.get("k1")
        c2 = await pool.get("k1")
        assert c1 is c2
        r = await pool.probe("k1", timeout=30, max_bytes=4000)
        assert r.ok and "z" in {v["name"] for v in r.variables}
        # restart: new process -> new client
        await km.restart_kernel(now=True)
        await kc.wait_for_ready(timeout=60)
        c3 = await pool.get("k1")
        assert c3 is not c1
        r = await pool.probe("k1", timeout=30, max_bytes=4000)
        assert r.ok and "z" not in {v["name"] for v in r.variables}
        del mkm.kernels["k1"]
        assert await pool.get("k1") is None
        r = await pool.probe("k1", timeout=1, max_bytes=4000)
        assert not r.ok
    finally:
        await pool.close_all()
        kc.stop_channels()
        await km.shutdown_kernel(now=True)
