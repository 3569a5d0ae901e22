"""The offline demo (`make demo`, i.e. `python -m peft_efficiency.demo --output-dir demo_out`).

It composes the project's own pieces and re-implements none of them:

1. IMDb with the real all-MiniLM-L6-v2 encoder: the `imdb_roberta` recipe (seed 004) run for full fine-tuning and
   the recipe's tuned LoRA and IA3 entries, one process per run (`peft_efficiency.grid`), a short
   training each; full fine-tuning and LoRA run twice (seeds 1 and 2), so their rows are means with 95% intervals;
   `EfficiencyCallback` writes every run report.
2. BibleQA with SmolLM2-135M-Instruct: LoRA (method registry) trained briefly with trl's `SFTTrainer` on ASV verses
   (`peft_efficiency.data`), then the base model and the adapter scored few-shot by lm-eval with the bundled
   `bibleqa` task.
3. `peft-efficiency compare` over all runs: the table, the plots and one HTML report.

`--smoke` runs the same path on tiny models built in-process (seconds); `tests/test_demo.py` runs it.
"""
