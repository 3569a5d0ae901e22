"""`python -m peft_efficiency.demo --output-dir demo_out [--smoke]`: the whole product, offline, in one command.

Prints a timestamped line per step, then the comparison table, and where the table files, plots and HTML report
are. Exit status: 0 when every run succeeded, 1 when some run failed (the table shows the others), 2 on a
set-up problem (bad arguments, missing data or model package).

Example:
    python -m peft_efficiency.demo --output-dir demo_out            # real models, a few minutes on 2 CPU cores
    python -m peft_efficiency.demo --output-dir /tmp/demo --smoke   # tiny models, seconds
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from peft_efficiency.demo.progress import Progress
from peft_efficiency.demo.settings import IMDB_ENTRIES, IMDB_REPEATED, IMDB_SEEDS, DemoSettings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m peft_efficiency.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--output-dir", default="demo_out", help="where runs, table, plots and report go (default demo_out)")
    parser.add_argument("--data-dir", default=None, help="data folder laid out like ../shared/data (default $PEFT_EFFICIENCY_DATA_DIR)")
    parser.add_argument("--smoke", action="store_true", help="tiny in-process models and a handful of examples (seconds)")
    parser.add_argument("--imdb-methods", default=",".join(IMDB_ENTRIES),
                        help="imdb_roberta grid entries to run, comma-separated ('' skips IMDb)")
    parser.add_argument("--imdb-repeat-methods", default=",".join(IMDB_REPEATED),
                        help="IMDb entries run once per --imdb-seeds seed, for means and intervals ('' runs each once)")
    parser.add_argument("--imdb-seeds", default=",".join(map(str, IMDB_SEEDS)),
                        help="seeds of the repeated IMDb entries, comma-separated (default 1,2)")
    parser.add_argument("--imdb-steps", type=int, default=None, help="training steps per IMDb method")
    parser.add_argument("--sft-steps", type=int, default=None, help="LoRA SFT steps of SmolLM2")
    parser.add_argument("--bibleqa-questions", type=int, default=None, help="BibleQA questions scored (first N)")
    parser.add_argument("--skip-bibleqa", action="store_true", help="run the IMDb stage only")
    return parser


def settings_from(args: argparse.Namespace) -> DemoSettings:
    entries = tuple(m.strip() for m in args.imdb_methods.split(",") if m.strip())
    try:
        seeds = tuple(int(s) for s in args.imdb_seeds.split(",") if s.strip())
    except ValueError:
        raise ValueError(f"--imdb-seeds {args.imdb_seeds!r}: expected whole numbers separated by commas, e.g. 1,2") from None
    repeated = tuple(m.strip() for m in args.imdb_repeat_methods.split(",") if m.strip() and m.strip() in entries)
    overrides = {"imdb_entries": entries, "imdb_repeated": repeated, "imdb_seeds": seeds}
    for key in ("imdb_steps", "sft_steps", "bibleqa_questions"):
        if getattr(args, key) is not None:
            overrides[key] = getattr(args, key)
    return DemoSettings.smoke_preset(**overrides) if args.smoke else DemoSettings.real(**overrides)


def compare(run_dirs: list[Path], output_dir: Path) -> int:
    """The comparison of every run: printed, and written with plots and HTML into `<output>/report`."""
    from peft_efficiency.compare.cli import main as compare_main

    return compare_main([*map(str, run_dirs), "--metric", "eval_f1", "--metric", "bibleqa/strict_em",
                         "--out-dir", str(output_dir / "report")])


def memory_notes(run_dirs: list[Path]) -> list[str]:
    """The closing note on memory: each run's training state and what it saves against full fine-tuning."""
    from peft_efficiency.compare.load import load_runs
    from peft_efficiency.compare.relative import memory_saved
    from peft_efficiency.compare.render import format_bytes
    from peft_efficiency.compare.table import build_tables

    rows, _ = load_runs(run_dirs)
    notes = []
    for table in build_tables(rows):
        if table.baseline is None or table.baseline.training_state_bytes is None:
            continue
        parts = []
        for row in table.rows:
            saved, basis = memory_saved(row, table.baseline)
            if row is table.baseline or row.training_state_bytes is None or saved is None:
                continue
            parts.append(f"{row.label} {format_bytes(row.training_state_bytes)} ({saved:+.0f}% saved, from the {basis})")
        if parts:
            peaks = ", ".join(f"{r.label} {format_bytes(r.peak_memory_bytes)}" for r in table.rows if r.peak_memory_bytes)
            notes.append(f"\n[demo] {table.task}: training state (weights + gradients + optimizer state) of full fine-tuning "
                         f"{format_bytes(table.baseline.training_state_bytes)}; {'; '.join(parts)}. The process peaks "
                         f"({peaks}) are mostly the Python/torch runtime, so 'memory saved vs full' uses the training state.")
    return notes


def main(argv: list[str] | None = None) -> int:
    from peft_efficiency.data import DataFileError, DataUnavailableError

    """Run the demo; see the module docstring for the exit status."""
    args = build_parser().parse_args(argv)
    for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):  # the demo is offline; the recipe processes inherit this
        os.environ.setdefault(name, "1")
    try:
        settings = settings_from(args)
    except ValueError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 2
    output_dir = Path(args.output_dir).resolve()
    output_dir.mkdir(parents=True, exist_ok=True)
    steps = len(settings.imdb_runs()) + (0 if args.skip_bibleqa else 4) + 1
    progress = Progress(total=steps)
    progress.note(f"peft-efficiency demo ({'smoke, tiny models' if settings.smoke else 'real models, offline'}) -> {output_dir}")
    run_dirs: list[Path] = []
    failed = False
    try:
        if settings.imdb_entries:
            from peft_efficiency.demo.imdb_stage import run_imdb

            imdb_runs = run_imdb(settings, output_dir, args.data_dir, progress)
            failed |= len(imdb_runs) < len(settings.imdb_runs())
            run_dirs += imdb_runs
        if not args.skip_bibleqa:
            from peft_efficiency.demo.bibleqa_stage import run_bibleqa

            run_dirs += run_bibleqa(settings, output_dir, args.data_dir, progress)
    except (ImportError, FileNotFoundError, DataFileError, DataUnavailableError) as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 2
    progress.step("comparison table, plots and HTML report")
    code = compare(run_dirs, output_dir)
    report = output_dir / "report"
    if settings.imdb_entries:
        noise = 2 * 0.5 / settings.imdb_eval_size**0.5  # two standard errors of an accuracy near 0.5
        print(f"\n[demo] each IMDb method trained only {settings.imdb_steps} steps, at learning rates larger than the "
              f"recipe's (demo/settings.py); accuracy differences under about {noise:.2f} ({settings.imdb_eval_size} "
              "reviews) are noise. Rows of repeated runs show n, means and 95% intervals; ≈ marks a difference from "
              "full fine-tuning whose interval includes none. The recipe's full grid (recipes/imdb_roberta/README.md) "
              "gives the real comparison.")
    for line in memory_notes(run_dirs):
        print(line)
    print(f"\n[demo] finished in {progress.elapsed_seconds():.0f} s", flush=True)
    print(f"[demo] HTML report:  {report / 'report.html'}")
    print(f"[demo] plots:        {report / 'pareto-*.png'} (and .svg, -bars)")
    print(f"[demo] tables:       {report / 'comparison.md'}, .csv, .json, .txt")
    print(f"[demo] run reports:  {output_dir / 'runs'}/**/efficiency_report.json")
    return 1 if failed or code != 0 else 0
