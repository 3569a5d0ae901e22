"""Which runs are ranked together (their identity), and the label each run gets inside its table.

A run's identity is its task, its model and its *setting*: the labels in `run.labels` that change what is
measured (split, smoke, recipe, demo, data subset...). Labels that describe how the method was trained are
left out, so the variants of a method are ranked against each other and against the same `full` baseline:

- the keys in `METHOD_LABELS` (entry, variant, run_name, seed, lr, learning_rate, epochs, batch_size, steps,
  sft_data, note) and any key starting with `method`;
- the recipe's `entry` label (`<method>[-<suffix>]`, the name of its configs file): suffix words that name a
  method variant (`tuned`, `lr...`, `r<N>`, `alpha<N>`, `seed<N>`) describe the method; any other suffix
  (`30_70` in imdb_tinybert's `full-30_70`) names a setting and joins the identity as `setting`, unless a
  setting label already says the same (`split: 30/70`).

Example:
    setting_of({"recipe": "imdb_tinybert", "entry": "full-30_70", "smoke": "false"})
    # (("recipe", "imdb_tinybert"), ("setting", "30_70"), ("smoke", "false"))
"""

from __future__ import annotations

import re
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any

from peft_efficiency.report import REPORT_FILENAME, STAGE_PATTERN

if TYPE_CHECKING:
    from peft_efficiency.compare.load import RunRow

Setting = tuple[tuple[str, str], ...]
METHOD_LABELS = frozenset({"entry", "variant", "run_name", "seed", "lr", "learning_rate", "epochs", "num_train_epochs",
                           "batch_size", "steps", "max_steps", "sft_data", "note", "notes"})
METHOD_WORD = re.compile(r"tuned|lr[\w.]*|r\d+|alpha\d+|seed\d*", re.IGNORECASE)
ENTRY_SETTING_KEY = "setting"


def describes_method(key: str) -> bool:
    """True for a label that says how the method was trained (not part of the run's identity)."""
    return key.lower() in METHOD_LABELS or key.lower().startswith("method")


def _squash(text: str) -> str:
    return re.sub(r"[^0-9a-z]", "", text.lower())


def entry_setting(entry: str) -> str | None:
    """The part of a recipe entry name that names a setting: `full-30_70` -> `30_70`; `lora-tuned` -> None."""
    words = [w for w in entry.split("-")[1:] if w and not METHOD_WORD.fullmatch(w)]
    return "-".join(words) or None


def setting_of(labels: dict[str, Any]) -> Setting:
    """The identity part of `labels`, as sorted (key, text) pairs."""
    setting = {str(k): str(v) for k, v in labels.items() if v is not None and not describes_method(str(k))}
    entry = labels.get("entry")
    suffix = entry_setting(str(entry)) if entry is not None else None
    if suffix and _squash(suffix) not in {_squash(v) for v in setting.values()}:
        setting[ENTRY_SETTING_KEY] = suffix
    return tuple(sorted(setting.items()))


def run_path(source: Path) -> tuple[str, ...]:
    """The parts of the run's folder (then `stage-<n>` for an earlier stage's report kept there), or of the
    report file's path without `.json` when it has another name."""
    path = source.resolve()
    stage = STAGE_PATTERN.fullmatch(path.name)
    if stage:
        return (*path.parent.parts, f"stage-{stage.group(1)}")
    return (path.parent if path.name == REPORT_FILENAME else path.with_suffix("")).parts


def shortest_suffixes(paths: list[tuple[str, ...]]) -> list[str]:
    """For each path, its shortest trailing part that no other path ends with (`a/lora` beside `b/lora`)."""
    result = []
    for index, parts in enumerate(paths):
        others = [p for j, p in enumerate(paths) if j != index]
        depth = next((k for k in range(1, len(parts) + 1) if all(p[-k:] != parts[-k:] for p in others)), len(parts))
        result.append(PurePath(*parts[-depth:]).as_posix())
    return result


def assign_labels(rows: list[RunRow]) -> None:
    """Label each row by its method; where a method repeats inside a group, add the run names when they tell the
    runs apart, else the shortest distinguishing end of their folder paths. Independent of input order."""
    clusters: dict[tuple[Any, str], list[RunRow]] = {}
    for row in rows:
        clusters.setdefault((row.group, row.method), []).append(row)
    for (_, method), members in clusters.items():
        if len(members) == 1:
            members[0].label = method
            continue
        names = [m.run_name for m in members]
        if all(names) and len(set(names)) == len(names):
            tags = [str(n) for n in names]
        else:
            tags = shortest_suffixes([run_path(m.source) for m in members])
        for member, tag in zip(members, tags):
            member.label = f"{method} ({tag})"
