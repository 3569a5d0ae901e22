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

from peft_efficiency.availability import require


def main(argv: list[str] | None = None) -> int:
    """Run lm-eval's command line with the bundled tasks on every TaskManager; return its exit status."""
    lm_argv = list(sys.argv[1:] if argv is None else argv)
    try:
        require("lm_eval", "peft-efficiency eval")
    except ImportError as error:
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
