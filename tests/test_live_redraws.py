"""The live display of the magics: a bounded number of redraws whatever the number of
events, and a cheap live view of a big sweep. Fake clock, no timings."""

import asyncio
import types

import pytest

from nanobanana_magic import _live
from nanobanana_magic._engine import Engine
from nanobanana_magic._live import LiveStatus
from nanobanana_magic._store import Store
from nanobanana_magic._sweep_plan import plan_sweep
from nanobanana_magic._sweep_result import LIVE_GRID_CELLS, SweepRun


class Handle:
    def __init__(self):
        self.updates = []

    def update(self, html, metadata=None):
        self.updates.append(html.data)


@pytest.fixture
def fake_display(monkeypatch):
    """A clock standing at 100 s that the test moves (`now[0]`), and the display handle
    every redraw goes to."""
    now = [100.0]
    monkeypatch.setattr(_live, "time", types.SimpleNamespace(monotonic=lambda: now[0]))
    handle = Handle()
    monkeypatch.setattr("IPython.display.display", lambda *a, **k: handle)
    return now, handle


def test_a_burst_of_finishing_tasks_costs_two_redraws_not_a_thousand(fake_display):
    now, handle = fake_display
    drawn = []

    def render():
        drawn.append(len(drawn))
        return f"<p>state {len(drawn)}</p>"

    live = LiveStatus(types.SimpleNamespace(kernel=object()), render).start()

    async def burst():
        for _ in range(1000):  # a thousand tasks finish within one throttle period
            live.refresh(force=True)
        assert len(handle.updates) == 1  # drawn at once, the rest wait for the throttle
        now[0] += 1.0
        await asyncio.sleep(_live._REFRESH_SECONDS + 0.1)

    asyncio.run(burst())
    assert live.redraws == len(handle.updates) == 2  # one more: the state after the burst
    live.finish("done")
    assert handle.updates[-1] != handle.updates[1]


def test_redraws_are_spaced_from_when_the_last_one_was_sent(fake_display):
    """A render slowed by a busy machine does not crowd the next redraw: the throttle
    counts from when a redraw went out, not from when it started."""
    now, handle = fake_display
    count = [0]

    def slow_render():
        count[0] += 1
        now[0] += 0.2  # rendering took 0.2 s
        return f"<p>state {count[0]}</p>"

    live = LiveStatus(types.SimpleNamespace(kernel=object()), slow_render).start()
    live.refresh()
    assert len(handle.updates) == 1
    now[0] += 0.1  # 0.3 s after the redraw started, 0.1 s after it was sent
    live.refresh()
    assert len(handle.updates) == 1
    now[0] += _live._REFRESH_SECONDS
    live.refresh()
    assert len(handle.updates) == 2


def test_a_redraw_scheduled_by_the_throttle_is_dropped_when_one_came_first(fake_display):
    now, handle = fake_display
    count = [0]

    def render():
        count[0] += 1
        return f"<p>state {count[0]}</p>"

    live = LiveStatus(types.SimpleNamespace(kernel=object()), render).start()

    async def scenario():
        live.refresh()
        live.refresh(force=True)  # too soon: scheduled for when the throttle allows
        now[0] += _live._REFRESH_SECONDS
        live.refresh()  # a plain refresh gets there first and draws
        assert len(handle.updates) == 2
        await asyncio.sleep(_live._REFRESH_SECONDS + 0.1)  # the scheduled one stays quiet

    asyncio.run(scenario())
    assert len(handle.updates) == 2


def test_a_big_sweep_shows_a_compact_live_view_and_a_small_one_its_grid(tmp_path):
    engine = Engine(store=Store(tmp_path / "out"), api_key="sk-x", base_url="http://127.0.0.1:9")
    big = SweepRun(
        plan_sweep("a {a} and a {b}", {"a": list(range(25)), "b": list(range(40))}, engine=engine)
    )
    small = SweepRun(plan_sweep("a {a}", {"a": list(range(LIVE_GRID_CELLS))}, engine=engine))
    assert small.live_html() == small.html(live=True) and "banana-sweep-grid" in small.live_html()
    live = big.live_html()
    assert "1000" in live  # the summary counts every cell
    assert len(live) < len(big.html()) / 20 and "banana-sweep-live" in live
