"""`peft-efficiency eval ...`: run lm-eval with the bundled tasks on its include path.

Every argument goes to lm-eval unchanged (`run`, `ls` and `validate` sub-commands included; no sub-command
means `run`, as with `lm_eval` itself); only `--include_path <bundled tasks>` is added.

Example:
    peft-efficiency eval --model hf --model_args pretrained=gpt2,peft=runs/lora --tasks bibleqa --batch_size 16
    peft-efficiency eval ls tasks
"""

from __future__ import annotations

import sys

from peft_efficiency.availability import require
from peft_efficiency.harness import tasks_path

_HELP_ONLY = ([], ["-h"], ["--help"])


def build_argv(argv: list[str]) -> list[str]:
    """lm-eval's argument list: `argv` plus `--include_path` for the bundled tasks.

    Raises:
        ValueError: when `argv` already names an include path (lm-eval takes only one).
    """
    argv = list(argv)
    if argv in _HELP_ONLY:
        return argv
    if any(arg == "--include_path" or arg.startswith("--include_path=") for arg in argv):
        raise ValueError(
            "peft-efficiency eval adds --include_path itself and lm-eval accepts only one; drop your "
            '--include_path, or run `lm_eval ... --include_path DIR` with a DIR that holds both your tasks and '
            'a copy of "$(peft-efficiency tasks-path)"'
        )
    return [*argv, "--include_path", str(tasks_path())]


def main(argv: list[str] | None = None) -> int:
    """Run lm-eval's own command line with the include path added; return its exit status."""
    try:
        lm_argv = build_argv(sys.argv[1:] if argv is None else argv)
    except ValueError as error:
        print(f"peft-efficiency eval: {error}", file=sys.stderr)
        return 2
    require("lm_eval", "peft-efficiency eval")
    from lm_eval.__main__ import cli_evaluate

    saved_argv = sys.argv
    sys.argv = ["lm-eval", *lm_argv]
    try:
        cli_evaluate()
    except SystemExit as exit_:
        code = exit_.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    finally:
        sys.argv = saved_argv
    return 0
