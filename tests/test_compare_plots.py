"""The matplotlib figures: the drawn frontier is the hand-worked one, files are real PNG/SVG."""

from __future__ import annotations

from pathlib import Path

import pytest
from compare_helpers import BIBLEQA_RUNS, IMDB_RUNS, MINILM_TOTAL, write_runs

pytest.importorskip("matplotlib")

from peft_efficiency.compare.load import load_runs  # noqa: E402
from peft_efficiency.compare.plots import bars_figure, pareto_figure, plot_paths, write_plots  # noqa: E402
from peft_efficiency.compare.table import build_tables  # noqa: E402


@pytest.fixture()
def tables(tmp_path: Path):
    rows, _ = load_runs(write_runs(tmp_path, IMDB_RUNS) + write_runs(tmp_path, BIBLEQA_RUNS))
    return build_tables(rows)


def frontier_xy(ax) -> list[tuple[float, float]]:
    (line,) = [line for line in ax.get_lines() if line.get_label() == "Pareto frontier"]
    return [float(v) for xy in zip(line.get_xdata(), line.get_ydata()) for v in xy]  # flat x0, y0, x1, y1...


def test_pareto_figure_marks_the_hand_worked_frontier(tables) -> None:
    import matplotlib.pyplot as plt

    fig = pareto_figure(tables[0])
    params_ax, time_ax, energy_ax = fig.axes
    assert params_ax.get_xscale() == "log" and params_ax.get_ylabel() == "eval_accuracy"
    # accuracy vs trainable params: all but bitfit (lora has fewer params and more accuracy), sorted by cost
    assert frontier_xy(params_ax) == pytest.approx([15_360, 0.70, 20_000, 0.85, 147_456, 0.88, MINILM_TOTAL, 0.90])
    # vs train time: lora (160 s) beats ia3, bitfit and prompt tuning; full is the most accurate
    assert frontier_xy(time_ax) == pytest.approx([160, 0.88, 400, 0.90])
    # vs energy (drawn in Wh): bitfit has no energy figure, so it is a dotted reference line at its accuracy
    assert energy_ax.get_xlabel() == "training energy (Wh)"
    assert frontier_xy(energy_ax) == pytest.approx([4.0, 0.88, 10.0, 0.90])
    texts = [t.get_text() for t in energy_ax.texts]
    assert "bitfit: not measured" in texts
    labels = [t.get_text() for t in params_ax.texts]
    assert "lora\n147k" in labels and "prompt_tuning\n15.4k" in labels
    plt.close(fig)


def test_bars_and_zero_params_base(tables) -> None:
    import matplotlib.pyplot as plt

    fig = pareto_figure(tables[1])
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "base: 0, not shown on a log axis" in texts  # 0 trainable params cannot sit on a log axis
    plt.close(fig)
    fig = bars_figure(tables[0])
    time_ax, memory_ax = fig.axes
    assert [t.get_text() for t in time_ax.get_yticklabels()] == ["full", "lora", "bitfit", "ia3", "prompt_tuning"]
    assert [p.get_width() for p in time_ax.patches] == pytest.approx([400, 160, 250, 200, 180])
    assert [p.get_width() for p in memory_ax.patches] == pytest.approx([2.0, 1.0, 1.2, 1.5, 1.1])
    plt.close(fig)


def test_write_plots_files(tmp_path: Path, tables) -> None:
    written = write_plots(tables, tmp_path / "plots" / "pareto.png")
    names = sorted(p.name for p in written)
    assert names == sorted([
        "pareto-imdb-all-minilm-l6-v2.png", "pareto-imdb-all-minilm-l6-v2.svg",
        "pareto-imdb-all-minilm-l6-v2-bars.png", "pareto-imdb-all-minilm-l6-v2-bars.svg",
        "pareto-bibleqa-smollm2-135m-instruct.png", "pareto-bibleqa-smollm2-135m-instruct.svg",
        "pareto-bibleqa-smollm2-135m-instruct-bars.png", "pareto-bibleqa-smollm2-135m-instruct-bars.svg"])
    for path in written:
        data = path.read_bytes()
        if path.suffix == ".png":
            assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
        else:
            assert b"<svg" in data[:2000] and b"<!-- trainable parameters (log scale) -->" in data or "bars" in path.name
    assert [p.name for _, p, _ in plot_paths(tables[:1], tmp_path / "x.png")] == ["x.png"]


def test_training_state_panels(tmp_path: Path) -> None:
    import copy

    import matplotlib.pyplot as plt

    mib = 1024**2
    runs = copy.deepcopy(IMDB_RUNS)
    for name, (weights, gradients, optimizer) in {"full": (88, 88, 176), "lora": (89, 1, 2)}.items():
        runs[name]["memory"].update(weights_bytes=weights * mib, gradients_bytes=gradients * mib,
                                    optimizer_state_bytes=optimizer * mib,
                                    training_state_bytes=(weights + gradients + optimizer) * mib)
    rows, _ = load_runs(write_runs(tmp_path, runs))
    (table,) = build_tables(rows)
    fig = pareto_figure(table)
    assert len(fig.axes) == 4 and fig.axes[3].get_xlabel().startswith("training state")
    plt.close(fig)
    fig = bars_figure(table)
    state_ax = fig.axes[2]
    # stacked: weights, gradients, optimizer state per run (MiB), 0 for runs without a training state
    widths = [p.get_width() for p in state_ax.patches]
    assert widths == pytest.approx([88, 89, 0, 0, 0] + [88, 1, 0, 0, 0] + [176, 2, 0, 0, 0])
    assert "n/a" in [t.get_text() for t in state_ax.texts]
    plt.close(fig)
