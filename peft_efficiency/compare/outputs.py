"""Write the comparison's files for `--out-dir`, `--plot` and `--html`; a target that cannot be written gives one
line naming it and the reason (the other targets are still written), never a traceback.

Example:
    written, failures = write_outputs(tables, problems, out_dir="report", plot=None, html="report.html")
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from peft_efficiency.compare.load import Problem
from peft_efficiency.compare.render import render
from peft_efficiency.compare.table import GroupTable

FILE_EXTENSIONS = {"table": "txt", "markdown": "md", "csv": "csv", "json": "json"}


def describe_failure(option: str, target: Path, exc: OSError, folder: bool = False) -> str:
    """One line: which option's target (a `folder` for --out-dir) failed, why, and what to do."""
    reason = exc.strerror or str(exc)
    blocker = next((p for p in [target, *target.parents] if p.exists()), None)
    if blocker is not None and (blocker != target or folder) and not blocker.is_dir():
        reason = f"{blocker} is a file, not a folder"
    elif exc.filename and Path(exc.filename) != target:
        reason += f" ({exc.filename})"
    return f"cannot write {option} {target}: {reason}; give a path in a folder you can write to"


def _write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def write_outputs(tables: list[GroupTable], problems: list[Problem], *, out_dir: str | None, plot: str | None,
                  html: str | None) -> tuple[list[Path], list[str]]:
    """Write every requested file; return the files written and one message per target that failed."""
    written: list[Path] = []
    failures: list[str] = []
    page: list[str] = []
    rendered = None  # the figures, drawn once for every output that shows them (matplotlib imported only if needed)

    def figures():
        nonlocal rendered
        if rendered is None:
            from peft_efficiency.compare.rendered import RenderedFigures

            rendered = RenderedFigures()
        return rendered

    def html_page() -> str:  # rendered once (its plots are slow), only when a page is asked for
        if not page:
            from peft_efficiency.compare.html import render_html

            page.append(render_html(tables, problems, rendered=figures()))
        return page[0]

    def attempt(option: str, target: Path, action: Callable[[], list[Path]]) -> None:
        try:
            written.extend(action())
        except OSError as exc:
            failures.append(describe_failure(option, target, exc, folder=option == "--out-dir"))

    def plots(target: Path) -> list[Path]:
        from peft_efficiency.compare.plots import write_plots

        return write_plots(tables, target, figures())

    if out_dir:
        folder = Path(out_dir)

        def everything() -> list[Path]:
            files = [_write_text(folder / f"comparison.{ext}", render(tables, fmt)) for fmt, ext in FILE_EXTENSIONS.items()]
            return files + plots(folder / "pareto.png") + [_write_text(folder / "report.html", html_page())]

        attempt("--out-dir", folder, everything)
    if plot:
        attempt("--plot", Path(plot), lambda: plots(Path(plot)))
    if html:
        attempt("--html", Path(html), lambda: [_write_text(Path(html), html_page())])
    return written, failures
