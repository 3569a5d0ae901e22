"""The `peft-efficiency` command: a thin dispatcher to one module per sub-command.

Each sub-command module exposes `main(argv: list[str]) -> int` and parses its own arguments, so `eval` can
pass everything it does not know straight through to lm-eval.
"""

from __future__ import annotations

import importlib
import os
import signal
import sys

# name -> (module, one-line help). A sub-command module owns its arguments and its --help.
COMMANDS: dict[str, tuple[str, str]] = {
    "tasks-path": ("peft_efficiency.harness.cli", "print the folder of the bundled lm-eval tasks (for --include_path)"),
    "eval": ("peft_efficiency.harness.cli_eval", "run lm_eval with the bundled tasks on the include path"),
    "compare": ("peft_efficiency.compare.cli", "turn run reports into the comparison table, plots and HTML"),
    "grid": ("peft_efficiency.grid", "run a recipe's method grid, one process per method, then compare"),
    "run": ("peft_efficiency.zero_code.cli", "run any command with EfficiencyCallback in every Trainer it builds"),
    "env": ("peft_efficiency.env_report", "print versions, devices, energy access and data directory (for bug reports)"),
}


def _usage() -> str:
    width = max(len(name) for name in COMMANDS)
    lines = ["usage: peft-efficiency COMMAND [ARGS...]", "", "commands:"]
    lines += [f"  {name.ljust(width)}  {help_text}" for name, (_, help_text) in COMMANDS.items()]
    lines += ["", "Run `peft-efficiency COMMAND --help` for a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Dispatch to the sub-command named by the first argument."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0
    if argv[0] in ("-V", "--version"):
        from peft_efficiency import __version__

        print(__version__)
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"peft-efficiency: unknown command {name!r}; valid commands: {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    try:
        return int(module.main(rest) or 0)
    except BrokenPipeError:  # the reader went away (`peft-efficiency env | head`): stop quietly, as `cat` does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python's own flush at exit would fail too
        return 128 + signal.SIGPIPE


if __name__ == "__main__":
    raise SystemExit(main())
