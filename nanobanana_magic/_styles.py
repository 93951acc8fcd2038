"""The look of every HTML output: colours from the front end's theme, and MathJax kept out.

Colours are JupyterLab's theme variables with a light fallback, `var(--jp-..., #light)`:
JupyterLab 4 and Notebook 7 (Light, Dark or any other theme) and nbconvert's lab
template define the variables, a plain HTML page uses the fallbacks. Text sits only on
backgrounds it keeps at least 4.5:1 contrast with in JupyterLab Light and Dark (WCAG AA;
the browser test measures it): titles and labels in `TEXT`, captions in `MUTED`, both on
`SURFACE` or the page itself, never muted text on `SUNKEN`.

Styles are inline on every element, so a host's CSS for tables, links or images (the
notebook's striped, right-aligned tables) cannot reach in, and a sanitizer that drops
`<style>` elements leaves them in place.

`output(html)` wraps a whole output in the element that tells MathJax to leave it alone:
JupyterLab 4 and Notebook 7 typeset `$...$` in HTML outputs with MathJax 3, which skips
elements of class `mathjax_ignore`; nbconvert pages use MathJax 2, which skips
`tex2jax_ignore`. An HTML entity such as `&#36;` would not help: MathJax reads the text,
after the entity is decoded.
"""

from __future__ import annotations

# -- the palette -------------------------------------------------------------------------------------
TEXT = "var(--jp-ui-font-color1, #1f2328)"  # titles, labels, body text
MUTED = "var(--jp-ui-font-color2, #59636e)"  # captions and notes (on SURFACE or the page)
SURFACE = "var(--jp-layout-color1, #ffffff)"  # cards, the panel
PAGE = "var(--jp-layout-color0, #ffffff)"  # behind outputs (for labels that must be opaque)
SUNKEN = "var(--jp-cell-editor-background, #f6f8fa)"  # code blocks, empty image areas
BORDER = "var(--jp-border-color2, #d0d7de)"
LINK = "var(--jp-content-link-color, #0b4fa8)"
ACCENT = "var(--jp-brand-color1, #0969da)"  # progress of running tasks
SUCCESS = "var(--jp-success-color1, #1a7f37)"
DANGER = "var(--jp-error-color1, #cf222e)"
WARN = "var(--jp-warn-color1, #bf8700)"
NEUTRAL = "var(--jp-layout-color3, #8c959f)"  # cancelled or waiting tasks
TRACK = "var(--jp-layout-color2, #eaeef2)"  # the empty part of a progress bar
ERROR_BACKGROUND = "var(--jp-rendermime-error-background, #ffebe9)"

FONT = "var(--jp-ui-font-family, system-ui, -apple-system, Segoe UI, sans-serif)"
MONO = "var(--jp-code-font-family, ui-monospace, SFMono-Regular, Menlo, Consolas, monospace)"

# -- building blocks ----------------------------------------------------------------------------------
#: the wrapper of every output: theme text colour, left-aligned, MathJax kept out
OUTPUT_CLASSES = "banana-output mathjax_ignore tex2jax_ignore"
#: text wraps at word boundaries; only a word wider than its box (a long path or URL) is
#: broken. `break-word`, unlike `anywhere`, does not let a box shrink below its longest
#: word (grid and table columns sized to their content would break every word), and
#: `word-break:normal` undoes a host's `break-all` (JupyterLab's, on preformatted text)
WRAP = "white-space:normal;word-break:normal;overflow-wrap:break-word"
OUTPUT_STYLE = f"color:{TEXT};font:12px/1.4 {FONT};text-align:left;{WRAP}"

#: the columns of a run's grid, in HTML (`GRID`) and in the rating widgets alike
RUN_COLUMNS = "repeat(auto-fill,minmax(min(100%,240px),1fr))"
GRID = f"display:grid;grid-template-columns:{RUN_COLUMNS};gap:10px;align-items:start;margin:6px 0"
CARD = (
    f"margin:0;max-width:512px;border:1px solid {BORDER};border-radius:6px;padding:6px;"
    f"background:{SURFACE};color:{TEXT};font:12px/1.35 {FONT};text-align:left"
)
CARD_TITLE = f"font-weight:600;margin-bottom:3px;color:{TEXT}"
CAPTION = f"margin-top:4px;color:{MUTED};{WRAP}"
IMAGE = f"width:100%;height:auto;display:block;border-radius:3px;background:{SUNKEN}"
LINK_STYLE = f"color:{LINK};text-decoration:underline"
ERROR = (
    f"border-left:4px solid {DANGER};background:{ERROR_BACKGROUND};color:{TEXT};"
    f"padding:6px 10px;margin:4px 0;font:13px/1.4 {FONT};{WRAP};text-align:left"
)
NOTE = f"color:{MUTED};font:12px/1.4 {FONT};margin:2px 0;text-align:left;{WRAP}"
TITLE = f"color:{TEXT};font-weight:600"
CODE = (
    f"font:12px/1.45 {MONO};background:{SUNKEN};color:{TEXT};border:1px solid {BORDER};"
    "border-radius:6px;padding:8px 10px;margin:4px 0;white-space:pre;overflow-x:auto;"
    "text-align:left"
)
# tables: every row and cell styled inline, so the notebook's striped and hover rows and
# its right alignment do not apply
TABLE = (
    f"border-collapse:collapse;font:12px/1.4 {FONT};margin:4px 0;color:{TEXT};"
    "table-layout:auto;border:none"
)
ROW = "background:transparent"
CELL = (
    f"text-align:left;vertical-align:top;padding:2px 8px;border:none;"
    f"border-bottom:1px solid {BORDER};color:{TEXT};background:transparent"
)
HEAD_CELL = CELL + ";font-weight:600"
BADGE = (
    f"border:1px solid {WARN};border-radius:4px;padding:0 4px;margin-left:6px;"
    f"font-size:11px;font-weight:600;color:{TEXT};background:transparent;white-space:nowrap"
)
SIM_BADGE = f"<span class='banana-badge' style='{BADGE}'>SIMULATED</span>"

#: progress bar fill colour by task state
STATE_COLORS = {
    "completed": SUCCESS,
    "cached": SUCCESS,
    "done": SUCCESS,
    "failed": DANGER,
    "cancelled": NEUTRAL,
}


def output(html_text: str, *, css_class: str = "") -> str:
    """The whole output, in the wrapper that sets the theme's text colour and keeps
    MathJax away from `$` amounts."""
    classes = f"{OUTPUT_CLASSES} {css_class}".strip()
    return f"<div class='{classes}' style='{OUTPUT_STYLE}'>{html_text}</div>"


def bar(percent: int, state: str = "", *, width: str = "120px", height: int = 8) -> str:
    """A small progress bar; the fill colour says the state (STATE_COLORS, else ACCENT)."""
    pct = max(0, min(100, int(percent)))
    color = STATE_COLORS.get(state, ACCENT)
    return (
        f"<span class='banana-bar' style='display:inline-block;vertical-align:middle;"
        f"width:{width};height:{height}px;border-radius:3px;background:{TRACK}'>"
        f"<span style='display:block;height:{height}px;border-radius:3px;width:{pct}%;"
        f"background:{color}'></span></span>"
    )
