"""How much `%load_ext nanobanana_magic` adds to starting IPython.

Each sample is a fresh interpreter (subprocess) that times, from its first line:

    baseline:   import IPython, ipywidgets, httpx; InteractiveShell.instance()
    extension:  the same, then %load_ext nanobanana_magic

Baseline and extension samples alternate so that drift hits both alike; the medians
and their difference are printed, with the goal (at most 100 ms over the baseline).
The extension samples also report whether heavy modules that `%load_ext` must not load
(Pillow, the simulator, the widget panel, sweeps) were imported.

Children may write bytecode (into a temporary PYTHONPYCACHEPREFIX, even where
PYTHONDONTWRITEBYTECODE is set), as a user's installation would have it: otherwise our
package would be compiled from source on every start while the baseline's libraries load
from their .pyc files. A warm-up sample of each kind fills that cache.

    python benchmarks/load_ext.py [--repeat 15]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

GOAL_MS = 100.0
DEFERRED = (
    "PIL",
    "nanobanana_magic.simulator",
    "nanobanana_magic._panel",
    "nanobanana_magic._sweep",
    "nest_asyncio2",
)

CHILD = """\
import time
started = time.perf_counter()
import sys, json
import IPython, ipywidgets, httpx
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
if {load}:
    shell.run_line_magic("load_ext", "nanobanana_magic")
    assert "banana" in shell.magics_manager.magics["cell"]
elapsed = time.perf_counter() - started
loaded = [m for m in {deferred!r} if m in sys.modules]
print(json.dumps({{"ms": elapsed * 1000, "loaded": loaded}}))
"""


def sample(load: bool, env: dict) -> dict:
    code = CHILD.format(load=load, deferred=DEFERRED)
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, env=env
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def child_env(pycache: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = pycache
    return env


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15, help="samples of each kind")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="load-ext-pycache-") as pycache:
        env = child_env(pycache)
        sample(False, env), sample(True, env)  # warm the file-system and bytecode caches
        baseline, extension, loaded = [], [], set()
        for _ in range(args.repeat):
            baseline.append(sample(False, env)["ms"])
            result = sample(True, env)
            extension.append(result["ms"])
            loaded.update(result["loaded"])

    base, ext = statistics.median(baseline), statistics.median(extension)
    print(f"fresh interpreters, {args.repeat} samples each, medians:")
    print(f"  import IPython, ipywidgets, httpx + InteractiveShell : {base:7.1f} ms")
    print(f"  the same + %load_ext nanobanana_magic               : {ext:7.1f} ms")
    print(
        f"  %load_ext costs                                      : {ext - base:7.1f} ms "
        f"(goal <= {GOAL_MS:.0f} ms; ratio {ext / base:.2f}x)"
    )
    print(
        "  deferred modules imported by %load_ext             : "
        + (", ".join(sorted(loaded)) or "none")
    )
    return 0 if ext - base <= GOAL_MS and not loaded else 1


if __name__ == "__main__":
    sys.exit(main())
