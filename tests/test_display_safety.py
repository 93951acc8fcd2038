"""Display safety: prompts and server strings are HTML-escaped in every grid and widget.

A prompt such as `<script>alert(1)</script>` must render as text. Each rendering is parsed
with the standard library's HTML parser and must contain no script element, no event
handler attribute (except the package's own constant click handlers: the thumbnail zoom and
the panel's copy button) and no
javascript: link, while the hostile text itself is visible.
"""

from __future__ import annotations

import asyncio
import html
from html.parser import HTMLParser

import pytest
from conftest import TEST_KEY, RecordingServer, json_answer

from nanobanana_magic import _display as display
from nanobanana_magic import generate
from nanobanana_magic._engine import Engine
from nanobanana_magic._panel_html import COPY_SCRIPT
from nanobanana_magic._store import Store
from nanobanana_magic._sweep_plan import plan_sweep
from nanobanana_magic._sweep_result import SweepRun

PROMPT = "<script>alert(1)</script> a fox <img src=x onerror=alert(2)>"
SERVER_TEXT = "<script>alert('server')</script><img src=y onerror=alert(3)>"
STATUS_TEXT = "<script>alert('status')</script>"


#: the package's own click handlers (constants: nothing a prompt or a server says is in them)
OUR_SCRIPTS = (display.ZOOM_SCRIPT, COPY_SCRIPT)


