"""The words of messages: counts in words, not "(s)"; plain text wrapped between words
(JupyterLab shows plain text with `word-break: break-all`); HTML that wraps at word
boundaries instead of letting a column shrink until every word breaks."""

from __future__ import annotations

import re

import pytest

from nanobanana_magic import _display as display
from nanobanana_magic import _styles as styles
from nanobanana_magic._cli import build_parser
from nanobanana_magic._gallery import static_gallery_html
from nanobanana_magic._line_commands import help_text
from nanobanana_magic._wording import WRAP_COLUMNS, wrapped

LONG = (
    "The estimated cost $1.250 of 50 tasks is above the budget $1.00; nothing was sent. "
    "Raise it with --budget 2 or confirm with --yes, and see /a/very/long/folder/name/"
    "that/goes/on/and/on/without/any/space/in/it/banana_outputs/runs for the results."
)


def test_wrapped_text_breaks_only_between_words():
    text = wrapped(LONG)
    lines = text.splitlines()
    assert len(lines) > 2
    assert text.split() == LONG.split()  # no word cut, none lost
    for line in lines:  # a path wider than a line stays whole, on a line of its own
        assert len(line) <= WRAP_COLUMNS or " " not in line.strip(), line
    assert wrapped("first line\nsecond line") == "first line\nsecond line"


def test_an_error_in_a_cell_renders_as_lines_cut_between_words(shell, sim_env):
    error = shell.run_failing(
        "%%banana --sweep size=1:1,16:9,3:2,2:3 --sweep style=a,b,c,d,e,f,g,h,i,j,k,l,m "
        "--budget 0.01\nA long prompt about a {style} fox"
    )
    lines = error._render_traceback_()
    assert len(lines) > 1
    assert " ".join(lines).split() == f"{error.title}: {error}".split()
    assert all(len(line) <= WRAP_COLUMNS or " " not in line for line in lines)


def test_html_outputs_wrap_at_word_boundaries():
    for style in (styles.OUTPUT_STYLE, styles.CAPTION, styles.NOTE, styles.ERROR):
        assert "overflow-wrap:break-word" in style and "anywhere" not in style
    assert "word-break:normal" in styles.OUTPUT_STYLE  # undoes a host's break-all
    page = display.output(display.error_box(LONG) + display.note(LONG))
    assert "break-all" not in page and "anywhere" not in page


def _cli_help() -> str:
    parser = build_parser()
    texts = [parser.format_help()]
    for action in parser._subparsers._group_actions:  # every command's --help
        texts += [sub.format_help() for sub in action.choices.values()]
    return "\n".join(texts)


@pytest.mark.parametrize(
    "source",
    ["line command help", "cell magic help", "command line help", "gallery", "run repr"],
)
def test_counts_are_in_words_never_with_a_parenthesised_plural(source, shell, tmp_path):
    if source == "line command help":
        text = str(help_text())
    elif source == "cell magic help":
        text = shell.ip.find_cell_magic("banana").__doc__
    elif source == "command line help":
        text = _cli_help()
    elif source == "gallery":
        text = static_gallery_html([]) + static_gallery_html([], title="Gallery: ")
    else:
        from nanobanana_magic._request import ImageRequest
        from nanobanana_magic._run import Run

        request = ImageRequest.create("a fox")
        text = repr(Run("20260101-120000-a1b2c3", request, request.key()))
    text = text.replace("http(s)", "")  # a URL scheme, not a plural
    assert not re.search(r"\w\(s\)", text), re.findall(r".{30}\w\(s\).{0,30}", text)
    if source in ("gallery", "run repr"):
        assert re.search(r"\b0 images\b", text)
