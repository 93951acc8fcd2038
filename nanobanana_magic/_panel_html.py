"""The panel's own HTML: its header, its "Copy as cell" button and its static record.

- The header carries the rule that shows "this panel's kernel has stopped" once the
  front end marks the panel's widget views disconnected (ipywidgets adds the class
  `jupyter-widgets-disconnected` when their kernel restarts or goes away) and dims the
  buttons, which would do nothing then.
- "Copy as cell" is a button in the page, not in the kernel: its click writes the cell
  (kept in the button) to the clipboard and says so; where the browser refuses, the cell
  text is shown selected for Ctrl+C, and that is said instead.
- The record is a plain HTML output under the panel holding the grid of its last results
  (with their run ids): it stays after a kernel restart and in the saved notebook, where
  widget views need their kernel.
"""

from __future__ import annotations

from . import _styles as styles
from ._display import esc, note
from ._widgets import view_tail

KERNEL_GONE = (
    "This panel's kernel has stopped (restarted or shut down), so its buttons do nothing. "
    "Run its cell again for a live panel; its last results stay below."
)
#: the plain-text form of the panel, saved in the notebook next to the widget view
PANEL_TEXT = (
    "Nano Banana control panel (ipywidgets): it works while the kernel that made it runs. "
    "Run this cell again for a live panel; its last results are kept below as a static grid."
)
RECORD_NOTE = (
    "The panel's last results, kept as a static copy: they stay after a kernel restart "
    "and in the saved notebook."
)

_RULES = (
    "<style>"
    ".jupyter-widgets-disconnected .banana-kernel-gone{display:block !important}"
    ".banana-panel .jupyter-widgets-disconnected.jupyter-button"
    "{pointer-events:none;opacity:.45}"
    "</style>"
)

COPY_SCRIPT = (
    "var b=this,t=b.dataset.cell,s=b.parentElement.querySelector('.banana-copy-status');"
    "function say(m){s.textContent=m}"
    "function show(){var p=b.closest('.banana-panel'),"
    "a=p&&p.querySelector('.banana-cell-text');if(!a)return;a.style.display='';"
    "var x=a.querySelector('textarea');if(x){x.value=t;x.focus();x.select()}}"
    "function refused(){show();say('The browser refused the clipboard: the cell is "
    "selected below, copy it with Ctrl+C.')}"
    "if(navigator.clipboard&&window.isSecureContext){navigator.clipboard.writeText(t)"
    ".then(function(){say('Copied: paste it into a new cell and run it.')},refused)}"
    "else{refused()}"
)


def header_html(backend: str, folder: str) -> str:
    """Title, where requests go and the output folder; and the kernel-gone notice."""
    subtitle = f"class='banana-subtitle' style='color:{styles.MUTED}'"
    return styles.output(
        f"{_RULES}<div style='font:12px/1.5 {styles.FONT}'>"
        f"<b class='banana-title' style='{styles.TITLE};font-size:15px'>Nano Banana 2</b> · "
        f"<span {subtitle}>{esc(backend)}</span><br><span {subtitle}>{esc(folder)}</span></div>"
        f"<div class='banana-kernel-gone' style='{styles.ERROR};display:none'>"
        f"{esc(KERNEL_GONE)}</div>"
    )


def copy_html(cell_text: str | None, problem: str = "") -> str:
    """The "Copy as cell" button holding the cell; disabled, with the reason, when the
    form does not make a cell yet."""
    status = f"<span class='banana-copy-status' style='{styles.NOTE};margin-left:6px'>"
    if cell_text is None:
        return (
            "<button class='jupyter-button widget-button banana-copy' disabled>"
            f"Copy as cell</button>{status}{esc(problem)}</span>"
        )
    return (
        "<button class='jupyter-button widget-button banana-copy' "
        "title='Copy the %%banana cell that reproduces this form' "
        f'data-cell="{esc(cell_text)}" onclick="{COPY_SCRIPT}">Copy as cell</button>'
        f"{status}</span>"
    )


def record_html(results: str) -> str:
    """The output under the panel's view: the static record of its last results (none
    yet: an empty output), and the rule that hides ipywidgets' error line in place of the
    view once its kernel has gone (`view_tail`)."""
    tail = view_tail("banana-panel-tail")
    if not results:
        return tail
    return tail + styles.output(note(RECORD_NOTE) + results, css_class="banana-panel-record")