class _Inspector(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.bad: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag in ("script", "iframe", "object", "embed"):
            self.bad.append(f"<{tag}>")
        for name, value in attrs:
            ours = name == "onclick" and value in OUR_SCRIPTS
            if name.lower().startswith("on") and not ours:
                self.bad.append(f"{tag} {name}=")
            if (value or "").strip().lower().startswith("javascript:"):
                self.bad.append(f"{tag} {name}=javascript:")

    def handle_data(self, data):
        self.text.append(data)


def assert_safe(markup: str, *visible: str) -> None:
    """No active content in `markup`; each of `visible` is shown as text or attribute."""
    inspector = _Inspector()
    inspector.feed(markup)
    inspector.close()
    assert not inspector.bad, f"active content rendered: {inspector.bad}"
    text = "".join(inspector.text)
    for snippet in visible:
        assert snippet in text or html.escape(snippet) in markup, (
            f"{snippet!r} is not shown as text"
        )


def engine_for(base_url, out_dir, **client_options) -> Engine:
    return Engine(
        store=Store(out_dir),
        api_key=TEST_KEY,
        base_url=base_url,
        client_options={"max_retries": 1, "backoff_cap": 0.2, **client_options},
    )


def run_sweep_with_snapshots(engine, template, axes):
    """Run a sweep as the magic does, rendering the grid and the board at every event."""
    plan = plan_sweep(template, axes, engine=engine, cache=False)
    result = SweepRun(plan)
    board = display.ProgressBoard([", ".join(map(str, key)) for key, _ in plan.cells])
    snapshots: list[str] = []

    def listener(event):
        result.apply(event)
        board.apply(event)
        snapshots.extend([result.html(), board.html()])

    runs = asyncio.run(engine.run([r for _, r in plan.cells], listener=listener, cache=False))
    return result, board, runs, snapshots


@pytest.mark.timeout(60)
def test_a_run_grid_shows_a_script_prompt_as_text(sim, out_dir):
    run = generate(PROMPT, n=2, base_url=sim.base_url, api_key=TEST_KEY, output_dir=out_dir)
    assert run.ok
    assert_safe(run._repr_html_(), PROMPT)
    assert_safe(run._repr_mimebundle_()[0]["text/html"], PROMPT)
    assert_safe(display.runs_html([run]), PROMPT)


@pytest.mark.timeout(60)
def test_sweep_grid_and_progress_board_escape_prompts_labels_and_statuses(sim, out_dir):
    sim.configure(unknown_status=STATUS_TEXT, duration=2.0)
    engine = engine_for(sim.base_url, out_dir)
    result, board, runs, snapshots = run_sweep_with_snapshots(
        engine,
        PROMPT + " {thing}",
        {"thing": ["<b>bold</b>", "<script>x()</script>"], "size": ["1:1", "16:9"]},
    )
    assert all(run.ok for run in runs)
    assert any("generating" in snap for snap in snapshots)  # the status, in our words
    for snapshot in snapshots:  # the server's own status word is never shown at all
        assert STATUS_TEXT not in html.unescape(snapshot)
        assert_safe(snapshot)
    assert_safe(result.html(), PROMPT, "<script>x()</script>", "<b>bold</b>")
    assert_safe(board.html(), "<script>x()</script>")


@pytest.mark.timeout(60)
def test_server_error_messages_are_escaped_everywhere(out_dir):
    def hostile(method, path, body):
        if method == "POST" and "400" in body.decode():
            # (a message that starts with "<" is taken for a gateway's HTML page and dropped)
            return json_answer(
                400, {"error": {"message": "refused: " + SERVER_TEXT, "code": "bad"}}
            )
        if method == "POST":
            return json_answer(200, {"id": "t1", "status": "queued"})
        return json_answer(
            200, {"id": "t1", "status": "failed", "error": {"code": "x", "message": SERVER_TEXT}}
        )

    with RecordingServer("127.0.0.1", respond=hostile) as api:
        engine = engine_for(api.url, out_dir)
        result, board, runs, snapshots = run_sweep_with_snapshots(
            engine, "{what} " + PROMPT, {"what": ["fails later", "refused 400"]}
        )
    assert [run.status for run in runs] == ["failed", "failed"]
    assert all(SERVER_TEXT in run.error for run in runs), [run.error for run in runs]
    for snapshot in snapshots:
        assert_safe(snapshot)
    assert_safe(result.html(), SERVER_TEXT)
    assert_safe(board.html(), SERVER_TEXT)
    for run in runs:
        assert_safe(run._repr_html_(), SERVER_TEXT)
        assert_safe(display.error_box(run.error, label=run.request.prompt), SERVER_TEXT)


@pytest.mark.timeout(60)
def test_history_dry_run_show_and_export_escape_the_prompt(sim_env, shell):
    shell.ns["hostile"] = PROMPT
    dry = shell.run("%%banana --dry-run\n{hostile}")
    assert_safe(dry._repr_html_(), PROMPT)
    sweep_dry = shell.run("%%banana --dry-run --sweep size=1:1,16:9\n{hostile}")
    assert_safe(sweep_dry._repr_html_(), PROMPT)
    run = shell.run("%%banana\n{hostile}")
    assert run.ok and run.request.prompt == PROMPT
    history = shell.run("%banana history")
    assert_safe(history._repr_html_(), PROMPT[:60])
    assert_safe(shell.run("%banana show last")._repr_html_(), PROMPT)
    exported = shell.run("%banana export last --as python")
    assert_safe(exported._repr_html_())
    assert "<script>" not in exported._repr_html_()


@pytest.mark.timeout(60)
def test_the_panel_escapes_prompts_and_server_strings(sim, tmp_path):
    from nanobanana_magic._panel import panel

    async def click(p):
        task = p.generate()
        assert task is not None, html.unescape(p.error.value)
        await task

    p = panel(base_url=sim.base_url, api_key=TEST_KEY, output_dir=tmp_path / "out")
    try:
        p.prompt.value = PROMPT
        asyncio.run(click(p))
        for widget in (p.cost, p.error, p.header, p.copy_button):
            assert_safe(widget.value)
        assert_safe(p.results_html, PROMPT)
        assert html.escape(PROMPT) in p.copy_button.value  # the cell the button copies
        run_id = p.history.options[1][1]
        p.restore(run_id)
        assert_safe(p.results_html, PROMPT)
    finally:
        p.close()

    def hostile(method, path, body):
        if method == "POST":
            return json_answer(200, {"id": "t1", "status": "queued"})
        return json_answer(200, {"id": "t1", "status": "failed", "error": {"message": SERVER_TEXT}})

    with RecordingServer("127.0.0.1", respond=hostile) as api:
        p = panel(base_url=api.url, api_key=TEST_KEY, output_dir=tmp_path / "out2")
        try:
            p.prompt.value = PROMPT
            asyncio.run(click(p))
            assert_safe(p.error.value, SERVER_TEXT)
            assert_safe(p.results_html, SERVER_TEXT)
        finally:
            p.close()
