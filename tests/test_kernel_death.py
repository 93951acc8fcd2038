"""A kernel killed while its tasks are in flight loses nothing that was paid for.

A real Jupyter kernel runs a `%%banana` sweep against a simulator started by the test;
the test kills it with SIGKILL while the tasks are still running on the server. In a new
kernel `%banana resume` collects every task the server completed, and the simulator's
counters prove nothing was submitted again.
"""

from __future__ import annotations

import os
import signal
import time

import pytest
from conftest import TEST_KEY
from jupyter_client import KernelManager

from nanobanana_magic._store import Store

SIZES = ("1:1", "16:9", "9:16", "4:3")


class Kernel:
    """A real ipykernel with a blocking client; `run` waits for the cell and returns
    (status, text shown on stdout/stderr or as text/plain)."""

    def __init__(self, env: dict, cwd: str):
        self.manager = KernelManager(kernel_name="python3")
        self.manager.start_kernel(env=env, cwd=cwd)
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=60)

    def send(self, code: str) -> str:
        return self.client.execute(code)

    def run(self, code: str, timeout: float = 60) -> tuple[str, str]:
        msg_id = self.send(code)
        shown = []
        deadline = time.monotonic() + timeout
        while True:
            msg = self.client.get_iopub_msg(timeout=max(0.1, deadline - time.monotonic()))
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                shown.append(content["text"])
            elif kind in ("execute_result", "display_data"):
                shown.append(content["data"].get("text/plain", ""))
            elif kind == "error":
                shown.append("\n".join(content["traceback"]))
            elif kind == "status" and content["execution_state"] == "idle":
                break
        reply = self.client.get_shell_msg(timeout=10)
        return reply["content"]["status"], "".join(shown)

    def kill(self) -> None:
        self.manager.signal_kernel(signal.SIGKILL)
        deadline = time.monotonic() + 10
        while self.manager.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not self.manager.is_alive()

    def close(self) -> None:
        self.client.stop_channels()
        if self.manager.has_kernel:
            self.manager.shutdown_kernel(now=True)


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.mark.kernel
@pytest.mark.timeout(150)
def test_resume_in_a_new_kernel_collects_what_a_killed_kernel_left(sim, out_dir, tmp_path):
    sim.configure(duration=3.0, queue_delay=0.05)
    env = {
        **os.environ,
        "TOAPIS_BASE_URL": sim.base_url,
        "TOAPIS_API_KEY": TEST_KEY,
        "NANOBANANA_OUTPUT_DIR": str(out_dir),
    }
    store = Store(out_dir)

    def submitted():
        return [e for e in store.read_journal() if e["event"] == "submitted"]

    first = Kernel(env, str(tmp_path))
    try:
        status, _ = first.run("%load_ext nanobanana_magic")
        assert status == "ok"
        first.send(f"%%banana --sweep size={','.join(SIZES)}\na lighthouse in a storm")
        wait_for(lambda: len(submitted()) == len(SIZES), 60, "the tasks to be submitted")
        in_flight = sim.stats()["tasks"]
        assert all(t["status"] != "completed" for t in in_flight.values())
        first.kill()
    finally:
        first.close()

    before = sim.stats()
    assert before["tasks_created"] == len(SIZES)
    assert not [e for e in store.read_journal() if e["event"] == "completed"]
    task_ids = {e["task_id"] for e in submitted()}
    assert task_ids == set(before["tasks"])
    assert {e["task_id"] for e in store.pending_tasks()} == task_ids

    second = Kernel(env, str(tmp_path))
    try:
        assert second.run("%load_ext nanobanana_magic")[0] == "ok"
        status, shown = second.run(
            "runs = %banana resume\nprint(len(runs), sorted(r.status for r in runs))"
        )
        assert status == "ok", shown
        assert f"{len(SIZES)} ['completed', 'completed', 'completed', 'completed']" in shown
        status, shown = second.run("%banana resume")
        assert status == "ok" and "Nothing to resume" in shown
    finally:
        second.close()

    after = sim.stats()
    assert after["tasks_created"] == len(SIZES)  # nothing was created again
    assert after["submit_requests"] == before["submit_requests"]  # nor even sent again
    completed = {t for t, info in after["tasks"].items() if info["status"] == "completed"}
    assert completed == task_ids
    collected = [e for e in store.read_journal() if e["event"] == "completed"]
    assert sorted(e["task_id"] for e in collected) == sorted(task_ids)
    for entry in collected:
        run = store.load_run(entry["run_id"])
        assert run.ok and run.images and all(image.path.is_file() for image in run.images)
    assert {store.load_run(e["run_id"]).request.size for e in collected} == set(SIZES)
    assert store.pending_tasks() == []
