"""No code change: the measurement attached to commands you do not edit (`peft-efficiency run -- COMMAND...`,
`--report_to peft_efficiency`, `lm_eval --tasks bibleqa` without `--include_path`).

The interpreter start-up hook is the top-level module `peft_efficiency_startup` (tiny, import-free); what it does
once transformers or lm-eval is imported lives here: `transformers_hook`, `lm_eval_hook`. `cli` is `peft-efficiency
run`, `bootstrap/` the sitecustomize that `run` puts on PYTHONPATH.
"""

from __future__ import annotations

# Set by `peft-efficiency run` (and settable by hand): every Trainer gets one EfficiencyCallback.
ATTACH_VARIABLE = "PEFT_EFFICIENCY_ATTACH"
# "0" turns the start-up hook off altogether (same name as peft_efficiency_startup.OFF_VARIABLE).
STARTUP_VARIABLE = "PEFT_EFFICIENCY_STARTUP"
# The name transformers' `report_to` accepts once the hook is installed.
REPORT_TO_NAME = "peft_efficiency"
