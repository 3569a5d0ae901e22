"""`peft-efficiency compare RUN_DIR...`: the comparison table of run reports, and optionally plots and HTML.

Exit status: 0 when every input was read; 1 when the table was made but some input was skipped (no report,
corrupted or truncated JSON, a binary or non-UTF-8 file, another schema version, a report of the wrong shape;
each named on stderr in one line); 2 when nothing usable was given (or bad arguments); 3 when an output file
(--out-dir, --plot, --html) could not be written (one line per target; 3 wins over 1). Warnings about reports
read with gaps (a missing section such as energy, an interrupted run, a NaN figure) go to stderr and do not
change the exit status.

Example:
    peft-efficiency compare runs/*/ --format markdown --plot plots/pareto.png --html report.html
"""

from __future__ import annotations

import argparse
import sys

from peft_efficiency.compare.load import load_runs
from peft_efficiency.compare.outputs import write_outputs
from peft_efficiency.compare.render import FORMATS, render
from peft_efficiency.compare.table import OPTIONAL_COLUMNS, build_tables

EXIT_OK, EXIT_SKIPPED, EXIT_NOTHING, EXIT_WRITE_FAILED = 0, 1, 2, 3
PREFIX = "peft-efficiency compare"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="peft-efficiency compare",
        description="Compare fine-tuning runs from their efficiency_report.json files: quality, train time, "
                    "trainable parameters, peak memory, training state, energy and CO2, relative to full fine-tuning where a "
                    "`full` run of the same task, model and setting is given. Runs of different tasks, models or "
                    "settings (labels such as split or smoke) are grouped apart.",
        epilog="Exit status: 0 all inputs read; 1 table made but some input skipped (named on stderr); "
               "2 nothing usable or bad arguments; 3 an output file (--out-dir, --plot, --html) could not be written.",
    )
    parser.add_argument("runs", nargs="+", metavar="RUN_DIR", help="run folders holding efficiency_report.json, report files, or a folder searched for reports")
    parser.add_argument("--format", choices=FORMATS, default="table", help="output format on stdout (default: table)")
    parser.add_argument("--metric", action="append", default=[], metavar="NAME",
                        help="extra quality metric column from quality.eval (repeatable), e.g. eval_f1")
    parser.add_argument("--columns", action="append", default=[], choices=sorted(OPTIONAL_COLUMNS), metavar="NAME",
                        help="optional columns to add (repeatable): overhead (the plugin's own cost), training_state "
                             "(weights, gradients, optimizer state, activation peak)")
    parser.add_argument("--plot", metavar="PATH", help="write the Pareto plots to PATH (.png) and PATH.svg, bars to <stem>-bars.png/.svg")
    parser.add_argument("--html", metavar="PATH", help="write one self-contained HTML page (tables and plots embedded)")
    parser.add_argument("--out-dir", metavar="DIR",
                        help="also write comparison.{txt,md,csv,json}, pareto/bars plots and report.html into DIR")
    parser.add_argument("--quiet", action="store_true", help="print nothing on stdout (files are still written)")
    return parser


def run_compare(args: argparse.Namespace) -> int:
    rows, problems = load_runs(args.runs)
    for problem in problems:
        print(f"{PREFIX}: {problem.message}", file=sys.stderr)
    skipped = sum(p.skipped for p in problems)
    if not rows:
        print(f"{PREFIX}: none of the {skipped} report(s) given was usable; nothing to compare", file=sys.stderr)
        return EXIT_NOTHING
    tables = build_tables(rows, args.metric, tuple(dict.fromkeys(args.columns)))
    if not args.quiet:
        sys.stdout.write(render(tables, args.format))
    written, failures = write_outputs(tables, problems, out_dir=args.out_dir, plot=args.plot, html=args.html)
    for path in written:
        print(f"{PREFIX}: wrote {path}", file=sys.stderr)
    for failure in failures:
        print(f"{PREFIX}: {failure}", file=sys.stderr)
    if skipped:
        print(f"{PREFIX}: {skipped} of {len(rows) + skipped} report(s) skipped (see above)", file=sys.stderr)
    if failures:
        return EXIT_WRITE_FAILED
    return EXIT_SKIPPED if skipped else EXIT_OK


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
        print(f"{PREFIX}: {exc}", file=sys.stderr)
        return EXIT_NOTHING


if __name__ == "__main__":
    raise SystemExit(main())
