"""How the chat service keeps the server's loop responsive under many chats: turn starts
paced, streamed text sent less often when many turns stream (chat/pacing.py)."""

from __future__ import annotations

import asyncio

from jupyterlab_codeinterp.chat.pacing import (
    DELTA_INTERVAL, MAX_DELTA_INTERVAL, TurnPacer, delta_interval,
)


async def test_a_lone_turn_starts_at_once(monkeypatch):
    import jupyterlab_codeinterp.chat.pacing as pacing

    slept: list[float] = []
    real_sleep = asyncio.sleep

    async def recording_sleep(delay: float) -> None:
        slept.append(delay)
        await real_sleep(delay)

    monkeypatch.setattr(pacing.asyncio, "sleep", recording_sleep)
    pacer = TurnPacer(spacing=0.05)
    await pacer.wait()
    assert slept == []  # no wait on a quiet server
    await real_sleep(0.06)  # the next slot has passed: no wait either
    await pacer.wait()
    assert slept == []
    await pacer.wait()  # right after another start: waits about one spacing
    assert len(slept) == 1 and 0 < slept[0] <= 0.05


async def test_a_burst_of_turns_is_spread_in_order():
    pacer = TurnPacer(spacing=0.02)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    started: list[tuple[int, float]] = []

    async def turn(i: int) -> None:
        await pacer.wait()
        started.append((i, loop.time() - t0))

    await asyncio.gather(*(turn(i) for i in range(10)))
    assert [i for i, _ in started] == list(range(10))
    # spread, not all in one pass of the loop: each start has its own slot, 20 ms after the
    # one before (a sleep never ends early; a late wake-up on a busy machine only delays)
    for i, at in started:
        assert at >= i * 0.02 - 0.002


def test_starts_are_spaced_more_when_many_turns_are_in_flight():
    pacer = TurnPacer(spacing=0.005, max_spacing=0.02, busy=50)
    assert pacer.spacing_for(0) == pacer.spacing_for(50) == 0.005
    assert 0.005 < pacer.spacing_for(100) < 0.02
    assert pacer.spacing_for(200) == pacer.spacing_for(10_000) == 0.02


def test_streamed_text_is_sent_less_often_only_under_load():
    assert delta_interval(0) == delta_interval(1) == delta_interval(40) == DELTA_INTERVAL
    assert DELTA_INTERVAL < delta_interval(100) < MAX_DELTA_INTERVAL
    assert delta_interval(200) == delta_interval(5000) == MAX_DELTA_INTERVAL


def test_switch_interval_is_shortened_only_from_pythons_default(monkeypatch):
    import logging
    import sys

    from jupyterlab_codeinterp.extension import PYTHON_DEFAULT_SWITCH_INTERVAL, apply_switch_interval

    log = logging.getLogger("test")
    before = sys.getswitchinterval()
    try:
        sys.setswitchinterval(PYTHON_DEFAULT_SWITCH_INTERVAL)
        assert apply_switch_interval(0, log) is False  # 0: leave it alone
        assert sys.getswitchinterval() == PYTHON_DEFAULT_SWITCH_INTERVAL
        assert apply_switch_interval(0.001, log) is True
        assert abs(sys.getswitchinterval() - 0.001) < 1e-9
        sys.setswitchinterval(0.002)  # someone else chose: kept
        assert apply_switch_interval(0.001, log) is False
        assert abs(sys.getswitchinterval() - 0.002) < 1e-9
    finally:
        sys.setswitchinterval(before)
