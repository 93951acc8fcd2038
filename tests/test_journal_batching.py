"""Journal writes from coroutines: never blocking the event loop, on disk when awaited,
written even when the waiting task is cancelled."""

import asyncio
import fcntl
import os

from nanobanana_magic._store import Store


class HeldJournal:
    """Another kernel holding the journal's lock (as during its own write)."""

    def __init__(self, store: Store):
        store.ensure()
        self.fd = os.open(store.journal_path, os.O_WRONLY | os.O_CREAT, 0o644)
        fcntl.flock(self.fd, fcntl.LOCK_EX)

    def release(self):
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


def test_journal_writes_wait_for_the_disk_without_blocking_the_event_loop(tmp_path):
    store = Store(tmp_path / "out")

    async def scenario():
        held = HeldJournal(store)
        writes = [
            asyncio.ensure_future(store.ajournal("submitted", task_id=f"t{i}")) for i in range(50)
        ]
        ticks = 0
        for _ in range(5):  # the loop keeps running while the disk is busy
            await asyncio.sleep(0.01)
            ticks += 1
        assert ticks == 5 and not any(write.done() for write in writes)
        assert store.read_journal() == []
        held.release()
        await asyncio.gather(*writes)
        return {entry["task_id"] for entry in store.read_journal()}

    assert asyncio.run(scenario()) == {f"t{i}" for i in range(50)}


def test_each_awaited_entry_is_on_disk_when_the_await_returns(tmp_path):
    store = Store(tmp_path / "out")

    async def one(i):
        await store.ajournal("submitted", task_id=f"t{i}")
        return f"t{i}" in {entry.get("task_id") for entry in store.read_journal()}

    async def scenario():
        return await asyncio.gather(*(one(i) for i in range(40)))

    assert all(asyncio.run(scenario()))
    lines = store.journal_path.read_text().splitlines()
    assert len(lines) == 40 and all(line.startswith("{") for line in lines)


def test_an_entry_is_written_even_if_its_waiter_is_cancelled(tmp_path):
    store = Store(tmp_path / "out")

    async def scenario():
        held = HeldJournal(store)
        write = asyncio.ensure_future(store.ajournal("submitted", task_id="paid"))
        await asyncio.sleep(0.01)
        write.cancel()
        await asyncio.gather(write, return_exceptions=True)
        held.release()
        await store.ajournal("marker")  # written after the cancelled one

    asyncio.run(scenario())
    assert [entry["event"] for entry in store.read_journal()] == ["submitted", "marker"]
