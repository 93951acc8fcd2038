"""The bad-input catalogue: every mistake a user can make is answered with ONE sentence that
names the fix, before anything is sent.

Each case runs against a live simulator through a real front end (the Python API, the
`%%banana` magic in a real InteractiveShell, the widget panel) and then checks the
simulator saw no request of any kind: no submit, no poll, no upload, no download.
"""

from __future__ import annotations

import asyncio
import dataclasses
import html
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import TEST_KEY, assert_nothing_sent, assert_one_sentence_naming_the_fix, png_bytes

from nanobanana_magic import _errors as errors
from nanobanana_magic import generate
from nanobanana_magic._sweep import sweep


@dataclasses.dataclass
class Context:
    sim: object
    tmp: Path
    out: Path

    def file(self, name: str, data: bytes) -> Path:
        path = self.tmp / name
        path.write_bytes(data)
        return path

    def png(self, name: str = "ref.png") -> Path:
        return self.file(name, png_bytes())


@dataclasses.dataclass
class Case:
    id: str
    call: Callable[[Context], object]
    fix: str  # a regular expression the message must match: the fix it names


# -- the Python API ----------------------------------------------------------------------------
def api(prompt="a red fox", **overrides):
    """generate(...) against the simulator, with some arguments changed."""

    def call(ctx: Context):
        kwargs = {"base_url": ctx.sim.base_url, "api_key": TEST_KEY, "output_dir": ctx.out}
        kwargs.update({k: (v(ctx) if callable(v) else v) for k, v in overrides.items()})
        return generate(prompt, **kwargs)

    return call


def api_sweep(prompt, axes, **options):
    def call(ctx: Context):
        return sweep(
            prompt, axes, base_url=ctx.sim.base_url, api_key=TEST_KEY, output_dir=ctx.out, **options
        )

    return call


def oversized_png(ctx: Context) -> Path:
    path = ctx.file("huge.png", png_bytes())
    with open(path, "r+b") as fh:
        fh.truncate(10_000_001)  # a sparse file: a valid PNG signature, 10 MB + 1 byte
    return path


def not_writable_dir(ctx: Context) -> str:
    """A folder even root cannot create: sysfs refuses new directories."""
    if not Path("/sys").is_dir():
        pytest.skip("no /sys here to offer an unwritable folder to root")
    return "/sys/nanobanana-outputs"


