"""The ipywidgets control panel: explore prompts and parameters without blocking the kernel.

    from nanobanana_magic import panel
    panel()                      # TOAPIS_API_KEY / TOAPIS_BASE_URL from the environment
    panel(simulator=True)        # the built-in simulator (simulated images, nothing paid)
    %banana panel                # the magic's settings, backend and output folder

The logic is testable without a browser: `_panel_form` holds the form as plain data
(`PanelForm`, `plan_form`: requests, the reproducing `%%banana` cell) and
`_panel_session` where requests go (`PanelSession`). This module is the view:

- `BananaPanel` (an ipywidgets VBox). Generate schedules `Engine.run` on the
  kernel's own event loop and returns at once; engine events update the progress rows,
  the result grid and the cost line. Cancel cancels that task: polling stops, and the
  submitted tasks stay in the journal for `%banana resume`.

Every view carries `banana-*` CSS classes (`Widget.add_class`) as stable test hooks.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import ipywidgets as widgets

from . import _display as display
from ._engine import Engine, Event
from ._errors import BananaError, ValidationError
from ._panel_form import (
    SWEEP_PARAMETERS,
    PanelForm,
    history_label,
    plan_form,
    reference_thumbnail,
    save_upload,
)
from ._panel_html import PANEL_TEXT, copy_html, header_html, record_html
from ._panel_session import PanelSession
from ._plan import BatchPlan
from ._pricing import format_usd, price_per_image
from ._progress import TaskProgress
from ._request import KNOWN_MODELS, MAX_N, RESOLUTIONS, SIZES, ImageRequest, is_url
from ._run import Run
from ._runner import BatchView, run_batch
from ._sweep_plan import SweepPlan
from ._sweep_result import SweepRun
from ._template import placeholders
from ._widgets import HTMLView, dropdown
from ._widgets import hook as _hook
from ._wording import plural

log = logging.getLogger("nanobanana_magic")

NO_WIDGETS_TEXT = PANEL_TEXT


# -- the view ---------------------------------------------------------------------------------------
class ProgressRow(widgets.HBox):
    """One task: its label, a progress bar and its status."""

    _STYLES = {
        "completed": "success",
        "cached": "success",
        "failed": "danger",
        "cancelled": "warning",
    }

    def __init__(self, label: str):
        self.label = _hook(
            widgets.Label(label, layout=widgets.Layout(width="260px")), "banana-progress-label"
        )
        self.bar = _hook(
            widgets.IntProgress(0, min=0, max=100, layout=widgets.Layout(width="220px")),
            "banana-progress-bar",
        )
        self.status = _hook(widgets.Label(TaskProgress().shown), "banana-progress-status")
        # a narrow panel puts the status under the bar rather than cutting it off
        super().__init__(
            [self.label, self.bar, self.status],
            layout=widgets.Layout(flex_flow="row wrap", align_items="center"),
        )
        self.add_class("banana-progress-row")

    def show(self, row: TaskProgress) -> None:
        """Show the task's state as the batch's progress reducer has it, in the words of
        every live view (and the time left once it is predicted), never a task id."""
        self.bar.value = row.progress
        self.status.value = row.describe()
        self.bar.bar_style = self._STYLES.get(row.state, "info")


class _PanelView(BatchView):
    """The panel's view of a running batch: progress rows, the grid filling in, the cost
    line and the error area."""

    def __init__(self, panel: BananaPanel, plan: BatchPlan):
        sweep = SweepRun(plan) if isinstance(plan, SweepPlan) else None
        super().__init__(plan.labels, sweep=sweep)
        self.panel, self.plan = panel, plan
        self.rows = [ProgressRow(label) for label in plan.labels]

    def changed(self, event: Event, row: TaskProgress) -> None:
        self.rows[event.index].show(row)
        if row.finished and row.run is not None and row.state != "cancelled":
            # a cancelled task is not shown as a run that spent nothing: it may be charged
            done = [
                r.run for r in self.progress.rows if r.run is not None and r.state != "cancelled"
            ]
            self.panel._show_results(self.sweep, done)

    def finished(self, runs: list[Run]) -> None:
        self.panel._finish(self.plan, runs, self.sweep)

    def failed(self, error: BananaError) -> None:
        self.panel.show_error(str(error))
        self.panel.cost.value = display.note("Nothing was generated.")

    def crashed(self, error: Exception) -> None:  # the details are in the log
        self.panel.show_error(
            f"Unexpected error ({type(error).__name__}: {error}); please report it."
        )

    def stopped(self) -> None:
        for widget, row in zip(self.rows, self.progress.rows):
            widget.show(row)
        submitted = [
            (row.task_id, request)
            for row, request in zip(self.progress.rows, self.plan.requests)
            if row.task_id and row.state not in ("completed", "failed", "cached")
        ]
        self.panel.cost.value = display.note(self.panel._cancel_note(submitted))


class BananaPanel(widgets.VBox):
    """The control panel widget. See the module docstring; build it with `panel()`."""

    def __init__(self, session: PanelSession, form: PanelForm | None = None):
        self.session = session
        self.task: asyncio.Task | None = None
        self.spent = 0.0
        self._quiet = False  # set while the code itself changes the form
        self._uploads: list[str] = []
        self._results_html = ""
        self._record_id: str | None = None  # the display id of the static record
        self._build()
        super().__init__(
            self._layout(),
            layout=widgets.Layout(
                border="1px solid var(--jp-border-color2, #d0d7de)",
                padding="10px 12px",
                max_width="1000px",
                width="auto",
                overflow="hidden",
            ),
        )
        self.add_class("banana-panel")
        self.set_form(form or PanelForm(**session.defaults()))
        self.refresh_history()

    # -- construction ------------------------------------------------------------------------
    def _build(self) -> None:
        W, L = widgets, widgets.Layout
        narrow = {"description_width": "80px"}
        self.header = _hook(W.HTML(), "banana-header")
        self.prompt = _hook(
            W.Textarea(
                placeholder="Describe the image… ({name} takes a notebook variable)",
                layout=L(width="auto", height="86px"),
            ),
            "banana-prompt",
        )
        self.model = dropdown(KNOWN_MODELS, "Model", "banana-model", width="300px")
        self.size = dropdown(SIZES, "Size", "banana-size", width="170px")
        self.resolution = dropdown(RESOLUTIONS, "Resolution", "banana-resolution", width="170px")
        self.count = dropdown(range(1, MAX_N + 1), "Count", "banana-count", width="150px")
        self.upload = _hook(
            W.FileUpload(
                accept="image/png,image/jpeg,image/webp,image/gif",
                multiple=True,
                description="Upload references",
                icon="upload",
                layout=L(width="200px"),
            ),
            "banana-upload",
        )
        self.urls = _hook(
            W.Text(
                placeholder="reference image URLs, https://… (space-separated)",
                description="URLs",
                style={"description_width": "40px"},
                layout=L(flex="1 1 auto"),
            ),
            "banana-urls",
        )
        self.thumbs = _hook(W.HBox(layout=L(flex_flow="row wrap")), "banana-references")
        self.sweep_key = _hook(
            W.Dropdown(description="Sweep", style=narrow, layout=L(width="240px")),
            "banana-sweep-key",
        )
        self.sweep_values = _hook(
            W.Text(
                placeholder="values, comma-separated (e.g. 1:1, 16:9)", layout=L(flex="1 1 auto")
            ),
            "banana-sweep-values",
        )
        self.generate_button = _hook(
            W.Button(description="Generate", button_style="primary", icon="play"), "banana-generate"
        )
        self.cancel_button = _hook(
            W.Button(description="Cancel", button_style="warning", icon="stop", disabled=True),
            "banana-cancel",
        )
        self.copy_button = _hook(W.HTML(), "banana-copy-area")
        self.history = _hook(
            W.Dropdown(
                description="History",
                style={"description_width": "60px"},
                layout=L(flex="1 1 auto"),
            ),
            "banana-history",
        )
        self.cost = _hook(W.HTML(), "banana-cost")
        self.error = _hook(W.HTML(), "banana-error-area")
        self.cell = _hook(
            W.Textarea(layout=L(width="auto", height="90px", display="none")), "banana-cell-text"
        )
        self.progress = _hook(W.VBox(), "banana-progress")
        # the results: the grid filling in while a batch runs (HTML with file links, so
        # an Output widget), then the finished grid with rating stars, Pick and "Use as
        # reference" under each card (`_rating_grid`)
        self.grid = _hook(HTMLView(layout=L(width="auto")), "banana-results-live")
        self.tiles = _hook(W.Box(), "banana-result-tiles")
        self.results = _hook(W.VBox([self.grid, self.tiles]), "banana-results")

        self.generate_button.on_click(lambda _: self.generate())
        self.cancel_button.on_click(lambda _: self.cancel())
        self.upload.observe(self._on_upload, "value")
        self.history.observe(self._on_history, "value")
        self.prompt.observe(self._on_prompt, "value")
        for field in (
            self.model,
            self.size,
            self.resolution,
            self.count,
            self.urls,
            self.sweep_key,
            self.sweep_values,
        ):
            field.observe(self._on_form_change, "value")

    def _layout(self) -> list:
        W, L = widgets, widgets.Layout
        row = L(align_items="center", margin="2px 0", flex_flow="row wrap")
        return [
            self.header,
            self.prompt,
            W.HBox([self.model, self.size, self.resolution, self.count], layout=row),
            W.HBox([self.upload, self.urls], layout=row),
            self.thumbs,
            W.HBox([self.sweep_key, self.sweep_values], layout=row),
            W.HBox(
                [self.generate_button, self.cancel_button, self.copy_button, self.history],
                layout=row,
            ),
            self.cost,
            self.error,
            self.cell,
            self.progress,
            self.results,
        ]

    def _ipython_display_(self) -> None:
        """The widget view, and under it the static record of its last results (empty
        until it has some), which outlives the kernel."""
        from IPython.display import display

        display(self._repr_mimebundle_(), raw=True)
        if self._record_id is None:
            import uuid

            self._record_id = uuid.uuid4().hex
        bundle = {"text/html": record_html(self._results_html), "text/plain": ""}
        display(bundle, raw=True, display_id=self._record_id)

    def _repr_mimebundle_(self, **kwargs):
        """The widget view, with a text/plain saying what the panel is and how to get it
        back where the view cannot show (no kernel, a static page, a terminal)."""
        bundle = super()._repr_mimebundle_(**kwargs)
        if isinstance(bundle, tuple):
            bundle[0]["text/plain"] = NO_WIDGETS_TEXT
        elif isinstance(bundle, dict):
            bundle["text/plain"] = NO_WIDGETS_TEXT
        return bundle

    def __repr__(self) -> str:
        return (
            "<BananaPanel: a widget panel for JupyterLab 4 or Notebook 7; "
            "in a terminal use the %%banana magic>"
        )

    # -- the form ----------------------------------------------------------------------------
    def form(self) -> PanelForm:
        return PanelForm(
            prompt=self.prompt.value,
            model=self.model.value,
            size=self.size.value,
            resolution=self.resolution.value,
            n=int(self.count.value),
            uploads=tuple(self._uploads),
            urls=self.urls.value,
            sweep_key=self.sweep_key.value or "",
            sweep_values=self.sweep_values.value,
        )

    def set_form(self, form: PanelForm) -> None:
        """Put `form` into the widgets (refusing values the dropdowns do not offer)."""
        for name, value, allowed in (
            ("model", form.model, KNOWN_MODELS),
            ("size", form.size, SIZES),
            ("resolution", form.resolution, RESOLUTIONS),
            ("n", form.n, range(1, MAX_N + 1)),
        ):
            if value not in allowed:
                raise ValidationError(
                    f"The panel has no {name} {value!r}; use one of {', '.join(map(str, allowed))}."
                )
        self._quiet = True
        try:
            self.prompt.value = form.prompt
            self.model.value, self.size.value = form.model, form.size
            self.resolution.value, self.count.value = form.resolution, form.n
            self.urls.value = form.urls
            self._uploads = list(form.uploads)
            self._refresh_sweep_options()
            self.sweep_key.value = (
                form.sweep_key if form.sweep_key in [v for _, v in self.sweep_key.options] else ""
            )
            self.sweep_values.value = form.sweep_values
        finally:
            self._quiet = False
        self._show_references()
        self._form_changed()

    def _on_prompt(self, change) -> None:
        self._refresh_sweep_options()
        self._on_form_change(change)

    def _on_form_change(self, change) -> None:
        if not self._quiet:
            self._form_changed()

    def _form_changed(self) -> None:
        backend, folder = self.session.describe()
        self.header.value = header_html(backend, folder)
        try:
            text = self.cell_text()
        except BananaError as exc:
            self.copy_button.value = copy_html(None, str(exc))
        else:
            self.copy_button.value = copy_html(text)
            self.cell.value = text
        if not self.busy:
            self._show_estimate()

    def _refresh_sweep_options(self) -> None:
        options = (
            [("no sweep", "")]
            + [(p, p) for p in SWEEP_PARAMETERS]
            + [(f"{{{name}}}", name) for name in placeholders(self.prompt.value)]
        )
        if options != list(self.sweep_key.options):
            current = self.sweep_key.value
            quiet, self._quiet = self._quiet, True
            try:
                self.sweep_key.options = options
                self.sweep_key.value = current if current in [v for _, v in options] else ""
            finally:
                self._quiet = quiet

    def plan(self) -> tuple[BatchPlan, Engine]:
        """The form's requests and the engine to run them (raises BananaError on bad input)."""
        engine = self.session.engine()
        plan = plan_form(
            self.form(), engine, namespace=self.session.namespace(), prices=self.session.prices
        )
        return plan, engine

    def _show_estimate(self) -> None:
        try:
            plan, _ = self.plan()
        except BananaError as exc:  # the sentence Generate would show
            self.cost.value = display.note(f"No estimate yet: {exc}")
            return
        self.cost.value = display.note(plan.estimate_line())

    # -- reference images ----------------------------------------------------------------------
    def _on_upload(self, change) -> None:
        files = change["new"]
        if not files:
            return
        root = self.session.store().root
        problems = []
        for item in files:
            try:
                path = str(save_upload(root, item["name"], item["content"]))
            except BananaError as exc:
                problems.append(str(exc))
                continue
            if path not in self._uploads:
                self._uploads.append(path)
        self.show_error(" ".join(problems))
        self.upload.value = ()
        self._show_references()
        self._form_changed()

    def remove_reference(self, path: str) -> None:
        if path in self._uploads:
            self._uploads.remove(path)
        self._show_references()
        self._form_changed()

    def _show_references(self) -> None:
        cards = []
        for path in self._uploads:
            thumb = reference_thumbnail(path)
            picture = (
                widgets.Image(
                    value=thumb,
                    format="jpeg",
                    layout=widgets.Layout(width="64px", height="64px", object_fit="cover"),
                )
                if thumb
                else widgets.Label(Path(path).name[:12])
            )
            remove = _hook(
                widgets.Button(
                    description="×",
                    tooltip=f"Remove {Path(path).name}",
                    layout=widgets.Layout(width="64px", height="24px"),
                ),
                "banana-reference-remove",
            )
            remove.on_click(lambda _, p=path: self.remove_reference(p))
            cards.append(
                _hook(
                    widgets.VBox(
                        [_hook(picture, "banana-reference-thumb"), remove],
                        layout=widgets.Layout(margin="2px 6px 2px 0"),
                    ),
                    "banana-reference",
                )
            )
        self.thumbs.children = cards

    @property
    def simulator(self):
        """The built-in simulator behind this panel, or None; `.configure(...)` sets knobs."""
        return self.session.simulator

    # -- generating ----------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        """True while a generation runs in the background."""
        return self.task is not None and not self.task.done()

    def generate(self) -> asyncio.Task | None:
        """Validate the form, then start the generation as a task on the running loop.

        Returns at once with the task (None when the form is refused: the error area
        says why, and nothing was sent)."""
        if self.busy:
            self.show_error("A generation is already running; wait for it or press Cancel.")
            return None
        try:
            plan, engine = self.plan()
            if isinstance(plan, SweepPlan) and plan.over_budget(self.session.budget):
                raise ValidationError(
                    f"{plan.describe()} That is above the "
                    f"{format_usd(self.session.budget)} budget; use fewer values or raise it "
                    "(panel(budget=...) or %config Banana.budget)."
                )
            loop = asyncio.get_running_loop()
        except BananaError as exc:
            self.show_error(str(exc))
            return None
        except RuntimeError:
            self.show_error(
                "The panel needs a running Jupyter kernel to work in the "
                "background; use the %%banana magic here."
            )
            return None
        self.show_error("")
        self.task = loop.create_task(self._run(plan, engine))
        return self.task

    def cancel(self) -> None:
        """Stop polling; submitted tasks stay in the journal (`%banana resume`)."""
        if self.busy and self.task is not None:
            self.task.cancel()

    async def _run(self, plan: BatchPlan, engine: Engine) -> list[Run]:
        view = _PanelView(self, plan)
        self.progress.children = view.rows
        self.show_grid("")
        self.cost.value = display.note(plan.estimate_line() + " Running…")
        self._set_running(True)
        runs: list[Run] = []
        try:
            runs = await run_batch(
                lambda listener: engine.run(plan.requests, listener=listener), view
            )
        except (asyncio.CancelledError, Exception):  # the view has shown what happened
            pass
        finally:
            self._set_running(False)
            self.refresh_history()
        return runs

    def _cancel_note(self, submitted: list[tuple[str, ImageRequest]]) -> str:
        """What a cancel leaves behind: tasks already submitted are charged all the same."""
        if not submitted:
            return "Cancelled before any task was submitted: nothing was sent or spent."
        ids = ", ".join(task_id for task_id, _ in submitted[:3])
        ids += " …" if len(submitted) > 3 else ""
        estimate = sum(
            request.n * price_per_image(request.resolution, self.session.prices)
            for _, request in submitted
        )
        return (
            f"Cancelled: polling stopped, but {plural(len(submitted), 'task')} "
            f"{'was' if len(submitted) == 1 else 'were'} already submitted "
            f"({ids}) and may be charged (about {format_usd(estimate)}); "
            "`%banana resume` collects them without paying again."
        )

    def _finish(self, plan: BatchPlan, runs: list[Run], result: SweepRun | None) -> None:
        self._show_rating_grid(runs, result, record=True)
        spent = sum(run.spent for run in runs)
        self.spent += spent
        self.session.note_spent(runs)
        images = sum(len(run.images) for run in runs)
        cached = sum(1 for run in runs if run.cached)
        self.cost.value = display.note(
            f"Spent {format_usd(spent)} on {plural(images, 'image')}"
            + (f" ({plural(cached, 'task')} from the cache, free)" if cached else "")
            + f" · this panel so far: {format_usd(self.spent)}."
        )
        failed = [run for run in runs if not run.ok]
        if failed:
            self.show_error(
                f"{len(failed)} of {plural(len(runs), 'task')} failed: {failed[0].error}"
            )

    def _show_results(
        self, result: SweepRun | None, runs: list[Run], *, record: bool = False
    ) -> None:
        self.tiles.children = ()
        html_text = result.html() if result is not None else display.runs_html(runs)
        self.show_grid(html_text, record=record)

    def show_grid(self, html_text: str, *, record: bool = False) -> None:
        """Show a results grid (a fragment) in the panel; with `record`, also in the
        static record under the panel."""
        self.tiles.children = ()
        self.grid.value = display.output(html_text) if html_text else ""
        self._set_results_html(html_text, record=record)

    def _set_results_html(self, html_text: str, *, record: bool) -> None:
        self._results_html = html_text
        if record and self._record_id is not None:
            from IPython.display import update_display

            update_display(
                {"text/html": record_html(html_text), "text/plain": "(the panel's last results)"},
                raw=True,
                display_id=self._record_id,
            )

    @property
    def results_html(self) -> str:
        """The grid the panel shows now (an HTML fragment; empty when none)."""
        return self._results_html

    def _show_rating_grid(
        self, runs: list[Run], result: SweepRun | None = None, *, record: bool = False
    ) -> None:
        """The finished grid, each card with its rating stars, Pick and "Use as reference"
        underneath; a rating also refreshes the static record (with `record`). A sweep
        too big for widgets keeps the HTML grid, with the controls under it by address."""
        from ._image_controls import tiles
        from ._rating_grid import RatingGrid, can_rate

        subject: SweepRun | list[Run] = result if result is not None else runs
        if not can_rate(subject):
            self._show_results(result, runs, record=record)
            shown: list[Run | None] = list(runs)
            labels = None
            if result is not None:
                shown = list(result.runs.values())
                labels = [", ".join(map(str, key)) for key in result.runs]
            self.tiles.children = (
                tiles(shown, on_reference=self.use_as_reference, labels=labels, cards=False),
            )
            return
        grid = RatingGrid(subject, on_reference=self.use_as_reference)
        self.grid.value = ""
        self.tiles.children = (grid,)
        self._set_results_html(grid.static_html(), record=record)
        if record:
            grid.on_refresh.append(lambda: self._set_results_html(grid.static_html(), record=True))

    def use_as_reference(self, image) -> None:
        """Add a stored image (its full-size file) to the form's references."""
        path = str(image.path)
        if path not in self._uploads:
            self._uploads.append(path)
        self._show_references()
        self._form_changed()
        self.show_error("")

    def _set_running(self, running: bool) -> None:
        self.generate_button.disabled = running
        self.cancel_button.disabled = not running

    def show_error(self, message: str) -> None:
        self.error.value = display.error_box(message) if message else ""

    # -- copy as cell ------------------------------------------------------------------------
    def cell_text(self) -> str:
        return self.form().cell_text(self.session.output_dir)

    def show_cell(self) -> None:
        """Show the `%%banana` cell for the current form (or why there is none)."""
        try:
            text = self.cell_text()
        except BananaError as exc:
            self.show_error(str(exc))
            return
        self.cell.value = text
        self.cell.layout.display = None

    # -- history ----------------------------------------------------------------------------
    def refresh_history(self) -> None:
        try:
            runs = self.session.store().recent_runs(30)
        except (BananaError, OSError):
            runs = []
        title = f"{plural(len(runs), 'earlier run')} in this folder" if runs else "no runs yet"
        quiet, self._quiet = self._quiet, True
        try:
            self.history.options = [(title, "")] + [(history_label(r), r.run_id) for r in runs]
            self.history.value = ""
        finally:
            self._quiet = quiet

    def _on_history(self, change) -> None:
        if not self._quiet and change["new"]:
            self.restore(change["new"])

    def restore(self, run_id: str) -> Run:
        """Put a stored run's parameters into the form and show its images from disk."""
        run = self.session.store().load_run(run_id)
        self.set_form(PanelForm.from_run(run))
        run.cached = True  # shown from disk: nothing sent, nothing spent
        self.progress.children = ()
        self.show_error("")
        self._show_rating_grid([run])
        self.cost.value = display.note(
            f"Restored run {run.run_id} from disk; nothing was "
            f"sent (it cost {format_usd(run.cost)} when made)."
        )
        return run

    def close(self) -> None:
        self.cancel()
        self.session.close()
        super().close()


