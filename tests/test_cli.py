"""The `nanobanana` command, run as a real subprocess."""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from conftest import TEST_KEY

NANOBANANA = shutil.which("nanobanana", path=str(Path(sys.executable).parent)) or shutil.which(
    "nanobanana"
)


def cli(*args, env_extra=None, cwd=None):
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("TOAPIS_API_KEY", "TOAPIS_BASE_URL", "NANOBANANA_OUTPUT_DIR")
    }
    env.update(env_extra or {})
    command = [NANOBANANA] if NANOBANANA else [sys.executable, "-m", "nanobanana_magic._cli"]
    return subprocess.run(
        command + list(args), capture_output=True, text=True, env=env, cwd=cwd, timeout=120
    )


def test_generate_prints_the_saved_paths(sim, tmp_path):
    args = ("a kite over dunes", "--size", "16:9", "--n", "2", "--resolution", "0.5K")
    args += ("--base-url", sim.base_url, "--out", str(tmp_path / "out"))
    key = {"TOAPIS_API_KEY": TEST_KEY}
    result = cli("generate", *args, env_extra=key)
    assert result.returncode == 0, result.stderr
    paths = [Path(line) for line in result.stdout.splitlines() if line.endswith(".png")]
    assert len(paths) == 2 and all(p.exists() and p.is_relative_to(tmp_path / "out") for p in paths)
    assert TEST_KEY not in result.stdout + result.stderr
    assert sim.stats()["tasks_created"] == 1
    again = cli("generate", *args, env_extra=key)
    assert "from the cache" in again.stdout and sim.stats()["tasks_created"] == 1


def test_a_reference_image_from_the_command_line(sim, tmp_path):
    from PIL import Image

    ref = tmp_path / "ref.png"
    Image.new("RGB", (40, 40), "green").save(ref)
    result = cli(
        "generate",
        "use the reference",
        "--ref",
        str(ref),
        "--resolution",
        "0.5K",
        "--base-url",
        sim.base_url,
        "--out",
        str(tmp_path / "out"),
        env_extra={"TOAPIS_API_KEY": TEST_KEY},
    )
    assert result.returncode == 0, result.stderr
    assert sim.stats()["uploads"] == 1


def test_errors_are_one_clear_line_without_a_traceback(sim, tmp_path):
    no_key = cli("generate", "x", "--base-url", sim.base_url, "--out", str(tmp_path))
    assert no_key.returncode == 2
    assert "TOAPIS_API_KEY" in no_key.stderr and "nanobanana sim" in no_key.stderr
    bad_size = cli(
        "generate",
        "x",
        "--size",
        "7:3",
        "--base-url",
        sim.base_url,
        env_extra={"TOAPIS_API_KEY": TEST_KEY},
    )
    assert bad_size.returncode == 2 and "16:9" in bad_size.stderr
    for result in (no_key, bad_size):
        assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert sim.stats()["submit_requests"] == 0


def test_generate_uses_the_environment_for_url_and_output(sim, tmp_path):
    result = cli(
        "generate",
        "from env",
        "--resolution",
        "0.5K",
        env_extra={
            "TOAPIS_API_KEY": TEST_KEY,
            "TOAPIS_BASE_URL": sim.base_url,
            "NANOBANANA_OUTPUT_DIR": str(tmp_path / "env-out"),
        },
    )
    assert result.returncode == 0, result.stderr
    assert str(tmp_path / "env-out") in result.stdout


