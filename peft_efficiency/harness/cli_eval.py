"""`peft-efficiency eval ...`: run lm-eval's own command line with the bundled tasks visible.

Every argument goes to lm-eval unchanged (`run`, `ls` and `validate` sub-commands included; no sub-command means
`run`, as with `lm_eval` itself), your own `--include_path` too. The bundled tasks are added the way the start-up
hook adds them to a plain `lm_eval` (see `peft_efficiency.zero_code.lm_eval_hook`): before your folder, so your task
wins a name clash; here they are added even where the start-up hook is turned off (PEFT_EFFICIENCY_STARTUP=0).

Example:
    peft-efficiency eval --model hf --model_args pretrained=gpt2,peft=runs/lora --tasks bibleqa --batch_size 16
    peft-efficiency eval ls tasks --include_path my_tasks/
"""

from __future__ import annotations

import sys
from pathlib import Path

from peft_efficiency.availability import require
from peft_efficiency.model_names import looks_like_local_path
from peft_efficiency.versions import check_supported

# model_args keys naming a model folder, and the file such a folder must hold.
FOLDER_ARGUMENTS = {"pretrained": "config.json", "peft": "adapter_config.json"}
POSITIVE_OPTIONS = ("--limit", "--batch_size", "--num_fewshot_max")


def _option_values(argv: list[str], name: str) -> list[str]:
    values = [argv[i + 1] for i, arg in enumerate(argv[:-1]) if arg == name]
    return values + [arg.split("=", 1)[1] for arg in argv if arg.startswith(name + "=")]


def argument_problem(argv: list[str]) -> str | None:
    """The first user error lm-eval would meet late and obscurely (a missing model folder, a size <= 0), else None."""
    for model_args in _option_values(argv, "--model_args"):
        for item in model_args.split(","):
            key, _, value = item.partition("=")
            needed = FOLDER_ARGUMENTS.get(key.strip())
            if needed is None or not looks_like_local_path(value):
                continue
            folder = Path(value).expanduser()
            if not folder.is_dir():
                return f"--model_args {key}={value}: no such folder (give a local model folder, or a Hub id such as gpt2)"
            if not (folder / needed).is_file():
                return f"--model_args {key}={value}: the folder holds no {needed}, so it is not a saved {'model' if key == 'pretrained' else 'peft adapter'}"
    for option in POSITIVE_OPTIONS:
        for value in _option_values(argv, option):
            try:
                ok = float(value) > 0
            except ValueError:
                ok = value.startswith("auto")  # --batch_size auto / auto:N
            if not ok:
                return f"{option} {value}: must be a number > 0"
    return None


def main(argv: list[str] | None = None) -> int:
    """Run lm-eval's command line with the bundled tasks on every TaskManager; return its exit status."""
    lm_argv = list(sys.argv[1:] if argv is None else argv)
    problem = argument_problem(lm_argv)
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    try:
        require("lm_eval", "peft-efficiency eval")
        check_supported("lm-eval")
    except ImportError as error:  # missing, or outside the supported range: one line naming the fix
        print(f"peft-efficiency eval: {error}", file=sys.stderr)
        return 2
    import lm_eval.tasks
    from lm_eval.__main__ import cli_evaluate

    from peft_efficiency.zero_code.lm_eval_hook import patch_task_manager

    patch_task_manager(lm_eval.tasks)  # a no-op where the start-up hook has done it already
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