API_CASES = [
    Case("empty-prompt", api(""), "write what the image should show"),
    Case("blank-prompt", api("   \n\t "), "write what the image should show"),
    Case("over-long-prompt", api("x" * 32_001), "shorten it"),
    Case("unknown-size", api(size="7:3"), "use one of"),
    Case("unknown-resolution", api(resolution="8K"), "use one of"),
    Case("unknown-model", api(model="nano-banana-3"), "use one of"),
    Case("n-zero", api(n=0), "1 to 4"),
    Case("n-five", api(n=5), "1 to 4"),
    Case("n-string", api(n="2"), "whole number from 1 to 4"),
    Case("n-float", api(n=2.5), "whole number from 1 to 4"),
    Case("n-bool", api(n=True), "whole number from 1 to 4"),
    Case(
        "missing-reference",
        api(reference_images=lambda c: [c.tmp / "nowhere.png"]),
        "check the path",
    ),
    Case(
        "non-image-reference",
        api(reference_images=lambda c: [c.file("notes.txt", b"hi")]),
        "convert it",
    ),
    Case("oversized-reference", api(reference_images=oversized_png), "resize or compress"),
    Case("directory-reference", api(reference_images=lambda c: [c.tmp]), "pass an image file"),
    Case(
        "fifteen-references",
        api(reference_images=lambda c: [c.png(f"r{i}.png") for i in range(15)]),
        "use at most 14",
    ),
    Case(
        "ftp-reference", api(reference_images=["ftp://example.com/a.png"]), "public http\\(s\\) URL"
    ),
    Case(
        "data-url-reference",
        api(reference_images=["data:image/png;base64,iVBORw0KGgo="]),
        "public http\\(s\\) URL",
    ),
    Case("no-key", api(api_key=None), "export TOAPIS_API_KEY"),
    Case("key-with-spaces", api(api_key="sk-abc def ghi jkl"), "copy it again"),
    Case("key-with-bearer", api(api_key="Bearer sk-abcdefghijkl"), "without the 'Bearer '"),
    Case("plain-http-remote", api(base_url="http://toapis.com"), "use https://"),
    Case("base-url-not-a-url", api(base_url="toapis dot com"), "use e\\.g\\. https://"),
    Case("base-url-with-path", api(base_url="https://toapis.com/api/images"), "drop"),
    Case(
        "output-is-a-file",
        api(output_dir=lambda c: c.file("outputs.txt", b"")),
        "choose another folder",
    ),
    Case(
        "output-under-a-file",
        api(output_dir=lambda c: c.file("f.txt", b"") / "out"),
        "choose a writable folder",
    ),
    Case("output-not-writable", api(output_dir=not_writable_dir), "choose a writable folder"),
    Case("prompt-not-text", api(None), "write what the image should show"),
    Case("sweep-unknown-axis", api_sweep("a fox", {"colour": ["red", "blue"]}), "use a parameter"),
    Case("sweep-no-axes", api_sweep("a fox", {}), "needs at least one axis"),
    Case("sweep-empty-axis", api_sweep("a fox", {"size": []}), "give at least one"),
    Case("sweep-repeated-value", api_sweep("a fox", {"size": "1:1,1:1"}), "list each value once"),
    Case(
        "sweep-zip-unequal",
        api_sweep("a fox", {"size": "1:1,16:9", "n": [1]}, zip=True),
        "same number of values",
    ),
    Case("sweep-bad-n", api_sweep("a fox", {"n": "one,two"}), "whole numbers"),
    Case("sweep-bad-cell", api_sweep("a fox", {"size": "1:1,7:3"}), "use one of"),
    Case(
        "sweep-undefined-variable",
        api_sweep("a {animal} by {painter}", {"animal": "fox,cat"}),
        "define it",
    ),
    # issue 11: the magic's ranges hold for the Python API too (one place checks them)
    Case("task-timeout-negative", api(task_timeout=-1), "at least 1"),
    Case("concurrency-zero", api(concurrency=0), "at least 1 and at most 64"),
    Case("concurrency-negative", api(concurrency=-5), "at least 1 and at most 64"),
    Case("max-poll-interval-zero", api(max_poll_interval=0), "at least 0.1"),
    Case("size-empty", api(size=""), "use one of the aspect ratios"),
    Case("resolution-empty", api(resolution=""), "use one of"),
    Case(
        "sweep-concurrency-zero",
        api_sweep("a fox", {"size": "1:1,16:9"}, concurrency=0),
        "at least 1",
    ),
    # money that is not a finite amount would switch the budget guard off
    Case(
        "sweep-budget-nan",
        api_sweep("a fox", {"size": "1:1,16:9"}, budget=float("nan")),
        "at least 0",
    ),
    Case(
        "sweep-budget-negative",
        api_sweep("a fox", {"size": "1:1,16:9"}, budget=-1),
        "at least 0",
    ),
    Case("price-nan", api(prices={"1K": float("nan")}), "dollar amount of 0 or more"),
    Case("price-negative", api(prices={"1K": -0.5}), "dollar amount of 0 or more"),
    Case(
        "sweep-price-nan",
        api_sweep("a fox", {"size": "1:1"}, prices={"1K": float("nan")}),
        "0 or more",
    ),
    # the payload must serialise to strict JSON
    Case("metadata-nan", api(metadata={"x": float("nan")}), "finite number"),
    Case("metadata-infinite", api(metadata={"x": float("inf")}), "finite number"),
    Case("metadata-object", api(metadata={"x": object()}), "JSON cannot carry"),
    Case("metadata-set", api(metadata={"x": {1, 2}}), "JSON cannot carry"),
    Case("prompt-lone-surrogate", api("a fox \ud800 in snow"), "delete it"),
    # every problem of a request in one message
    Case("n-and-resolution", api(n=5, resolution="3K"), "1 to 4 images.*use one of 0.5K"),
]


@pytest.mark.timeout(30)
@pytest.mark.parametrize("case", API_CASES, ids=[c.id for c in API_CASES])
def test_python_api_refuses_bad_input_in_one_sentence(case, sim, tmp_path):
    ctx = Context(sim, tmp_path, tmp_path / "outputs")
    with pytest.raises(errors.BananaError) as caught:
        case.call(ctx)
    assert isinstance(caught.value, (errors.ValidationError, errors.ConfigurationError))
    assert_one_sentence_naming_the_fix(str(caught.value), case.fix)
    assert_nothing_sent(sim)


