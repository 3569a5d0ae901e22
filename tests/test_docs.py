"""Docs that cannot drift: README.md and docs/*.md checked against the code.

Conventions the pages follow, which this file reads:

1. Metric names (docs/metrics.md). A name in backticks in the first column of a table is a name the page
   documents. `efficiency/NAME` is a key in the Trainer's logs; any other name is a path in the run report: a bare
   name is a top-level section (`run`), `a.b` is field `b` of `a`, `[]` an item of a list (`memory.per_rank[].rank`),
   `*` any key of a map (`params.groups.*.total`), and `{x,y}` stands for each name listed
   (`energy.{train,eval}.seconds`). The report paths must equal the property paths of
   `peft_efficiency/report_schema.json` (`$ref`s followed), both ways. The log keys must cover every `efficiency/*`
   key that the package's source spells out or that a tiny training run logs, and name nothing the callbacks'
   source lacks.
2. Shell commands. Every fenced block in README.md and docs/*.md written in a shell language is a ```bash block.
   Each block runs with bash (`-e -o pipefail`) in one temporary folder per page, in the page's order (a later
   block may use what an earlier one made), with `recipes`, `docs`, `bench` and `harness_tasks` linked into that
   folder, the repository's venv first on PATH, `HF_HUB_OFFLINE=1`, the real data folder as
   `PEFT_EFFICIENCY_DATA_DIR`, and a timeout. A block that needs a GPU, the Hub, or minutes of real-model time has
   the line `<!-- docs-test: skip (REASON) -->` right above its fence; the reason is required and is the skip's.
3. Links. Every relative link `[text](target)` in those pages names a file that exists; an `#anchor` into a
   Markdown page names one of its headings (GitHub's slugs).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import DEFAULT_DATA_DIR, REPO_ROOT

DOCS = REPO_ROOT / "docs"
PAGES = [REPO_ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
METRICS_PAGE = DOCS / "metrics.md"
SCHEMA = REPO_ROOT / "peft_efficiency" / "report_schema.json"
LINKED_INTO_RUN_FOLDER = ("recipes", "docs", "bench", "harness_tasks")
BLOCK_TIMEOUT_SECONDS = 150
LOG_PREFIX = "efficiency/"

FENCE = re.compile(r"^```(\S*)\s*$")
SHELL_LANGUAGES = {"bash", "sh", "shell", "console", "zsh", "shell-session"}
SKIP_MARK = re.compile(r"^<!--\s*docs-test:\s*skip\s*(?:\((?P<reason>.*)\))?\s*-->$")
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)|!\[[^\]]*\]\(([^)\s]+)\)")


# ---------------------------------------------------------------------------------------------------- parsing


def page_name(page: Path) -> str:
    return page.relative_to(REPO_ROOT).as_posix()


def fenced_blocks(page: Path) -> list[dict]:
    """Every fenced block of `page`: its language, its text, its line and the skip reason marked above it."""
    lines = page.read_text(encoding="utf-8").splitlines()
    blocks, i = [], 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        end = next((j for j in range(i + 1, len(lines)) if lines[j].strip() == "```"), None)
        assert end is not None, f"{page_name(page)}:{i + 1}: a fence that is never closed"
        before = next((lines[j].strip() for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        mark = SKIP_MARK.match(before)
        blocks.append({"language": opening.group(1), "text": "\n".join(lines[i + 1:end]), "line": i + 1,
                       "marked": mark is not None, "reason": (mark.group("reason") or "").strip() if mark else None})
        i = end + 1
    return blocks


def shell_blocks(page: Path) -> list[dict]:
    return [block for block in fenced_blocks(page) if block["language"] in SHELL_LANGUAGES]


def expand_braces(name: str) -> list[str]:
    """`energy.{train,eval}.seconds` -> `energy.train.seconds`, `energy.eval.seconds` (several braces too)."""
    match = re.search(r"\{([^{}]*)\}", name)
    if not match:
        return [name]
    return [expanded for choice in match.group(1).split(",")
            for expanded in expand_braces(name[:match.start()] + choice.strip() + name[match.end():])]


def documented_names(page: Path) -> set[str]:
    """The backticked names in the first column of the page's tables (header and separator rows left out)."""
    names: set[str] = set()
    for line in page.read_text(encoding="utf-8").splitlines():
        if not line.startswith("|") or set(line) <= set("|-: "):
            continue
        first = line.split("|")[1].strip()
        for name in re.findall(r"`([^`]+)`", first):
            names.update(expand_braces(name))
    return names


