"""The comparison of runs: report files checked (`read`) -> rows (`load`), group identity and run labels
(`identity`), tables grouped by task, model and setting (`table`) with columns relative to full fine-tuning
(`relative`), repeated runs merged into mean and 95% interval (`repeats`, `intervals`, `differences`), text output (`render`), Pareto frontier (`pareto`), matplotlib figures (`plots`), one
self-contained HTML page (`html`), the files written (`outputs`) and the `peft-efficiency compare` command (`cli`).

Example:
    from peft_efficiency.compare import build_tables, load_runs, render
    rows, problems = load_runs(["runs/full", "runs/lora"])
    print(render(build_tables(rows), "markdown"))
"""

from peft_efficiency.compare.load import Problem, RunRow, load_runs
from peft_efficiency.compare.pareto import pareto_front
from peft_efficiency.compare.render import render
from peft_efficiency.compare.table import GroupTable, build_tables

__all__ = ["GroupTable", "Problem", "RunRow", "build_tables", "load_runs", "pareto_front", "render"]