def test_sim_starts_on_a_free_port_and_serves_the_api(tmp_path):
    command = [NANOBANANA] if NANOBANANA else [sys.executable, "-m", "nanobanana_magic._cli"]
    process = subprocess.Popen(
        command + ["sim", "--port", "0", "--duration", "0.2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base_url = None
        for line in process.stdout:
            if "base URL" in line:
                base_url = line.split(":", 1)[1].strip()
                break
        assert base_url and base_url.startswith("http://127.0.0.1:")
        answer = httpx.post(
            base_url + "/v1/images/generations",
            headers={"Authorization": f"Bearer {TEST_KEY}"},
            json={"model": "nano-banana-2", "prompt": "hi", "size": "1:1", "n": 1},
        )
        assert answer.status_code == 200 and answer.json()["status"] == "queued"
        result = cli(
            "generate",
            "through the cli sim",
            "--resolution",
            "0.5K",
            "--base-url",
            base_url,
            "--out",
            str(tmp_path / "out"),
            env_extra={"TOAPIS_API_KEY": TEST_KEY},
        )
        assert result.returncode == 0, result.stderr
    finally:
        process.kill()
        process.wait(timeout=10)
        process.stdout.close()
        process.stderr.close()


# -- the command line that matches the magic -------------------------------------------------
def run_cli(sim, out, *args, **kwargs):
    """`nanobanana ARGS --base-url SIM --out OUT` with the simulator's key in the environment."""
    return cli(
        *args,
        "--base-url",
        sim.base_url,
        "--out",
        str(out),
        env_extra={"TOAPIS_API_KEY": TEST_KEY},
        **kwargs,
    )


def as_json(result):
    assert result.returncode in (0, 1), result.stderr
    return json.loads(result.stdout)


def test_every_option_of_every_command_has_help():
    from nanobanana_magic._cli import build_parser

    parser = build_parser()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert {"generate", "sweep", "history", "show", "rerun", "resume", "export", "cost"} <= set(
        commands.choices
    )
    assert {"sim", "demo"} <= set(commands.choices)
    for name, sub in commands.choices.items():
        for action in sub._actions:
            assert action.help, (name, action.option_strings or action.dest)


def test_generate_and_sweep_take_the_magics_option_names():
    from nanobanana_magic._cell_options import CELL_OPTIONS, NOTEBOOK_ONLY, SWEEP_ONLY
    from nanobanana_magic._magics import Banana

    magic_flags = set(Banana.banana.parser._option_string_actions)
    sweep_help = cli("sweep", "--help").stdout
    generate_help = cli("generate", "--help").stdout
    for option in CELL_OPTIONS:
        assert option.flag in magic_flags
        if option.flag in NOTEBOOK_ONLY:
            assert option.flag not in sweep_help
            continue
        assert option.flag in sweep_help, option.flag
        assert (option.flag in generate_help) == (option.flag not in SWEEP_ONLY), option.flag
    for api_option in ("--sim", "--base-url", "--json"):
        assert api_option in sweep_help and api_option in generate_help
    assert "130" in generate_help  # the exit codes are documented


def test_generate_json_and_plain_progress_lines(sim, tmp_path):
    result = run_cli(
        sim, tmp_path / "out", "generate", "a kite", "--resolution", "0.5K", "-n", "2", "--json"
    )
    assert result.returncode == 0, result.stderr
    run = json.loads(result.stdout)
    assert run["status"] == "completed" and run["cached"] is False and run["simulated"] is True
    assert len(run["paths"]) == 2 and all(Path(p).exists() for p in run["paths"])
    assert run["request"]["n"] == 2 and run["request"]["resolution"] == "0.5K"
    # not a terminal: one plain line per change of status, on stderr
    lines = result.stderr.splitlines()
    assert any("[1/1]" in line and line.endswith(": queued") for line in lines)
    assert any("[1/1]" in line and line.endswith(": done (2 images)") for line in lines)
    # the words every live view uses: never the server's words or task ids
    assert "task_img_" not in result.stderr and "in_progress" not in result.stderr
    assert "\x1b[" not in result.stderr
    again = as_json(
        run_cli(
            sim, tmp_path / "out", "generate", "a kite", "--resolution", "0.5K", "-n", "2", "--json"
        )
    )
    assert again["cached"] is True and again["run_id"] == run["run_id"]
    assert sim.stats()["tasks_created"] == 1


def test_live_progress_in_a_terminal(sim, tmp_path):
    import pty

    leader, follower = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TOAPIS_", "NANOBANANA_"))}
    env.update(TOAPIS_API_KEY=TEST_KEY, COLUMNS="100", TERM="xterm")
    command = [NANOBANANA] if NANOBANANA else [sys.executable, "-m", "nanobanana_magic._cli"]
    process = subprocess.Popen(
        [*command, "sweep", "a {thing}", "--sweep", "thing=fox,owl", "--resolution", "0.5K"]
        + ["--base-url", sim.base_url, "--out", str(tmp_path / "out")],
        stdout=subprocess.PIPE,
        stderr=follower,
        env=env,
    )
    os.close(follower)
    screen = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal closed: the command is done
            break
        if not chunk:
            break
        screen += chunk
    os.close(leader)
    assert process.wait(timeout=60) == 0
    process.stdout.close()
    text = screen.decode("utf-8", "replace")
    assert "\x1b[" in text  # redrawn in place
    assert "━" in text and "100%" in text and "2 done" in text and "elapsed" in text
    assert "[1/2]" not in text  # not the plain lines


def test_exit_codes_say_what_happened(sim, tmp_path):
    out = tmp_path / "out"
    bad = run_cli(sim, out, "generate", "x", "--size", "7:3")
    assert bad.returncode == 2 and "16:9" in bad.stderr
    unknown = run_cli(sim, out, "generate", "x", "--resolutoin", "2K")
    assert unknown.returncode == 2 and "--resolutoin" in unknown.stderr
    over = run_cli(
        sim,
        out,
        "sweep",
        "a {x}",
        "--sweep",
        "x=1,2,3",
        "--sweep",
        "size=1:1,16:9",
        "--budget",
        "0.1",
    )
    assert over.returncode == 3 and "--yes" in over.stderr and "budget" in over.stderr
    dry = run_cli(sim, out, "sweep", "a {x}", "--sweep", "x=1,2", "--dry-run", "--json")
    assert dry.returncode == 0 and len(json.loads(dry.stdout)["payloads"]) == 2
    assert sim.stats()["submit_requests"] == 0  # nothing was sent so far
    failed = run_cli(sim, out, "generate", "this one will [fail]", "--resolution", "0.5K")
    assert failed.returncode == 1 and "failed" in failed.stdout
    mixed = run_cli(
        sim, out, "sweep", "a {x}", "--sweep", "x=fine,[fail]", "--resolution", "0.5K", "--json"
    )
    assert mixed.returncode == 1
    statuses = {cell["values"]["x"]: cell["status"] for cell in json.loads(mixed.stdout)["cells"]}
    assert statuses == {"fine": "completed", "[fail]": "failed"}
    for result in (bad, unknown, over, failed):
        assert "Traceback" not in result.stderr


def test_a_sweep_plan_in_toml_with_the_magics_keys(sim, tmp_path):
    plan = tmp_path / "plan.toml"
    plan.write_text(
        'prompt = "A fox, {style}"\n'
        'resolution = "0.5K"\n'
        "budget = 1\n"
        "no_cache = true\n"
        "[sweep]\n"
        'style = ["ink, loose", "oil"]\n'
        'size = ["1:1", "16:9"]\n'
    )
    result = run_cli(sim, tmp_path / "out", "sweep", str(plan), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert len(data["cells"]) == 4
    prompts = {cell["request"]["prompt"] for cell in data["cells"]}
    assert prompts == {"A fox, ink, loose", "A fox, oil"}  # a value may hold a comma
    assert {cell["request"]["resolution"] for cell in data["cells"]} == {"0.5K"}
    page = Path(data["page"])
    assert page.exists() and "A fox, oil" in page.read_text()
    plan.write_text('prompt = "x {a}"\nresoluton = "2K"\n[sweep]\na = [1, 2]\n')
    typo = run_cli(sim, tmp_path / "out", "sweep", str(plan))
    assert typo.returncode == 2 and "resoluton" in typo.stderr and "resolution" in typo.stderr


def test_history_show_export_cost_and_rerun_on_a_folder(sim, tmp_path):
    out = tmp_path / "out"
    made = as_json(run_cli(sim, out, "generate", "a lamp", "--resolution", "0.5K", "--json"))
    history = as_json(cli("history", "--out", str(out), "--json"))
    assert [row["run_id"] for row in history] == [made["run_id"]]
    shown = cli("show", "last", "--out", str(out))
    page = Path(shown.stdout.strip())
    assert shown.returncode == 0 and page.exists() and page.is_relative_to(out)
    assert "data:image/" in page.read_text() and made["run_id"] in page.read_text()
    exported = cli("export", made["run_id"][-6:], "--as", "json", "--out", str(out))
    assert json.loads(exported.stdout)["prompt"] == "a lamp"
    cost = as_json(cli("cost", "--out", str(out), "--json"))
    assert cost["simulated"] == pytest.approx(0.025) and cost["paid"] == 0
    cached = as_json(run_cli(sim, out, "rerun", "last", "--json"))
    assert cached["cached"] is True and sim.stats()["tasks_created"] == 1
    fresh = as_json(run_cli(sim, out, "rerun", "last", "--no-cache", "--json"))
    assert fresh["cached"] is False and sim.stats()["tasks_created"] == 2
    missing = cli("show", "nosuchrun", "--out", str(out))
    assert missing.returncode == 2


def test_sim_option_needs_no_key(tmp_path):
    result = cli("generate", "a pear", "--sim", "--resolution", "0.5K", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "SIMULATED" in result.stderr and result.stdout.strip().endswith(".png")


def test_ctrl_c_leaves_tasks_resumable(sim, tmp_path):
    sim.configure(duration=3.0)
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TOAPIS_", "NANOBANANA_"))}
    env["TOAPIS_API_KEY"] = TEST_KEY
    command = [NANOBANANA] if NANOBANANA else [sys.executable, "-m", "nanobanana_magic._cli"]
    process = subprocess.Popen(
        [*command, "sweep", "a {x}", "--sweep", "x=1,2", "--resolution", "0.5K"]
        + ["--base-url", sim.base_url, "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    seen = []
    for line in process.stderr:
        seen.append(line)
        if sum(s.rstrip().endswith(": queued") for s in seen) == 2:  # both sent
            break
    process.send_signal(signal.SIGINT)
    _, rest = process.communicate(timeout=30)
    assert process.returncode == 130, "".join(seen) + rest
    assert "nanobanana resume" in rest and "Traceback" not in rest
    assert sim.stats()["tasks_created"] == 2
    resumed = run_cli(sim, out, "resume", "--json")
    assert resumed.returncode == 0, resumed.stderr
    runs = json.loads(resumed.stdout)["runs"]
    # the rows name each task by its prompt and parameters, not by its task id
    assert "a 1 · 1:1 · 0.5K · n=1: done" in resumed.stderr and "task_img_" not in resumed.stderr
    assert len(runs) == 2 and all(run["status"] == "completed" for run in runs)
    assert all(Path(p).exists() for run in runs for p in run["paths"])
    assert sim.stats()["tasks_created"] == 2  # nothing paid twice
    again = run_cli(sim, out, "resume")
    assert again.returncode == 0 and "Nothing to resume" in again.stderr


def test_fan_out_from_the_command_line(sim, tmp_path):
    sim.configure(max_n=1)
    out = tmp_path / "out"
    never = run_cli(sim, out, "generate", "two figs", "-n", "2", "--fanout", "never")
    assert never.returncode == 1 and "'n'" in never.stdout
    run = as_json(run_cli(sim, out, "generate", "two figs", "-n", "2", "--json"))
    assert run["status"] == "completed" and len(run["paths"]) == 2
    assert sorted(task["n"] for task in sim.stats()["tasks"].values()) == [1, 1]
    assert (out / "gateway.jsonl").exists()
