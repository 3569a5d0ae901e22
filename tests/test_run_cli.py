"""Issue 24 item 6: `peft-efficiency run` checks the PEFT_EFFICIENCY_* variables already set before it starts the
command (one line naming the variable and what it accepts, the command never started), and a command it cannot
start gives one line and the status a shell gives (bash's own statuses are the reference)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
MARK = "import pathlib; pathlib.Path('started').write_text('yes')"


def env_with(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PEFT_EFFICIENCY_") and k != "PYTHONPATH"}
    return {**env, "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}", **extra}


def run(argv: list[str], cwd: Path, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "peft-efficiency"), "run", *argv], cwd=cwd, env=env_with(**extra),
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("variable, value, accepts", [
    ("PEFT_EFFICIENCY_ENERGY", "maybe", "PEFT_EFFICIENCY_ENERGY='maybe': expected 1/true/yes/on or 0/false/no/off"),
    ("PEFT_EFFICIENCY_LABELS", "seed", "PEFT_EFFICIENCY_LABELS='seed': expected key=value pairs separated by commas"),
    ("PEFT_EFFICIENCY_COUNTRY", "Slovenia", "PEFT_EFFICIENCY_COUNTRY='Slovenia': country_iso_code must be an ISO 3166-1 alpha-3 code"),
    ("PEFT_EFFICIENCY_COUNTRY", "ZZZ", "PEFT_EFFICIENCY_COUNTRY='ZZZ': country_iso_code 'ZZZ' is not in codecarbon's carbon-intensity table"),
    ("PEFT_EFFICIENCY_DATA_DIR", "/no/such/data", "PEFT_EFFICIENCY_DATA_DIR='/no/such/data': data directory /no/such/data "
                                                  "(from the environment variable PEFT_EFFICIENCY_DATA_DIR) does not exist"),
])
def test_a_bad_variable_stops_the_command_before_it_starts(variable: str, value: str, accepts: str, tmp_path: Path) -> None:
    if variable == "PEFT_EFFICIENCY_COUNTRY" and value == "ZZZ":
        pytest.importorskip("codecarbon")
    done = run(["--", "python", "-c", MARK], tmp_path, **{variable: value})
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"peft-efficiency run: {accepts}"), done.stderr
    assert lines[0].endswith(f"; fix or unset {variable}")
    assert not (tmp_path / "started").exists()


def test_good_variables_pass_and_an_option_replaces_a_bad_variable(tmp_path: Path) -> None:
    done = run(["--country", "svn", "--no-energy", "--", "python", "-c", MARK], tmp_path,
               PEFT_EFFICIENCY_COUNTRY="nowhere", PEFT_EFFICIENCY_ENERGY="maybe", PEFT_EFFICIENCY_TASK="imdb",
               PEFT_EFFICIENCY_LABELS="split=90_10,seed=1", PEFT_EFFICIENCY_DATA_DIR=str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert done.stderr == "" and (tmp_path / "started").read_text() == "yes"


def test_an_unknown_variable_is_named_and_the_command_runs(tmp_path: Path) -> None:
    done = run(["--", "python", "-c", MARK], tmp_path, PEFT_EFFICIENCY_COUNTY="SVN")
    assert done.returncode == 0
    assert done.stderr == ("peft-efficiency run: warning: PEFT_EFFICIENCY_COUNTY is not a variable peft-efficiency "
                           "reads (a typo?); ignored\n")
    assert (tmp_path / "started").exists()


def bash_status(command: str, cwd: Path) -> int:
    return subprocess.run(["bash", "-c", f"exec {command}"], cwd=cwd, capture_output=True, timeout=60).returncode


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash gives the reference statuses")
def test_a_command_that_cannot_start_gives_one_line_and_the_shells_status(tmp_path: Path) -> None:
    no_shebang = tmp_path / "train_noshebang"
    no_shebang.write_text("print('hello')\n")
    no_shebang.chmod(0o755)
    not_executable = tmp_path / "train.py"
    not_executable.write_text("#!/usr/bin/env python\nprint('hello')\n")
    not_executable.chmod(0o644)
    (tmp_path / "folder").mkdir()
    foreign = tmp_path / "foreign"
    foreign.write_bytes(b"\x7fELF" + bytes(range(256)) * 4)  # no valid executable for this system
    foreign.chmod(0o755)
    done = run(["--", "./train_noshebang"], tmp_path)  # bash would run it as a shell script; no shell is used here
    assert done.returncode == 126 and done.stderr == (
        "peft-efficiency run: cannot execute ./train_noshebang: Exec format error (a script without a #! first line); "
        "add one such as #!/usr/bin/env python, or run it through its interpreter, e.g. -- python ./train_noshebang\n")
    cases = {  # command -> (status, the start of the message)
        "./foreign": (126, "cannot execute ./foreign: Exec format error (a binary built for another system)"),
        "./train.py": (126, "cannot execute ./train.py: permission denied (not executable); make it executable (chmod +x"),
        "./folder": (126, "cannot execute ./folder: it is a folder"),
        "./missing.py": (127, "./missing.py: no such file"),
        "no-such-command-zq": (127, "command not found: no-such-command-zq"),
    }
    for command, (status, message) in cases.items():
        done = run(["--", command], tmp_path)
        assert done.returncode == status == bash_status(command, tmp_path), (command, done.stderr)
        lines = done.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"peft-efficiency run: {message}"), (command, done.stderr)
