"""Messages as JupyterLab shows them (real browser).

A running cell's live display, as laid out in the page: its row says "generating" and,
once the poll planner predicts it, the time left; its header has the elapsed time, the
cost estimate and the SIMULATED badge; no task id or server status word anywhere.

Long messages wrap between words: a plain-text error
(JupyterLab shows plain text with `word-break: break-all`, so our paragraphs come
pre-wrapped), and HTML outputs: a run's header and captions, a sweep's summary, a failed
cell's error box in its narrow grid column.

The check is made on the page as laid out: every word of these outputs must sit on one
line (a DOM Range over the word has its boxes on a single line). Words longer than a
line could hold (a long path) may break; the words checked are far shorter.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from nanobanana_magic._wording import WRAP_COLUMNS

from .pages import browser_page, images_decoded, open_notebook, run_all_cells, write_notebook

pytestmark = pytest.mark.browser

NOTEBOOK = "wrapping.ipynb"
LONG_PROMPT = (
    "A lighthouse keeper's cottage on a windswept headland at dusk, with gulls circling "
    "over the breakers, warm lamplight in every window and a storm gathering far out at sea"
)
CELLS = [
    "%load_ext nanobanana_magic\n%banana use sim --set duration=0.4 --set queue_delay=0.05",
    f"%%banana --size 16:9\n{LONG_PROMPT}",
    "%%banana --sweep mood=calm,[fail]\nA harbour at night, {mood}",
    "%banana use sim --set duration=6",
    "%%banana -n 2\nA slow windmill in a field",
    # last, since Run All stops at an error: a long refusal, shown as plain text
    "%%banana --sweep size=1:1,16:9,3:2,2:3 --sweep style=a,b,c,d,e,f,g,h,i,j,k,l,m "
    "--budget 0.01\nA {style} fox",
]
CHECKED = (
    ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr'], "
    ".jp-RenderedText[data-mime-type='application/vnd.jupyter.stderr'] pre, "
    ".banana-error, .banana-run-header, .banana-caption, .banana-sweep-summary"
)
# the words (up to 20 characters) of every matching element whose boxes lie on more than
# one line: a word broken inside
BROKEN_WORDS_JS = """
(selector) => {
  const broken = [];
  let checked = 0;
  for (const el of document.querySelectorAll(selector)) {
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (const m of node.textContent.matchAll(/\\S+/g)) {
        if (m[0].length > 20) continue;
        const range = document.createRange();
        range.setStart(node, m.index);
        range.setEnd(node, m.index + m[0].length);
        const tops = new Set([...range.getClientRects()]
          .filter((r) => r.width > 0).map((r) => Math.round(r.top)));
        checked += 1;
        if (tops.size > 1) broken.push(m[0]);
      }
    }
  }
  return {checked, broken};
}
"""


# how many characters of its font a line of the plain-text error output holds
COLUMNS_JS = """
() => {
  const pre = document.querySelector(".jp-RenderedText[data-mime-type='application/vnd.jupyter.stderr'] pre");
  const probe = document.createElement("span");
  probe.style.cssText = "position:absolute;visibility:hidden;white-space:pre";
  probe.textContent = "x".repeat(100);
  pre.appendChild(probe);
  const width = probe.getBoundingClientRect().width / 100;
  probe.remove();
  return pre.clientWidth / width;
}
"""


@pytest.mark.parametrize("jupyter_server", ["lab"], indirect=True)
def test_live_rows_in_words_and_long_messages_wrapped_between_words(
    chromium_browser, jupyter_server, tmp_path
):
    write_notebook(jupyter_server["root"] / NOTEBOOK, CELLS)
    with browser_page(chromium_browser, 1000, 1400, tmp_path) as page:
        open_notebook(page, jupyter_server, NOTEBOOK)
        run_all_cells(page)
        # the slow cell while it runs: the board in the user's words
        board = page.locator(".jp-CodeCell", has_text="slow windmill").locator(".banana-progress")
        expect(board).to_contain_text("generating", timeout=180_000)
        expect(board).to_contain_text("s left")  # once the planner has predicted the end
        header = board.locator(".banana-status")
        for words in ("1 task: 1 generating", "elapsed", "estimate $0.050", "SIMULATED"):
            expect(header).to_contain_text(words)
        expect(header.locator(".banana-badge")).to_be_visible()
        shown = board.inner_text()
        assert not re.search(r"task_img_|in_progress|submitted|running", shown), shown

        refusal = page.locator(".jp-OutputArea-output", has_text="budget")
        expect(refusal.first).to_be_visible(timeout=180_000)
        images_decoded(page, ".banana-run img.banana-thumb", 3)
        expect(page.locator(".banana-error:visible", has_text="failed").first).to_be_visible()
        columns = page.evaluate(COLUMNS_JS)
        print(f"the error output holds {columns:.0f} columns; messages wrap at {WRAP_COLUMNS}")
        result = page.evaluate(BROKEN_WORDS_JS, CHECKED)
        assert result["checked"] > 100, result  # the outputs were there to be checked
        assert result["broken"] == [], f"words broken inside: {result['broken']}"
