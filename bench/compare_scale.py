"""`peft-efficiency compare` at scale: 1,000 synthetic but schema-valid run reports, compared with plots and HTML
in a child process; prints its wall seconds, its peak RSS (the child's `ru_maxrss`, from `os.wait4`), the size of
what it wrote (the HTML page, the largest figure in pixels), and how long the page takes to load in headless Chromium
(until its script has drawn every group and set `data-ready`; Chromium driven as in tests/browser_helpers.py, skipped
when Debian's chromium is absent).

The reports: most runs share one task, model and setting (one group of ~990 runs, ten methods, each with its own
run name; `--groups N` spreads them over N tasks), a group of 10 runs, and one run whose label is 10,000 characters
long (a title and file name that must be shortened). Figures are drawn from a seeded generator, so every run of the bench compares the same reports.

    python bench/compare_scale.py                 # 1,000 reports
    python bench/compare_scale.py --groups 20     # the same runs spread over 20 tasks (each group is drawn)
    python bench/compare_scale.py --runs 200 --keep /tmp/scale   # keep the reports and outputs
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))  # browser_helpers: the DevTools-protocol driver the HTML tests use

from peft_efficiency.report import REPORT_FILENAME, REPORT_SCHEMA_VERSION  # noqa: E402

METHODS = ["full", "lora", "ia3", "bitfit", "prompt", "loha", "prefix", "ptuning", "qlora", "base"]
TOTAL_PARAMS = 22_713_602
LONG_LABEL_CHARACTERS = 10_000


def synthetic_report(rng: random.Random, index: int, task: str, labels: dict[str, str]) -> dict[str, Any]:
    """One complete report: the sections every writer fills, with plausible figures."""
    method = METHODS[index % len(METHODS)]
    trainable = TOTAL_PARAMS if method == "full" else (0 if method == "base" else rng.randint(10_000, 2_000_000))
    train_seconds = None if method == "base" else rng.uniform(50, 2000)
    samples = 3200
    energy = rng.uniform(0.001, 0.05)
    weights = TOTAL_PARAMS * 4
    gradients = trainable * 4
    return {
        "schema_version": REPORT_SCHEMA_VERSION,
        "run": {"status": "completed", "method": method, "task": task, "model_name": "all-MiniLM-L6-v2",
                "run_name": f"{method}-seed{index}", "labels": labels, "world_size": 1, "global_step": 200,
                "epoch": 1.0},
        "params": {"trainable": trainable, "total": TOTAL_PARAMS, "trainable_percent": 100.0 * trainable / TOTAL_PARAMS},
        "time": {"train_seconds": train_seconds, "samples": samples, "steps": 200,
                 "samples_per_second": None if train_seconds is None else samples / train_seconds,
                 "step_seconds_median": None if train_seconds is None else train_seconds / 200},
        "memory": {"peak_memory_bytes": rng.randint(1 << 30, 3 << 30), "peak_memory_kind": "process_rss",
                   "weights_bytes": weights, "gradients_bytes": gradients, "optimizer_state_bytes": 2 * gradients,
                   "training_state_bytes": weights + 3 * gradients},
        "energy": {"status": "measured", "energy_kwh": energy, "co2_kg": energy * 0.4},
        "flops": {"flops": None},
        "quality": {"primary_metric": "eval_accuracy", "greater_is_better": True,
                    "eval": {"eval_loss": rng.uniform(0.2, 0.7), "eval_accuracy": rng.uniform(0.5, 0.95)}},
        "environment": {"python": "3.11", "device": "cpu"},
    }


def write_reports(root: Path, runs: int, groups: int = 1, seed: int = 0) -> None:
    """`runs` report folders under `root`: `groups` big groups (tasks), a small one, one run with a very long label."""
    rng = random.Random(seed)
    for index in range(runs):
        if index == runs - 1:
            task, labels = "imdb", {"note": "x" * LONG_LABEL_CHARACTERS, "split": "y" * LONG_LABEL_CHARACTERS}
        elif index % 100 < 1:
            task, labels = f"task{index % 4}", {}
        else:
            task, labels = ("imdb" if groups == 1 else f"imdb{index % groups}"), {"split": "90_10"}
        folder = root / f"run{index:05d}"
        folder.mkdir(parents=True)
        (folder / REPORT_FILENAME).write_text(json.dumps(synthetic_report(rng, index, task, labels)), encoding="utf-8")


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) of a PNG from its IHDR chunk."""
    with path.open("rb") as handle:
        header = handle.read(24)
    return struct.unpack(">II", header[16:24])


