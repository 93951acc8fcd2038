"""The public namespace: every exported name is stable, listed, and shows its real signature."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import subprocess
import sys

import pytest

import nanobanana_magic

SYNC_TWINS = {"generate": "agenerate", "resume": "aresume", "sweep": "asweep"}


def test_every_exported_name_is_the_same_object_after_importing_every_submodule():
    # in a fresh interpreter, so no other test has imported a submodule first
    script = """
import importlib, pkgutil
import nanobanana_magic as nb
before = {name: getattr(nb, name) for name in nb.__all__}
for info in pkgutil.walk_packages(nb.__path__, nb.__name__ + "."):
    if info.name.endswith("__main__"):
        continue
    importlib.import_module(info.name)
after = {name: getattr(nb, name) for name in nb.__all__}
changed = [name for name in nb.__all__ if before[name] is not after[name]]
modules = [name for name, value in after.items() if type(value).__name__ == "module"]
print(changed, modules)
"""
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "[] []"


def test_the_readme_example_works_after_a_sweep_module_import():
    importlib.import_module("nanobanana_magic._sweep")
    importlib.import_module("nanobanana_magic._panel")
    from nanobanana_magic import panel, sweep

    assert callable(sweep) and callable(panel)
    assert sweep.__module__ == "nanobanana_magic._sweep"


def test_dir_lists_every_public_name():
    listed = dir(nanobanana_magic)
    assert set(nanobanana_magic.__all__) <= set(listed)


def test_no_public_module_shadows_a_public_name():
    modules = {info.name for info in pkgutil.iter_modules(nanobanana_magic.__path__)}
    public_modules = {name for name in modules if not name.startswith("_")}
    assert public_modules == {"simulator"}
    assert not public_modules & set(nanobanana_magic.__all__)


@pytest.mark.parametrize("name", ["generate", "resume", "sweep"])
def test_sync_twins_show_the_parameters_of_their_async_form(name):
    sync, twin = getattr(nanobanana_magic, name), getattr(nanobanana_magic, SYNC_TWINS[name])
    signature = inspect.signature(sync)
    assert signature == inspect.signature(twin)
    assert not inspect.iscoroutinefunction(sync)
    assert sync.__name__ == name and twin.__doc__ in sync.__doc__


def test_generate_signature_names_its_request_parameters():
    parameters = inspect.signature(nanobanana_magic.generate).parameters
    for expected in (
        "prompt",
        "model",
        "size",
        "n",
        "resolution",
        "reference_images",
        "output_dir",
        "cache",
        "variant",
    ):
        assert expected in parameters
    assert str(inspect.signature(nanobanana_magic.generate)) != "(prompt, **options)"


def test_panel_signature_names_its_form_defaults():
    parameters = inspect.signature(nanobanana_magic.panel).parameters
    for expected in (
        "simulator",
        "output_dir",
        "prompt",
        "size",
        "resolution",
        "n",
        "reference_images",
    ):
        assert expected in parameters
    assert not any(p.kind is p.VAR_KEYWORD for p in parameters.values())


def test_panel_shows_the_sessions_keywords_declared_once():
    from nanobanana_magic._panel_session import PanelSession

    shown = inspect.signature(nanobanana_magic.panel).parameters
    session = inspect.signature(PanelSession).parameters
    keywords = [name for name, p in session.items() if p.kind is p.KEYWORD_ONLY]
    assert keywords and all(shown[name] == session[name] for name in keywords)
    assert next(iter(shown)) == "magic"
    with pytest.raises(TypeError, match=r"^panel\(\) got an unexpected keyword argument 'key'"):
        nanobanana_magic.panel(key="sk-x")


@pytest.mark.parametrize("use_jedi", [False, True])
def test_ipython_keyword_completion_offers_real_parameters(use_jedi):
    from IPython.core.completer import provisionalcompleter
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shell.user_ns["generate"] = nanobanana_magic.generate
    shell.user_ns["panel"] = nanobanana_magic.panel
    shell.Completer.use_jedi = use_jedi
    for text, expected in [
        ("generate('x', resol", "resolution="),
        ("panel(simul", "simulator="),  # a session keyword
        ("panel(prom", "prompt="),  # a form keyword
    ]:
        with provisionalcompleter():
            matches = [c.text for c in shell.Completer.completions(text, len(text))]
        assert expected in matches
