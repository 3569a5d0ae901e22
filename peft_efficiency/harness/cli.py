"""`peft-efficiency tasks-path`: print the folder of the bundled lm-eval tasks.

Needed only where the start-up hook is off (`PEFT_EFFICIENCY_STARTUP=0`, `python -S`); otherwise `lm_eval` finds
the bundled tasks by itself. Example:
    lm_eval --model hf --model_args pretrained=gpt2 --tasks bibleqa --include_path "$(peft-efficiency tasks-path)"
"""

from __future__ import annotations

import argparse

from peft_efficiency.harness import tasks_path


def main(argv: list[str] | None = None) -> int:
    """Print the tasks folder (an absolute path) and return 0."""
    parser = argparse.ArgumentParser(
        prog="peft-efficiency tasks-path",
        description="Print the folder of the bundled lm-eval tasks, for lm_eval --include_path.",
    )
    parser.parse_args(argv or [])
    print(tasks_path())
    return 0