def run_compare(root: Path, out: Path) -> tuple[float, float, int, int]:
    """Run `peft-efficiency compare` with plots and HTML in a child; (wall seconds, CPU seconds, peak RSS bytes,
    exit status). CPU seconds (user + system) hardly move when other work shares the machine; wall seconds do."""
    command = [sys.executable, "-m", "peft_efficiency.cli", "compare", str(root), "--quiet",
               "--plot", str(out / "plots" / "pareto.png"), "--html", str(out / "report.html")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    with tempfile.TemporaryFile() as stderr:  # a file, not a pipe: a long stderr cannot block the child
        started = time.perf_counter()
        child = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        stderr.seek(0)
        errors = stderr.read().decode(errors="replace")
    if child.returncode not in (0, 1):  # the failures, each cut to a readable length
        for line in errors.splitlines()[-5:]:
            print(line if len(line) <= 300 else f"{line[:200]} ... {line[-90:]}", file=sys.stderr)
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024, child.returncode  # maxrss: KiB on Linux


def page_load(html: Path, profile: Path) -> str:
    """Load the page in headless Chromium: wall seconds until `data-ready`, and the page's own navigation timing."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        return "Chromium load: skipped (Debian chromium is not installed)"
    from browser_helpers import Browser

    with Browser(chromium, profile, timeout=120) as browser:
        started = time.perf_counter()
        page = browser.open(html.as_uri())
        page.wait_for("document.documentElement.dataset.ready === '1'", timeout=120)
        seconds = time.perf_counter() - started
        timing = page.evaluate("(t => [t.domContentLoadedEventEnd, t.loadEventEnd])"
                               "(performance.getEntriesByType('navigation')[0])")
        rows = page.evaluate("document.querySelectorAll('tbody tr').length")
        points = page.evaluate("document.querySelectorAll('circle.point').length")
        errors = page.errors
    return (f"Chromium load: {seconds:.2f} s until data-ready (DOMContentLoaded {timing[0] / 1000:.2f} s, load "
            f"{timing[1] / 1000:.2f} s); {rows} table rows, {points} points drawn; "
            f"{len(errors)} console error(s){': ' + errors[0][:200] if errors else ''}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1000, help="number of reports (default 1000)")
    parser.add_argument("--groups", type=int, default=1, help="spread the runs over this many tasks (default 1)")
    parser.add_argument("--keep", metavar="DIR", help="write reports and outputs here and keep them")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="compare-scale-") as scratch:
        base = Path(options.keep) if options.keep else Path(scratch)
        root, out = base / "reports", base / "out"
        write_reports(root, options.runs, options.groups)
        load = os.getloadavg()[0]
        seconds, cpu, peak, status = run_compare(root, out)
        pngs = sorted((out / "plots").glob("*.png"))
        html = out / "report.html"
        tallest = max((png_size(p) for p in pngs), key=lambda size: size[1], default=(0, 0))
        print(f"reports: {options.runs} in {options.groups + 2} groups   exit status: {status}")
        print(f"compare with plots and HTML: {seconds:.1f} s wall ({cpu:.1f} s CPU; load average {load:.1f} on "
              f"{os.cpu_count()} cores before it), peak RSS {peak / 2**20:.0f} MiB")
        print(f"figures: {len(pngs)} PNG, largest {tallest[0]} x {tallest[1]} px; "
              f"HTML {html.stat().st_size / 2**20:.2f} MiB ({html.stat().st_size:,} bytes)"
              if html.exists() else "HTML: not written")
        if html.exists():
            print(page_load(html, base / "chromium-profile"))
    return 0 if status in (0, 1) else status


if __name__ == "__main__":
    raise SystemExit(main())
