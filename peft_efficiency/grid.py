"""`peft-efficiency grid recipes/NAME`: run a recipe's method grid, one process per method, then compare.

Each method runs `recipes/NAME/train.py --method METHOD --output-dir OUT/NAME/METHOD` in its own process (plain
python, or `accelerate launch`), a failed method is reported and the grid goes on, and the comparison table of
every run that wrote a report is printed at the end.

Example:
    peft-efficiency grid recipes/imdb_roberta --methods full,lora --smoke --data-dir ../shared/data --output-dir runs/
    peft-efficiency grid recipes/imdb_roberta --output-dir runs/ -- --epochs 1 --max-length 128   # after --: to train.py
    peft-efficiency grid recipes/imdb_tinybert --launcher accelerate --num-processes 2 --cpu --smoke   # 2 CPU processes
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


@dataclass
class MethodRun:
    """Outcome of one method's process."""

    method: str
    output_dir: Path
    returncode: int
    seconds: float
    error: str = ""

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
    parser.epilog = "Arguments after -- go to every train.py (e.g. -- --epochs 1 --model-path DIR)."
    return parser


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


def process_env(args: argparse.Namespace) -> dict[str, str] | None:
    """Environment of a method's process: several CPU processes see no GPU, are told to join over gloo
    (ACCELERATE_USE_CPU, which the Trainer reads) and get one torch thread each (unless set)."""
    if not (args.launcher == "accelerate" and args.cpu and args.num_processes > 1):
        return None
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "ACCELERATE_USE_CPU": "true"}
    env.setdefault("OMP_NUM_THREADS", "1")
    return env


def command_for(args: argparse.Namespace, script: Path, method: str, out: Path) -> list[str]:
    """The command line of one method's process."""
    if args.launcher == "accelerate":
        launch = accelerate_command(args.num_processes, args.cpu, args.main_process_port)
    else:
        launch = [sys.executable]
    cmd = launch + [str(script), "--method", method, "--output-dir", str(out)]
    cmd += ["--smoke"] if args.smoke else []
    cmd += ["--data-dir", args.data_dir] if args.data_dir else []
    return cmd + list(args.train_args)


def run_method(cmd: list[str], method: str, out: Path, env: dict[str, str] | None = None) -> MethodRun:
    """Run one method's process; its stdout streams through, its stderr is kept in OUT/stderr.log."""
    out.mkdir(parents=True, exist_ok=True)
    print(f"\n=== {method}: {' '.join(cmd)}", flush=True)
    start = time.perf_counter()
    with open(out / "stderr.log", "w", encoding="utf-8") as err:
        proc = subprocess.run(cmd, stdout=None, stderr=err, check=False, env=env)
    seconds = time.perf_counter() - start
    lines = [line for line in (out / "stderr.log").read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    error = (errors or lines or [""])[-1] if proc.returncode else ""
    return MethodRun(method, out, proc.returncode, seconds, error)


def print_summary(runs: list[MethodRun]) -> None:
    print("\n=== grid summary", flush=True)
    for run in runs:
        status = "ok" if run.ok else f"FAILED (exit {run.returncode})"
        print(f"  {run.method:<16} {status:<18} {run.seconds:8.1f} s  {run.output_dir}")
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
    base = Path(args.output_dir) / recipe_dir.resolve().name
    runs = [run_method(command_for(args, script, m, base / m), m, base / m, process_env(args)) for m in methods]
    print_summary(runs)
    reported = [str(r.output_dir) for r in runs if (r.output_dir / REPORT_FILENAME).is_file()]
    if reported:
        from peft_efficiency.compare.cli import main as compare_main

        print(flush=True)
        compare_main(reported)
    return 0 if all(r.ok for r in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