def _with_session_keywords(func: Callable[..., BananaPanel]) -> Callable[..., BananaPanel]:
    """`func` with `PanelSession`'s keywords (declared there, once) in its signature in
    place of its `**connection`, so that `panel?`, tab completion and `inspect.signature`
    list every parameter, and a wrong keyword is refused in `func`'s name."""
    own = list(inspect.signature(func).parameters.values())
    session = inspect.signature(PanelSession).parameters.values()
    signature = inspect.signature(func).replace(
        parameters=[
            *(p for p in own if p.kind is p.POSITIONAL_OR_KEYWORD),
            *(p for p in session if p.kind is p.KEYWORD_ONLY),
            *(p for p in own if p.kind is p.KEYWORD_ONLY),
        ]
    )

    @functools.wraps(func)
    def checked(*args: Any, **kwargs: Any) -> BananaPanel:
        try:
            signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"{func.__name__}() {exc}") from None
        return func(*args, **kwargs)

    checked.__signature__ = signature  # type: ignore[attr-defined]
    return checked


@_with_session_keywords
def panel(
    magic=None,
    *,
    prompt: str | None = None,
    model: str | None = None,
    size: str | None = None,
    resolution: str | None = None,
    n: int | None = None,
    reference_images: Iterable[str | os.PathLike] | str | os.PathLike = (),
    **connection: Any,
) -> BananaPanel:
    """The control panel; `prompt`, `model`, `size`, `resolution`, `n` and
    `reference_images` (paths or URLs) pre-fill its form.

    With `magic` (what `%banana panel` passes) the panel shares the magic's backend,
    settings and output folder; otherwise `api_key`/`base_url`/`output_dir` or the
    environment (TOAPIS_API_KEY, TOAPIS_BASE_URL, NANOBANANA_OUTPUT_DIR) decide.
    `simulator=True` (or a dict of knobs, e.g. {"duration": 3}) uses the built-in
    simulator instead: simulated images, nothing paid. `budget` caps a sweep's estimate.
    """
    defaults = {
        key: value
        for key, value in dict(
            prompt=prompt, model=model, size=size, resolution=resolution, n=n
        ).items()
        if value is not None
    }
    session = PanelSession(magic, **connection)
    references = reference_images
    if isinstance(references, (str, os.PathLike)):
        references = (references,)
    local = tuple(
        str(Path(os.fspath(r)).expanduser().resolve())
        for r in references
        if not is_url(os.fspath(r))
    )
    urls = " ".join(os.fspath(r) for r in references if is_url(os.fspath(r)))
    form = PanelForm(**{**session.defaults(), **defaults, "uploads": local, "urls": urls})
    try:
        return BananaPanel(session, form)
    except BaseException:
        session.close()
        raise