# -- the magic ---------------------------------------------------------------------------------
MAGIC_CASES = [
    Case("empty-cell", "%%banana\n   ", "write what the image should show"),
    Case("unknown-size", "%%banana --size 7:3\na fox", "use one of"),
    Case("unknown-resolution", "%%banana --resolution 8K\na fox", "use one of"),
    Case("unknown-model", "%%banana --model dall-e\na fox", "use one of"),
    Case("n-zero", "%%banana -n 0\na fox", "1 to 4"),
    Case("n-float", "%%banana -n 2.5\na fox", "whole number"),
    Case("n-word", "%%banana -n two\na fox", "needs a whole number"),
    Case("unknown-option", "%%banana --colour red\na fox", "lists the options"),
    Case("option-without-value", "%%banana --size\na fox", "needs a value"),
    Case("repeated-option", "%%banana --size 1:1 --size 16:9\na fox", "give it once"),
    Case(
        "ftp-reference", "%%banana --ref ftp://example.com/a.png\na fox", "public http\\(s\\) URL"
    ),
    Case("undefined-prompt-variable", "%%banana\na {undefined_animal}", "define it"),
    Case("undefined-option-variable", "%%banana -n $no_such_count\na fox", "define no_such"),
    Case("sweep-malformed", "%%banana --sweep size\na fox", "write --sweep KEY=V1,V2"),
    Case(
        "sweep-repeated",
        "%%banana --sweep size=1:1 --sweep size=16:9\na fox",
        "list all its values once",
    ),
    Case("sweep-unknown-axis", "%%banana --sweep colour=red,blue\na fox", "use a parameter"),
    Case("meta-malformed", "%%banana --meta foo\na fox", "write --meta KEY=VALUE"),
    Case("concurrency-zero", "%%banana --concurrency 0\na fox", "at least 1"),
    Case("output-is-a-file", "%%banana --out {file}\na fox", "choose another folder"),
    Case("unknown-run-id", "%banana show no-such-run", "%banana history"),
    Case("unknown-command", "%banana frobnicate", "use one of"),
    Case("use-plain-http", "%banana use http://example.com", "use https://"),
    Case("use-not-a-url", "%banana use ftp://example.com", "use e\\.g\\. https://"),
    Case("no-key", "%%banana\na fox", "export TOAPIS_API_KEY"),
    Case("key-with-spaces", "%%banana\na fox", "copy it again"),
    # issue 11
    Case("budget-nan", "%%banana --sweep size=1:1,16:9 --budget nan\na fox", "at least 0"),
    Case("budget-infinite", "%%banana --sweep size=1:1,16:9 --budget inf\na fox", "at least 0"),
    Case("budget-negative", "%%banana --sweep size=1:1,16:9 --budget -1\na fox", "at least 0"),
    Case("sweep-expression", "%%banana --sweep s=$big[:1000]\na {s}", "into a variable"),
    Case("sweep-listed-expression", "%%banana --sweep s=a,$b.c\na {s}", "into a variable"),
    Case("sweep-listed-name", "%%banana --sweep s=a,$b\na {s}", "one list variable"),
    Case("option-expression", "%%banana --size $sizes[0]\na fox", "into a variable"),
    Case("meta-nan", "%%banana --meta x=NaN\na fox", "finite number"),
    Case("meta-huge", "%%banana --meta x=1e999\na fox", "finite number"),
    Case("n-and-resolution", "%%banana -n 5 --resolution 3K\na fox", "1 to 4 images.*use one of"),
]
_ENVIRONMENT = {"no-key": None, "key-with-spaces": "sk-abc def ghi jkl"}


@pytest.mark.timeout(30)
@pytest.mark.parametrize("case", MAGIC_CASES, ids=[c.id for c in MAGIC_CASES])
def test_magic_refuses_bad_input_in_one_sentence(case, sim_env, shell, tmp_path, monkeypatch):
    if case.id in _ENVIRONMENT:
        key = _ENVIRONMENT[case.id]
        if key is None:
            monkeypatch.delenv("TOAPIS_API_KEY")
        else:
            monkeypatch.setenv("TOAPIS_API_KEY", key)
    a_file = tmp_path / "not-a-folder.txt"
    a_file.write_text("")
    error = shell.run_failing(case.call.replace("{file}", str(a_file)))
    assert_one_sentence_naming_the_fix(str(error), case.fix)
    assert_nothing_sent(sim_env)


# -- the panel ---------------------------------------------------------------------------------
def panel_error(p) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", p.error.value))


def click_generate(p) -> None:
    async def scenario():
        task = p.generate()
        if task is not None:  # refused inside the run (e.g. no key): let it finish
            await task

    asyncio.run(scenario())


