"""The `nanobanana` command, run as a real subprocess."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
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
    result = cli(
        "generate",
        "a kite over dunes",
        "--size",
        "16:9",
        "--n",
        "2",
        "--resolution",
        "0.5K",
        "--base-url",
        sim.base_url,
        "--out",
        str(tmp_path / "out"),
        env_extra={"TOAPIS_API_KEY": TEST_KEY},
    )
    assert result.returncode == 0, result.stderr
    paths = [Path(line) for line in result.stdout.splitlines() if line.endswith(".png")]
    assert len(paths) == 2 and all(p.exists() and p.is_relative_to(tmp_path / "out") for p in paths)
    assert TEST_KEY not in result.stdout + result.stderr
    assert sim.stats()["tasks_created"] == 1
    again = cli(
        "generate",
        "a kite over dunes",
        "--size",
        "16:9",
        "--n",
        "2",
        "--resolution",
        "0.5K",
        "--base-url",
        sim.base_url,
        "--out",
        str(tmp_path / "out"),
        env_extra={"TOAPIS_API_KEY": TEST_KEY},
    )
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