def schema_paths(node: dict, defs: dict, prefix: str = "") -> set[str]:
    """Every property path of a JSON Schema node, written as docs/metrics.md writes them."""
    paths: set[str] = set()
    if "$ref" in node:
        paths |= schema_paths(defs[node["$ref"].rsplit("/", 1)[-1]], defs, prefix)
    for name, sub in node.get("properties", {}).items():
        path = f"{prefix}.{name}" if prefix else name
        paths.add(path)
        if isinstance(sub, dict):
            paths |= schema_paths(sub, defs, path)
    if isinstance(node.get("items"), dict):
        paths |= schema_paths(node["items"], defs, prefix + "[]")
    if isinstance(node.get("additionalProperties"), dict):
        paths |= schema_paths(node["additionalProperties"], defs, prefix + ".*")
    return paths


def heading_slugs(page: Path) -> set[str]:
    """GitHub's anchors for the page's headings: lower case, punctuation dropped, spaces to hyphens."""
    slugs = set()
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            slugs.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return slugs


# ---------------------------------------------------------------------------------------------------- metrics


def test_every_schema_field_is_documented_and_nothing_else():
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    in_schema = schema_paths(schema, schema.get("$defs", {}))
    documented = {name for name in documented_names(METRICS_PAGE) if not name.startswith(LOG_PREFIX)}
    assert in_schema - documented == set(), "report fields missing from docs/metrics.md"
    assert documented - in_schema == set(), "docs/metrics.md names report fields the schema lacks"


def logged_keys_of_a_tiny_run(tmp_path: Path) -> set[str]:
    """The `efficiency/*` keys of `train()`'s metrics (its final log carries every figure) on a tiny BERT."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments

    from peft_efficiency import EfficiencyCallback

    config = BertConfig(vocab_size=64, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, num_labels=2)
    rows = [{"input_ids": torch.randint(1, 64, (8,)), "attention_mask": torch.ones(8, dtype=torch.long),
             "labels": torch.tensor(i % 2)} for i in range(8)]
    args = TrainingArguments(output_dir=str(tmp_path), max_steps=2, per_device_train_batch_size=4, report_to=[],
                             use_cpu=True, save_strategy="no", logging_steps=1, disable_tqdm=True)
    trainer = Trainer(model=BertForSequenceClassification(config), args=args, train_dataset=rows,
                      callbacks=[EfficiencyCallback(energy=False)])
    return {key for key in trainer.train().metrics if key.startswith(LOG_PREFIX)}


def test_log_keys_are_documented_and_exist(tmp_path):
    source = "\n".join(path.read_text(encoding="utf-8") for path in (REPO_ROOT / "peft_efficiency").rglob("*.py"))
    callbacks_source = "\n".join(path.read_text(encoding="utf-8")
                                 for path in (REPO_ROOT / "peft_efficiency" / "callbacks").glob("*.py"))
    spelled_out = {LOG_PREFIX + name for name in re.findall(r"[\"']efficiency/([a-z0-9_]+)[\"']", source)}
    documented = {name for name in documented_names(METRICS_PAGE) if name.startswith(LOG_PREFIX)}
    logged = logged_keys_of_a_tiny_run(tmp_path)
    assert logged, "a tiny training run logged no efficiency/* key"
    assert (spelled_out | logged) - documented == set(), "log keys missing from docs/metrics.md"
    unknown = {name for name in documented
               if f'"{name}"' not in source and f'"{name.removeprefix(LOG_PREFIX)}"' not in callbacks_source}
    assert unknown == set(), "docs/metrics.md names log keys the callbacks never make"


# ---------------------------------------------------------------------------------------------------- commands


def test_shell_blocks_are_bash_and_every_skip_has_a_reason():
    for page in PAGES:
        for block in shell_blocks(page):
            where = f"{page_name(page)}:{block['line']}"
            assert block["language"] == "bash", f"{where}: write shell commands in a ```bash block"
            assert not block["marked"] or block["reason"], f"{where}: a docs-test skip needs a reason: skip (WHY)"
    assert any(shell_blocks(page) for page in PAGES)


COMMAND_BLOCKS = [(page, index) for page in PAGES for index, _ in enumerate(shell_blocks(page))]
_ran: dict[tuple[Path, int], None] = {}


@pytest.fixture(scope="module")
def page_folders(tmp_path_factory):
    """One run folder per page, with the repository's folders the commands name linked in."""
    folders = {}
    for page in PAGES:
        folder = tmp_path_factory.mktemp(page.stem.lower())
        for name in LINKED_INTO_RUN_FOLDER:
            (folder / name).symlink_to(REPO_ROOT / name, target_is_directory=True)
        folders[page] = folder
    return folders


