"""`peft-efficiency compare RUN_DIR...`: the comparison table of run reports, and optionally plots and HTML.

Exit status: 0 when every input was read; 1 when the table was made but some input was skipped (no report,
corrupted or truncated JSON, another schema version; each named on stderr); 2 when nothing usable was given
(or bad arguments). Warnings about reports read with gaps (a missing section such as energy, an interrupted
run) go to stderr and do not change the exit status.

Example:
    peft-efficiency compare runs/*/ --format markdown --plot plots/pareto.png --html report.html
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from peft_efficiency.compare.load import load_runs
from peft_efficiency.compare.render import FORMATS, render
from peft_efficiency.compare.table import build_tables

EXIT_OK, EXIT_SKIPPED, EXIT_NOTHING = 0, 1, 2
FILE_EXTENSIONS = {"table": "txt", "markdown": "md", "csv": "csv", "json": "json"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="peft-efficiency compare",
        description="Compare fine-tuning runs from their efficiency_report.json files: quality, train time, "
                    "trainable parameters, peak memory, energy and CO2, relative to full fine-tuning where a "
                    "`full` run of the same task and model is given. Runs of different tasks/models are grouped apart.",
        epilog="Exit status: 0 all inputs read; 1 table made but some input skipped (named on stderr); "
               "2 nothing usable or bad arguments.",
    )
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run folders holding efficiency_report.json, report files, or a folder searched for reports")
    parser.add_argument("--format", choices=FORMATS, default="table", help="output format on stdout (default: table)")
    parser.add_argument("--metric", action="append", default=[], metavar="NAME",
                        help="extra quality metric column from quality.eval (repeatable), e.g. eval_f1")
    parser.add_argument("--plot", metavar="PATH", help="write the Pareto plots to PATH (.png) and PATH.svg, bars to <stem>-bars.png/.svg")
    parser.add_argument("--html", metavar="PATH", help="write one self-contained HTML page (tables and plots embedded)")
    parser.add_argument("--out-dir", metavar="DIR",
                        help="also write comparison.{txt,md,csv,json}, pareto/bars plots and report.html into DIR")
    parser.add_argument("--quiet", action="store_true", help="print nothing on stdout (files are still written)")
    return parser


def run_compare(args: argparse.Namespace) -> int:
    rows, problems = load_runs(args.runs)
    for problem in problems:
        print(f"peft-efficiency compare: {problem.message}", file=sys.stderr)
    skipped = sum(p.skipped for p in problems)
    if not rows:
        print(f"peft-efficiency compare: none of the {len(args.runs)} input(s) held a usable run report; nothing to compare",
              file=sys.stderr)
        return EXIT_NOTHING
    tables = build_tables(rows, args.metric)
    if not args.quiet:
        sys.stdout.write(render(tables, args.format))
    written: list[Path] = []
    if args.out_dir:
        out_dir = Path(args.out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        for fmt, ext in FILE_EXTENSIONS.items():
            path = out_dir / f"comparison.{ext}"
            path.write_text(render(tables, fmt), encoding="utf-8")
            written.append(path)
    plot_targets = [Path(args.plot)] if args.plot else []
    if args.out_dir:
        plot_targets.append(Path(args.out_dir) / "pareto.png")
    if plot_targets:
        from peft_efficiency.compare.plots import write_plots

        for target in plot_targets:
            written += write_plots(tables, target)
    html_targets = [Path(args.html)] if args.html else []
    if args.out_dir:
        html_targets.append(Path(args.out_dir) / "report.html")
    if html_targets:
        from peft_efficiency.compare.html import render_html

        page = render_html(tables, problems)
        for target in html_targets:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(page, encoding="utf-8")
            written.append(target)
    for path in written:
        print(f"peft-efficiency compare: wrote {path}", file=sys.stderr)
    if skipped:
        print(f"peft-efficiency compare: {skipped} of {len(args.runs)} input(s) skipped (see above); exit status 1",
              file=sys.stderr)
        return EXIT_SKIPPED
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """Entry point of `peft-efficiency compare`; returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on bad arguments, 0 on --help
        return int(exc.code or 0)
    try:
        return run_compare(args)
    except ImportError as exc:  # an optional extra (matplotlib) missing: the message names the fix
        print(f"peft-efficiency compare: {exc}", file=sys.stderr)
        return EXIT_NOTHING


if __name__ == "__main__":
    raise SystemExit(main())
