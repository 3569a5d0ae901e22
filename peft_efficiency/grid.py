"""`peft-efficiency grid recipes/NAME`: run a recipe's method grid, one process per method, then compare.

Each method runs `recipes/NAME/train.py --method METHOD --output-dir OUT/NAME/METHOD` in its own process (plain
python, or `accelerate launch`), a failed method is reported and the grid goes on, and the comparison table of
every run that wrote a report is printed at the end.

Example:
    peft-efficiency grid recipes/imdb_roberta --methods full,lora --smoke --data-dir ../shared/data --output-dir runs/
    peft-efficiency grid recipes/imdb_roberta --output-dir runs/ -- --epochs 1 --max-length 128   # after --: to train.py
    peft-efficiency grid recipes/imdb_tinybert --launcher accelerate --num-processes 2 --cpu --smoke   # 2 CPU processes
    peft-efficiency grid recipes/imdb_roberta --methods full,lora --seeds 1,2,3   # each method 3 times

With `--repeats N` (seeds 1..N) or `--seeds 1,2,3` each method runs once per seed, in OUT/NAME/METHOD/seed-S, with
`--seed S` given to train.py and the run labelled `seed=S` (via $PEFT_EFFICIENCY_LABELS), so that `compare` merges
the repeats of one method into mean and interval.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from peft_efficiency.report import REPORT_FILENAME

LABELS_ENV = "PEFT_EFFICIENCY_LABELS"  # read by EfficiencyCallback (key=value,key=value)


@dataclass
class MethodRun:
    """Outcome of one method's process."""

    method: str
    output_dir: Path
    returncode: int
    seconds: float
    error: str = ""
    seed: int | None = None

    @property
    def name(self) -> str:
        return self.method if self.seed is None else f"{self.method} seed {self.seed}"

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and (self.output_dir / REPORT_FILENAME).is_file()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="peft-efficiency grid", description=__doc__.split("\n\n")[0])
    parser.add_argument("recipe", help="recipe folder, e.g. recipes/imdb_roberta")
    parser.add_argument("--methods", default=None, help="comma-separated methods (default: the recipe's configs/ grid)")
    parser.add_argument("--smoke", action="store_true", help="smoke mode: tiny models, a few CPU steps")
    parser.add_argument("--output-dir", default="runs", help="runs go to OUTPUT_DIR/RECIPE/METHOD (default runs)")
    parser.add_argument("--data-dir", default=None, help="passed to train.py")
    parser.add_argument("--launcher", choices=("python", "accelerate"), default="python",
                        help="run each method with plain python (default) or `accelerate launch`")
    parser.add_argument("--num-processes", type=int, default=1,
                        help="processes per method under accelerate: one per GPU, or CPU processes with --cpu")
    parser.add_argument("--cpu", action="store_true",
                        help="train on CPU even where GPUs are visible (several CPU processes talk over gloo)")
    parser.add_argument("--main-process-port", type=int, default=None, help="accelerate's rendezvous port (default 29500)")
    repeats = parser.add_mutually_exclusive_group()
    repeats.add_argument("--repeats", type=positive_int, default=None, metavar="N",
                         help="run each method N times, with seeds 1..N (each in METHOD/seed-S), for mean and interval")
    repeats.add_argument("--seeds", type=seed_list, default=None, metavar="S,S,...",
                         help="run each method once per seed given, e.g. 1,2,3 (each in METHOD/seed-S)")
    parser.epilog = "Arguments after -- go to every train.py (e.g. -- --epochs 1 --model-path DIR)."
    return parser