def command_environment() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TOKENIZERS_PARALLELISM="false",
               TRANSFORMERS_NO_ADVISORY_WARNINGS="1")
    env.setdefault("PEFT_EFFICIENCY_DATA_DIR", str(DEFAULT_DATA_DIR))
    env.pop("PYTHONPATH", None)
    return env


def run_block(page: Path, index: int, folder: Path) -> None:
    """Run the page's earlier runnable blocks first (once each), then this one; fail with its output."""
    for earlier in range(index):
        if (page, earlier) not in _ran and not shell_blocks(page)[earlier]["marked"]:
            run_block(page, earlier, folder)
    block = shell_blocks(page)[index]
    script = folder / f".block-{index}.sh"
    script.write_text(block["text"] + "\n", encoding="utf-8")
    try:
        done = subprocess.run(["bash", "-e", "-o", "pipefail", str(script)], cwd=folder, env=command_environment(),
                              capture_output=True, text=True, timeout=BLOCK_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{page_name(page)}:{block['line']}: took more than {BLOCK_TIMEOUT_SECONDS} s:\n{block['text']}")
    _ran[(page, index)] = None
    assert done.returncode == 0, (f"{page_name(page)}:{block['line']} exited {done.returncode}:\n{block['text']}\n"
                                  f"--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}")


@pytest.mark.parametrize(("page", "index"), COMMAND_BLOCKS,
                         ids=[f"{page_name(p)}:{shell_blocks(p)[i]['line']}" for p, i in COMMAND_BLOCKS])
def test_documented_commands_run(page, index, page_folders):
    block = shell_blocks(page)[index]
    if block["marked"]:
        pytest.skip(f"{page_name(page)}:{block['line']}: {block['reason']}")
    if (page, index) not in _ran:
        run_block(page, index, page_folders[page])


# ---------------------------------------------------------------------------------------------------- links


LINKED_PAGES = [*PAGES, *sorted(REPO_ROOT.glob("recipes/**/README.md")), *sorted(REPO_ROOT.glob("harness_tasks/*/README.md"))]


def test_relative_links_point_to_files_that_exist():
    """In README.md and docs/*.md, and in the recipes' and tasks' READMEs that link into them."""
    broken = []
    for page in LINKED_PAGES:
        text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)  # links in code are not links
        for target in (a or b for a, b in LINK.findall(text)):
            if re.match(r"[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            resolved = (page.parent / path).resolve() if path else page
            if not resolved.exists():
                broken.append(f"{page_name(page)}: {target} (no such file)")
            elif anchor and resolved.suffix == ".md" and anchor not in heading_slugs(resolved):
                broken.append(f"{page_name(page)}: {target} (no such heading)")
    assert broken == []
