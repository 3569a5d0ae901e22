"""The run report against its schema: real reports from tiny Trainer runs validate, and every key they hold is
declared by `peft_efficiency/report_schema.json` (so docs/metrics.md, which mirrors the schema, names it too).

An object whose schema has `properties` must list each key it holds, unless the schema gives `additionalProperties`
a schema; an object whose schema has no `properties` is a free map (labels, eval metrics). `$ref` (with its sibling
keywords), `anyOf`, `oneOf` and `allOf` are followed.
"""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any, Callable

import jsonschema
import pytest
from datasets import Dataset
from peft import LoraConfig, get_peft_model
from transformers import Trainer, TrainerCallback

from foundation_helpers import classification_dataset, tiny_bert, tiny_llama, training_args
from peft_efficiency import EfficiencyCallback
from peft_efficiency.report import SCHEMA_PATH, load_report

SCHEMA: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


# ---------------------------------------------------------------------------------------------------- the walker


def alternatives(node: Any, defs: dict[str, Any]) -> list[dict[str, Any]]:
    """`node` and every schema it brings in: its `$ref` target and its `anyOf`/`oneOf`/`allOf` branches."""
    if not isinstance(node, dict):
        return []
    found = [node]
    if "$ref" in node:
        found += alternatives(defs[node["$ref"].rsplit("/", 1)[-1]], defs)
    for keyword in ("anyOf", "oneOf", "allOf"):
        for branch in node.get(keyword, []):
            found += alternatives(branch, defs)
    return found


def undeclared(value: Any, nodes: list[Any], defs: dict[str, Any], path: str = "") -> set[str]:
    """Key paths of `value` (as docs/metrics.md writes them: `a.b`, `a[].b`) that the schemas `nodes` do not declare."""
    schemas = [found for node in nodes for found in alternatives(node, defs)]
    missing: set[str] = set()
    if isinstance(value, dict):
        declares = any("properties" in schema for schema in schemas)
        for key, item in value.items():
            here = f"{path}.{key}" if path else key
            subs = [schema["properties"][key] for schema in schemas if key in schema.get("properties", {})]
            subs = subs or [s["additionalProperties"] for s in schemas if isinstance(s.get("additionalProperties"), dict)]
            if subs:
                missing |= undeclared(item, subs, defs, here)
            elif declares:
                missing.add(here)
    elif isinstance(value, list):
        subs = [schema["items"] for schema in schemas if isinstance(schema.get("items"), dict)]
        for item in value:
            missing |= undeclared(item, subs, defs, f"{path}[]")
    return missing


def check_against_schema(report: dict[str, Any], schema: dict[str, Any] = SCHEMA) -> set[str]:
    """Validate `report` and return the key paths it holds that the schema does not declare."""
    jsonschema.validate(report, schema)
    return undeclared(report, [schema], schema.get("$defs", {}))


# ---------------------------------------------------------------------------------------------------- the runs


