"""The HTML report: self-contained (no external requests), and rendered by a real headless Chromium.

Chromium is Debian's `chromium` (installed by `scripts/install-chromium.sh`); the browser tests are skipped,
with that reason, only when it is absent.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from compare_helpers import BIBLEQA_RUNS, IMDB_RUNS, write_run, write_runs

from peft_efficiency.compare.cli import main as compare_main

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian chromium is not installed (run scripts/install-chromium.sh as root)")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--hide-scrollbars"]


@pytest.fixture(scope="module")
def report_html(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("runs")
    dirs = write_runs(root, IMDB_RUNS) + write_runs(root, BIBLEQA_RUNS)
    broken = write_run(root, "broken", "{\"schema_version\": 1, \"run\"")
    page = root / "report.html"
    assert compare_main([*map(str, dirs), str(broken), "--html", str(page), "--quiet"]) == 1
    return page


def chromium(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    command = [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=180)


def test_page_is_self_contained(report_html: Path) -> None:
    text = report_html.read_text(encoding="utf-8")
    sources = re.findall(r'\b(?:src|href)="([^"]*)"', text)
    assert len(sources) == 4 and all(s.startswith("data:image/png;base64,") for s in sources)
    assert "http://" not in text and "https://" not in text and "<link" not in text
    assert "default-src 'none'" in text  # the CSP forbids any request but data: images
    assert "broken/efficiency_report.json: not valid JSON" in text  # the skipped input is named on the page


@needs_chromium
def test_chromium_renders_table_and_images(report_html: Path, tmp_path: Path) -> None:
    result = chromium(["--virtual-time-budget=5000", "--dump-dom", report_html.as_uri()], tmp_path)
    dom = result.stdout
    assert result.returncode == 0, result.stderr[-2000:]
    # the inline script ran after load and found every image decoded with a natural width > 0
    assert 'data-images-loaded="4/4"' in dom
    methods = re.findall(r'<tr(?: class="pareto")? data-method="([^"]+)"', dom)
    assert methods == ["full", "lora", "bitfit", "ia3", "prompt_tuning", "lora", "base"]
    bitfit_row = re.search(r'<tr data-method="bitfit">(.*?)</tr>', dom).group(1)
    assert '<td class="num missing" data-key="energy_kwh">n/a</td>' in bitfit_row
    assert '<td class="num" data-key="speedup_vs_full">1.60x</td>' in bitfit_row


@needs_chromium
def test_chromium_screenshot_is_not_blank(report_html: Path, tmp_path: Path) -> None:
    from PIL import Image

    shot = tmp_path / "shot.png"
    result = chromium([f"--screenshot={shot}", "--window-size=1400,1800", report_html.as_uri()], tmp_path)
    assert shot.exists(), result.stderr[-2000:]
    image = Image.open(shot).convert("RGB")
    assert image.size == (1400, 1800)
    colors = image.getcolors(maxcolors=1_000_000)
    white = sum(count for count, rgb in colors if rgb == (255, 255, 255))
    # text, table rules and coloured plot markers: many colours, and a good share of non-white pixels
    assert len(colors) > 200 and white < 0.95 * image.size[0] * image.size[1]
    # the first plot's method colours (matplotlib tab10 blue = full, orange = lora) are on screen
    assert any(rgb == (31, 119, 180) for _, rgb in colors) and any(rgb == (255, 127, 14) for _, rgb in colors)