def positive_int(text: str) -> int:
    """argparse type: an integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1, e.g. --repeats 3")
    return value


def seed_list(text: str) -> list[int]:
    """argparse type: comma-separated distinct integer seeds."""
    try:
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of whole numbers, e.g. --seeds 1,2,3") from None
    repeated = sorted({s for s in seeds if seeds.count(s) > 1})
    if repeated:
        raise argparse.ArgumentTypeError(f"seed {repeated[0]} is given twice in {text!r}: each repeat needs its own seed")
    if not seeds:
        raise argparse.ArgumentTypeError("--seeds is empty; give seeds such as 1,2,3")
    return seeds


def seeds_of(args: argparse.Namespace) -> list[int | None]:
    """The seeds to run each method with: [None] (the recipe's own seed, one run) without --repeats/--seeds."""
    if args.seeds:
        return list(args.seeds)
    return list(range(1, args.repeats + 1)) if args.repeats else [None]


def method_grid(recipe_dir: Path, methods: str | None) -> list[str]:
    """The methods to run: --methods, else the recipe's configs/*.json grid."""
    from peft_efficiency.recipe_kit.config import grid_entries

    if methods:
        return [m.strip() for m in methods.split(",") if m.strip()]
    return grid_entries(recipe_dir)


def accelerate_command(num_processes: int, cpu: bool, port: int | None = None) -> list[str]:
    """`accelerate launch` options for one machine (no accelerate config file needed).

    Several processes need `--multi_gpu` even on CPU: accelerate's `--cpu` always starts a single process, while
    `--multi_gpu` starts torchrun-style workers, which the Trainer joins over gloo when told to use the CPU (with
    `--cpu` the grid hides the GPUs and sets ACCELERATE_USE_CPU, see `process_env`; the recipes also set
    `use_cpu` themselves when several processes see no GPU).

    Example:
        accelerate_command(2, cpu=True)   # [..., '--multi_gpu', '--num_processes', '2', ...]
    """
    launch = [sys.executable, "-m", "accelerate.commands.launch"]
    if num_processes > 1:
        launch += ["--multi_gpu", "--num_processes", str(num_processes)]
    else:
        launch += ["--num_processes", "1"] + (["--cpu"] if cpu else [])
    launch += ["--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no"]
    return launch + (["--main_process_port", str(port)] if port else [])


def process_env(args: argparse.Namespace, seed: int | None = None) -> dict[str, str] | None:
    """Environment of a method's process: several CPU processes see no GPU, are told to join over gloo
    (ACCELERATE_USE_CPU, which the Trainer reads) and get one torch thread each (unless set); a repeat's run is
    labelled `seed=S` (added to $PEFT_EFFICIENCY_LABELS, replacing a seed given there)."""
    multi_cpu = args.launcher == "accelerate" and args.cpu and args.num_processes > 1
    if not multi_cpu and seed is None:
        return None
    env = dict(os.environ)
    if multi_cpu:
        env.update({"CUDA_VISIBLE_DEVICES": "", "ACCELERATE_USE_CPU": "true"})
        env.setdefault("OMP_NUM_THREADS", "1")
    if seed is not None:
        kept = [item for item in env.get(LABELS_ENV, "").split(",")
                if item.strip() and item.partition("=")[0].strip() != "seed"]
        env[LABELS_ENV] = ",".join([*kept, f"seed={seed}"])
    return env


def run_folder(base: Path, method: str, seed: int | None) -> Path:
    """Where one run writes: `base/METHOD`, a repeat in `base/METHOD/seed-S`."""
    return base / method if seed is None else base / method / f"seed-{seed}"


def command_for(args: argparse.Namespace, script: Path, method: str, out: Path, seed: int | None = None) -> list[str]:
    """The command line of one method's process (with `--seed S` for a repeat)."""
    if args.launcher == "accelerate":
        launch = accelerate_command(args.num_processes, args.cpu, args.main_process_port)
    else:
        launch = [sys.executable]
    cmd = launch + [str(script), "--method", method, "--output-dir", str(out)]
    cmd += ["--smoke"] if args.smoke else []
    cmd += ["--data-dir", args.data_dir] if args.data_dir else []
    cmd += ["--seed", str(seed)] if seed is not None else []
    return cmd + list(args.train_args)


def run_method(cmd: list[str], method: str, out: Path, env: dict[str, str] | None = None,
               seed: int | None = None) -> MethodRun:
    """Run one method's process; its stdout streams through, its stderr is kept in OUT/stderr.log."""
    out.mkdir(parents=True, exist_ok=True)
    print(f"\n=== {method if seed is None else f'{method} seed {seed}'}: {' '.join(cmd)}", flush=True)
    start = time.perf_counter()
    with open(out / "stderr.log", "w", encoding="utf-8") as err:
        proc = subprocess.run(cmd, stdout=None, stderr=err, check=False, env=env)
    seconds = time.perf_counter() - start
    lines = [line for line in (out / "stderr.log").read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    error = (errors or lines or [""])[-1] if proc.returncode else ""
    return MethodRun(method, out, proc.returncode, seconds, error, seed)


def print_summary(runs: list[MethodRun]) -> None:
    print("\n=== grid summary", flush=True)
    for run in runs:
        status = "ok" if run.ok else f"FAILED (exit {run.returncode})"
        print(f"  {run.name:<16} {status:<18} {run.seconds:8.1f} s  {run.output_dir}")
        if not run.ok:
            print(f"    {run.error or 'no run report written'}  (full log: {run.output_dir / 'stderr.log'})")


def main(argv: list[str] | None = None) -> int:
    """Run the grid; exit 0 when every method succeeded, 1 when some failed, 2 on bad arguments."""
    argv = list(sys.argv[1:] if argv is None else argv)
    split = argv.index("--") if "--" in argv else len(argv)
    args = build_parser().parse_args(argv[:split])
    args.train_args = argv[split + 1:]
    recipe_dir = Path(args.recipe)
    script = recipe_dir / "train.py"
    if not script.is_file():
        print(f"peft-efficiency grid: {script} does not exist; give a recipe folder such as recipes/imdb_roberta", file=sys.stderr)
        return 2
    methods = method_grid(recipe_dir, args.methods)
    if not methods:
        print(f"peft-efficiency grid: no methods to run for {recipe_dir} (empty --methods and no configs/*.json)", file=sys.stderr)
        return 2
    if any(a == "--seed" or a.startswith("--seed=") for a in args.train_args) and (args.repeats or args.seeds):
        print("peft-efficiency grid: --seed after -- conflicts with --repeats/--seeds, which set each run's seed; "
              "drop one of them", file=sys.stderr)
        return 2
    base = Path(args.output_dir) / recipe_dir.resolve().name
    runs = [run_method(command_for(args, script, m, folder, seed), m, folder, process_env(args, seed), seed)
            for m in methods for seed in seeds_of(args) for folder in [run_folder(base, m, seed)]]
    print_summary(runs)
    reported = [str(r.output_dir) for r in runs if (r.output_dir / REPORT_FILENAME).is_file()]
    if reported:
        from peft_efficiency.compare.cli import main as compare_main

        print(flush=True)
        compare_main(reported)
    return 0 if all(r.ok for r in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