PANEL_CASES = [
    Case("empty-prompt", {"prompt": ""}, "write what the image should show"),
    Case("blank-prompt", {"prompt": "  \n "}, "write what the image should show"),
    Case("over-long-prompt", {"prompt": "y" * 32_001}, "shorten it"),
    Case("ftp-url", {"urls": "ftp://example.com/a.png"}, "public http\\(s\\) URL"),
    Case("undefined-prompt-variable", {"prompt": "a {missing_thing}"}, "define it"),
    Case(
        "sweep-without-values",
        {"sweep_key": "size", "sweep_values": " , "},
        "list them separated by commas",
    ),
    Case("no-key", {"api_key": None}, "export TOAPIS_API_KEY"),
    Case("key-with-spaces", {"api_key": "sk-abc def ghi jkl"}, "copy it again"),
    Case("plain-http-remote", {"base_url": "http://toapis.com"}, "use https://"),
    Case("output-is-a-file", {"output_dir": "FILE"}, "choose another folder"),
]
_BACKEND = ("api_key", "base_url", "output_dir")


@pytest.mark.timeout(30)
@pytest.mark.parametrize("case", PANEL_CASES, ids=[c.id for c in PANEL_CASES])
def test_panel_refuses_bad_input_in_one_sentence(case, sim, tmp_path):
    from nanobanana_magic._panel import panel

    a_file = tmp_path / "not-a-folder.txt"
    a_file.write_text("")
    backend = {"base_url": sim.base_url, "api_key": TEST_KEY, "output_dir": tmp_path / "out"}
    backend.update({k: v for k, v in case.call.items() if k in _BACKEND})
    if backend["output_dir"] == "FILE":
        backend["output_dir"] = a_file
    p = panel(**backend)
    try:
        p.prompt.value = "a red fox"
        for name, value in case.call.items():
            if name not in _BACKEND:
                getattr(p, name).value = value
        click_generate(p)
        assert_one_sentence_naming_the_fix(panel_error(p), case.fix)
    finally:
        p.close()
    assert_nothing_sent(sim)


@pytest.mark.timeout(30)
def test_panel_refuses_a_non_image_upload_in_one_sentence(sim, tmp_path):
    import datetime

    from nanobanana_magic._panel import panel

    p = panel(base_url=sim.base_url, api_key=TEST_KEY, output_dir=tmp_path / "out")
    try:
        p.upload.value = (
            {
                "name": "notes.txt",
                "type": "text/plain",
                "size": 5,
                "content": memoryview(b"hello"),
                "last_modified": datetime.datetime.now(datetime.timezone.utc),
            },
        )
        assert_one_sentence_naming_the_fix(panel_error(p), "choose an image file")
    finally:
        p.close()
    assert_nothing_sent(sim)


def test_the_catalogue_is_large_enough():
    assert len(API_CASES) + len(MAGIC_CASES) + len(PANEL_CASES) + 1 >= 25


@pytest.mark.timeout(30)
@pytest.mark.parametrize("value", ["object()", "{1, 2}", "float('nan')"])
def test_magic_refuses_a_meta_value_json_cannot_carry(value, sim_env, shell):
    shell.run(f"odd = {value}")
    error = shell.run_failing("%%banana --meta x=$odd\na fox")
    assert_one_sentence_naming_the_fix(str(error), "JSON cannot carry|finite number")
    assert_nothing_sent(sim_env)


def test_a_multi_problem_request_names_every_problem(sim, tmp_path):
    with pytest.raises(errors.ValidationError) as caught:
        generate("", n=5, resolution="3K", size="7:3", base_url=sim.base_url, api_key=TEST_KEY)
    message = str(caught.value)
    assert message.startswith("This request has 4 problems")
    for part in ("write what the image should show", "7:3", "n is 5", "'3K'"):
        assert part in message
    assert_nothing_sent(sim)


@pytest.mark.parametrize(
    ("setting", "value", "fix"),
    [
        ("budget", "float('nan')", "at least 0"),
        ("budget", "-1.0", "at least 0"),
        ("prices", "{'1K': float('nan')}", "0 or more"),
        ("prices", "{'1K': -1.0}", "0 or more"),
        ("task_timeout", "-1.0", "at least 1"),
    ],
)
def test_config_refuses_money_and_ranges_that_switch_guards_off(
    setting, value, fix, sim_env, shell, caplog
):
    magic = shell.ip.magics_manager.registry["Banana"]
    before = getattr(magic, setting)
    try:
        shell.ip.run_line_magic("config", f"Banana.{setting} = {value}")
    finally:  # %config stores the value in the shell's config even when it is refused
        shell.ip.config.Banana.pop(setting, None)
    assert getattr(magic, setting) == before
    (message,) = [r.getMessage() for r in caplog.records if f"Banana.{setting}" in r.getMessage()]
    assert_one_sentence_naming_the_fix(message, fix)