class FailAtStep(TrainerCallback):
    """Raises at the end of optimizer step `step`: a run that fails mid-training."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise RuntimeError("stopped by the test")


def classification(out: Path) -> None:
    """Full fine-tuning with evaluations, a checkpoint, energy (codecarbon, offline) and an evaluate() after train()."""
    args = training_args(out, max_steps=4, eval_strategy="steps", eval_steps=2, save_strategy="steps", save_steps=3)
    trainer = Trainer(model=tiny_bert(), args=args, train_dataset=classification_dataset(16),
                      eval_dataset=classification_dataset(8, seed=5), callbacks=[EfficiencyCallback(task="toy")])
    trainer.train()
    trainer.evaluate()


def gradient_checkpointing(out: Path) -> None:
    """LoRA with gradient checkpointing: recomputation figures."""
    model = get_peft_model(tiny_bert(), LoraConfig(r=4, target_modules=["query", "value"], task_type="SEQ_CLS"))
    Trainer(model=model, args=training_args(out, max_steps=2, gradient_checkpointing=True),
            train_dataset=classification_dataset(8), callbacks=[EfficiencyCallback(energy=False)]).train()


def evaluation_only(out: Path) -> None:
    """evaluate() alone in a fresh folder: an `evaluated` report."""
    Trainer(model=tiny_bert(), args=training_args(out), eval_dataset=classification_dataset(8, seed=5),
            callbacks=[EfficiencyCallback(energy=False)]).evaluate()


def failed(out: Path) -> None:
    """An exception mid-training: a `failed` report written without collective calls."""
    trainer = Trainer(model=tiny_bert(), args=training_args(out, max_steps=4), train_dataset=classification_dataset(16),
                      callbacks=[EfficiencyCallback(energy=False), FailAtStep(2)])
    with pytest.raises(RuntimeError, match="stopped by the test"):
        trainer.train()


def grpo(out: Path) -> None:
    """GRPO on a tiny causal LM with LoRA and beta > 0: generation, and reference forwards (adapter off), with energy."""
    from trl import GRPOConfig, GRPOTrainer

    from test_ground_truth_packing import word_tokenizer
    from test_ground_truth_trainers import COMMON, words

    rng = random.Random(3)
    dataset = Dataset.from_list([{"prompt": words(rng, rng.randint(2, 4))} for _ in range(4)])
    config = GRPOConfig(output_dir=str(out), num_generations=4, max_completion_length=8, generation_batch_size=4, beta=0.04,
                        gradient_checkpointing=False, **COMMON)
    GRPOTrainer(model=tiny_llama(), reward_funcs=lambda completion_ids, **kwargs: [float(len(c)) for c in completion_ids],
                args=config, train_dataset=dataset, processing_class=word_tokenizer(),
                peft_config=LoraConfig(r=4, target_modules=["q_proj", "v_proj"]), callbacks=[EfficiencyCallback()]).train()


RUNS: dict[str, Callable[[Path], None]] = {"classification": classification, "gradient_checkpointing": gradient_checkpointing,
                                           "evaluation_only": evaluation_only, "failed": failed, "grpo": grpo}
EXPECTED_STATUS = {"evaluation_only": "evaluated", "failed": "failed"}


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> Callable[[str], dict[str, Any]]:
    """The report of run `name`, made once per module."""
    made: dict[str, dict[str, Any]] = {}

    def report(name: str) -> dict[str, Any]:
        if name not in made:
            out = tmp_path_factory.mktemp(name)
            RUNS[name](out)
            made[name] = load_report(out)
        return made[name]

    return report


# ---------------------------------------------------------------------------------------------------- the tests


@pytest.mark.parametrize("name", list(RUNS))
def test_every_key_of_a_real_report_is_declared(reports, name):
    report = reports(name)
    assert report["run"]["status"] == EXPECTED_STATUS.get(name, "completed")
    assert check_against_schema(report) == set()


def test_the_runs_reach_the_paths_they_are_for(reports):
    """Each run writes the figures it is here to check, so an empty result above means something."""
    classification_report, grpo_report = reports("classification"), reports("grpo")
    assert classification_report["time"]["saves"] >= 1 and classification_report["time"]["evaluations"] == 2
    assert classification_report["time"]["evaluations_after_training"] == 1
    assert reports("gradient_checkpointing")["flops"]["recompute_observed"] is True
    assert grpo_report["flops"]["reference_forward_passes"] > 0 and grpo_report["flops"]["generation_flops"] > 0
    assert grpo_report["time"]["generation_calls"] > 0
    assert reports("failed")["run"]["error"] == "RuntimeError: stopped by the test"
    for report, phase in ((classification_report, "save"), (grpo_report, "generation")):  # codecarbon offline
        energy = report["energy"]
        assert energy["status"] == "measured" and energy[phase]["readings"] > 0 or energy["reason"]  # else why not


def test_a_field_missing_from_the_schema_is_found(reports):
    """The walker itself: take two declared fields out of the schema (one in a list's items) and they are reported."""
    schema = copy.deepcopy(SCHEMA)
    del schema["properties"]["flops"]["properties"]["session_flops"]
    del schema["properties"]["memory"]["properties"]["per_rank"]["items"]["properties"]["rank"]
    assert check_against_schema(reports("classification"), schema) == {"flops.session_flops", "memory.per_rank[].rank"}
