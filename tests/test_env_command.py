"""`peft-efficiency env` prints what a bug report needs, read from the environment it runs in."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from lock_helpers import LOCK_FILE, parse_lock


def _env_lines(tmp_path: Path, data_dir: str) -> dict[str, str]:
    env = {**os.environ, "PEFT_EFFICIENCY_DATA_DIR": data_dir}
    out = subprocess.run([sys.executable, "-m", "peft_efficiency.cli", "env"], capture_output=True, text=True,
                         env=env, cwd=tmp_path, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = [line[2:] for line in out.stdout.splitlines() if line.startswith("- ")]
    return dict(line.split(": ", 1) for line in lines)


def test_env_reports_versions_machine_energy_access_data_and_lock(tmp_path: Path, data_dir: Path) -> None:
    info = _env_lines(tmp_path, str(data_dir))
    for name in ("torch", "transformers", "peft", "trl", "accelerate", "datasets", "lm-eval", "codecarbon"):
        assert info[f"{name} version"] == metadata.version(name)
    assert info["bitsandbytes version"] in ("not installed", *[metadata.version(d.name) for d in metadata.distributions() if d.name == "bitsandbytes"])
    assert info["Python"].startswith(f"{sys.version_info.major}.{sys.version_info.minor}.")
    assert f"{os.cpu_count()} logical cores" in info["CPU"]
    assert Path(info["Data directory"]).resolve() == data_dir.resolve()
    rapl_files = list(Path("/sys/class/powercap").glob("intel-rapl:*/energy_uj"))
    assert info["RAPL readable"].startswith("yes" if rapl_files and os.access(rapl_files[0], os.R_OK) else "no")
    assert ("RAPL counters" in info["Energy mode codecarbon will use"]) == info["RAPL readable"].startswith("yes")
    if (Path(sys.prefix) / "lock-used.txt").is_file():
        assert info["Installed from the lock"].startswith(f"yes ({len(parse_lock(LOCK_FILE.read_text()))} pins")
    else:
        assert info["Installed from the lock"].startswith("no (")


def test_env_names_a_data_directory_that_does_not_exist(tmp_path: Path) -> None:
    info = _env_lines(tmp_path, str(tmp_path / "missing"))
    assert info["Data directory"].startswith("invalid: ")
    assert str(tmp_path / "missing") in info["Data directory"]


def test_env_into_a_closed_pipe_stops_quietly() -> None:
    """`peft-efficiency env | head -1` once head has gone: no BrokenPipeError traceback, and the exit status a shell
    gives a command stopped by SIGPIPE (128 + 13 = 141). The pipe's reading end is closed before the command
    starts, so its first write fails every time."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run([sys.executable, "-m", "peft_efficiency.cli", "env"], stdout=write_end,
                              stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write_end)
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr[-2000:]
    assert done.returncode == 141
