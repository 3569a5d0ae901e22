"""`peft-efficiency run [OPTIONS] -- COMMAND...`: run any command with the measurement attached, without editing it.

Every Python process the command starts (a script, `accelerate launch` and its workers, `torchrun`, `trl sft`,
`lm_eval`...) runs the start-up hook: each Trainer / SFTTrainer it builds gets one `EfficiencyCallback()` (unless it
has a peft-efficiency callback already) and lm-eval finds the bundled tasks. The options only set PEFT_EFFICIENCY_*
environment variables for the command, which the callback reads; set them yourself to the same effect.

Before the command starts, every PEFT_EFFICIENCY_* variable already set is checked with the callback's own checks
(`peft_efficiency.callbacks.options`), so a bad value stops here in one line naming the variable, not after the
model has loaded. A command that cannot be started is reported in one line, with the status a shell gives
(127: not found; 126: found but cannot be executed, e.g. not executable, or a script without a #! line).

Example:
    peft-efficiency run --task imdb --country SVN -- accelerate launch train.py --output_dir runs/lora
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

from peft_efficiency.zero_code import ATTACH_VARIABLE, STARTUP_VARIABLE
from peft_efficiency.zero_code.environment import check_country_iso_code, environment_problems, unknown_variables
from peft_efficiency.zero_code.launch import start_failure

BOOTSTRAP_DIR = Path(__file__).resolve().parent / "bootstrap"
# option -> the environment variable EfficiencyCallback() reads
OPTION_VARIABLES = {
    "task": "PEFT_EFFICIENCY_TASK",
    "method": "PEFT_EFFICIENCY_METHOD",
    "model_name": "PEFT_EFFICIENCY_MODEL_NAME",
    "country": "PEFT_EFFICIENCY_COUNTRY",
}
ENERGY_VARIABLE = "PEFT_EFFICIENCY_ENERGY"
LABELS_VARIABLE = "PEFT_EFFICIENCY_LABELS"


def _label(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip() or "," in text:
        raise argparse.ArgumentTypeError(f"invalid label {text!r}: expected KEY=VALUE, without commas")
    return key.strip(), value.strip()


def _country(text: str) -> str:
    if not re.fullmatch(r"[A-Za-z]{3}", text):
        raise argparse.ArgumentTypeError(f"invalid country {text!r}: expected a 3-letter ISO code such as USA or SVN")
    try:  # and one codecarbon knows, as the callback will check
        return check_country_iso_code(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"invalid country {text!r}: {error}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="peft-efficiency run",
        usage="peft-efficiency run [OPTIONS] -- COMMAND [ARGS...]",
        description="Run COMMAND with EfficiencyCallback attached to every Trainer it builds (in every Python process "
                    "it starts) and the bundled lm-eval tasks visible to lm_eval. Each Trainer writes "
                    "<output_dir>/efficiency_report.json.",
        epilog="Example: peft-efficiency run --task imdb -- accelerate launch train.py --output_dir runs/lora",
    )
    parser.add_argument("--task", help="task label of the runs ($PEFT_EFFICIENCY_TASK)")
    parser.add_argument("--method",
                        help="method label, e.g. lora (default: inferred from the model; $PEFT_EFFICIENCY_METHOD)")
    parser.add_argument("--model-name",
                        help="model label (default: the model's name_or_path; $PEFT_EFFICIENCY_MODEL_NAME)")
    parser.add_argument("--country", type=_country,
                        help="ISO code for the carbon intensity, e.g. SVN ($PEFT_EFFICIENCY_COUNTRY)")
    parser.add_argument("--no-energy", action="store_true",
                        help="do not measure energy and carbon ($PEFT_EFFICIENCY_ENERGY=0)")
    parser.add_argument("--label", type=_label, action="append", default=[], metavar="KEY=VALUE",
                        help="an extra label of the runs; repeat for more ($PEFT_EFFICIENCY_LABELS=k=v,k=v)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command to run, after --")
    return parser


def command_env(options: argparse.Namespace, environ: dict[str, str] | None = None) -> dict[str, str]:
    """The command's environment: the hook on (and on PYTHONPATH), attaching requested, the options as variables."""
    env = dict(os.environ if environ is None else environ)
    env[ATTACH_VARIABLE] = "1"
    env[STARTUP_VARIABLE] = "1"
    env["PYTHONPATH"] = os.pathsep.join([str(BOOTSTRAP_DIR), *filter(None, [env.get("PYTHONPATH")])])
    for option, variable in OPTION_VARIABLES.items():
        if getattr(options, option):
            env[variable] = getattr(options, option)
    if options.no_energy:
        env[ENERGY_VARIABLE] = "0"
    if options.label:
        labels = dict(_label(item) for item in env.get(LABELS_VARIABLE, "").split(",") if item.strip())
        labels.update(options.label)
        env[LABELS_VARIABLE] = ",".join(f"{key}={value}" for key, value in labels.items())
    return env


def main(argv: list[str] | None = None) -> int:
    """Run the command with the hook attached; return its exit status (on POSIX the command replaces this process)."""
    parser = build_parser()
    try:
        options = parser.parse_args(sys.argv[1:] if argv is None else argv)
    except SystemExit as exit_:  # argparse has printed the message
        return int(exit_.code or 0)
    command = options.command[1:] if options.command[:1] == ["--"] else options.command
    if not command:
        print("peft-efficiency run: no command given; usage: peft-efficiency run [OPTIONS] -- COMMAND [ARGS...]",
              file=sys.stderr)
        return 2
    set_by_options = {variable for option, variable in OPTION_VARIABLES.items() if getattr(options, option)}
    set_by_options |= {ENERGY_VARIABLE} if options.no_energy else set()
    for name in unknown_variables(os.environ):
        print(f"peft-efficiency run: warning: {name} is not a variable peft-efficiency reads (a typo?); ignored",
              file=sys.stderr)
    problems = environment_problems(skip=set_by_options)
    for problem in problems:
        print(f"peft-efficiency run: {problem}", file=sys.stderr)
    if problems:
        return 2
    env = command_env(options)
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        if os.name == "posix":
            os.execvpe(command[0], command, env)
        return subprocess.call(command, env=env)
    except OSError as error:
        status, message = start_failure(command[0], error)
        print(f"peft-efficiency run: {message}", file=sys.stderr)
        return status
