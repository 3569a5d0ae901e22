"""EfficiencyCallback and each concern's callback on tiny Trainer runs; figures checked against values worked out
from the data set and the config, and the report checked against its JSON Schema."""

from __future__ import annotations

import json

import jsonschema
import pytest
from transformers import Trainer

from foundation_helpers import classification_dataset, lengths, tiny_bert, training_args
from peft_efficiency import EfficiencyCallback
from peft_efficiency.callbacks import EnergyCallback, FlopsCallback, MemoryCallback, ParameterCallback, ThroughputCallback
from peft_efficiency.report import SCHEMA_PATH, load_report
from test_params import BERT_TOTAL

N = 24
TOKENS_PER_EPOCH = sum(lengths(N))
REQUIRED_METRICS = ["efficiency/trainable_params", "efficiency/total_params", "efficiency/trainable_percent",
                    "efficiency/train_seconds", "efficiency/samples_per_second", "efficiency/tokens_per_second",
                    "efficiency/peak_memory_bytes", "efficiency/energy_joules", "efficiency/co2_grams", "efficiency/flops"]


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("full")
    args = training_args(out, num_train_epochs=2, eval_strategy="epoch", save_strategy="epoch")
    trainer = Trainer(model=tiny_bert(), args=args, train_dataset=classification_dataset(N), eval_dataset=classification_dataset(8, seed=5),
                      callbacks=[EfficiencyCallback(task="toy", labels={"case": "full_run"})])
    result = trainer.train()
    return trainer, result, load_report(out)


def test_required_metrics_in_train_metrics_and_log_history(full_run):
    trainer, result, _ = full_run
    for key in REQUIRED_METRICS:
        assert key in result.metrics, key
        assert trainer.state.log_history[-1][key] == result.metrics[key]
    assert result.metrics["efficiency/trainable_params"] == BERT_TOTAL
    assert result.metrics["efficiency/trainable_percent"] == 100.0
    periodic = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert periodic and all("efficiency/train_seconds" in entry for entry in periodic)


def test_counts_and_times_match_the_data(full_run):
    trainer, result, report = full_run
    time = report["time"]
    assert time["samples"] == 2 * N
    assert time["tokens"] == 2 * TOKENS_PER_EPOCH
    assert time["steps"] == trainer.state.global_step == 2 * (N // 4)
    assert time["warmup_steps"] == 1 and time["step_seconds_median"] <= time["step_seconds_p90"]
    assert time["evaluations"] == 2 and time["saves"] == 2
    assert 0 < time["eval_seconds"] and 0 < time["save_seconds"]
    assert time["train_seconds"] + time["eval_seconds"] + time["save_seconds"] <= result.metrics["train_runtime"] + 0.05
    assert time["samples_per_second"] == pytest.approx(2 * N / time["train_seconds"])
    assert time["tokens_per_second"] == pytest.approx(2 * TOKENS_PER_EPOCH / time["train_seconds"])


def test_flops_match_torchs_flop_counter_over_a_whole_training_run(tmp_path):
    # Ground truth: FlopCounterMode around train() counts every matmul the forward and backward passes run (eager
    # attention, so the attention matmuls are visible to it); the estimate counts non-padding tokens, so the data
    # here is unpadded (every row as long as the longest).
    from torch.utils.flop_counter import FlopCounterMode
    from transformers import BertConfig, BertForSequenceClassification

    model = BertForSequenceClassification(BertConfig(vocab_size=64, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                                     intermediate_size=37, max_position_embeddings=12, attn_implementation="eager"))
    data = classification_dataset(N).map(lambda row: {"attention_mask": [1] * len(row["input_ids"])})
    trainer = Trainer(model=model, args=training_args(tmp_path, max_steps=4), train_dataset=data,
                      callbacks=[EfficiencyCallback(energy=False)])
    with FlopCounterMode(display=False) as counter:
        trainer.train()
    report = load_report(tmp_path)
    assert report["flops"]["flops"] == pytest.approx(counter.get_total_flops(), rel=0.01)
    assert report["flops"]["trainer_total_flos"] == trainer.state.total_flos
    assert report["flops"]["mfu"] is None and "mfu" in report["flops"]["unavailable"]


def test_report_is_valid_and_complete(full_run):
    _, _, report = full_run
    jsonschema.validate(report, json.loads(SCHEMA_PATH.read_text()))
    assert report["run"]["status"] == "completed"
    assert (report["run"]["method"], report["run"]["task"], report["run"]["labels"]) == ("full", "toy", {"case": "full_run"})
    assert report["params"]["trainable"] == report["params"]["total"] == BERT_TOTAL
    assert [entry["epoch"] for entry in report["quality"]["history"]] == [1.0, 2.0]
    assert "eval_loss" in report["quality"]["eval"]
    assert report["memory"]["per_rank"][0]["peak_rss_bytes"] == report["memory"]["peak_memory_bytes"] > 0
    assert report["environment"]["packages"]["transformers"]
    energy = report["energy"]
    if energy["status"] == "measured":
        assert energy["energy_kwh"] > 0 and energy["eval"]["energy_kwh"] > 0 and energy["sources"]
        assert energy["train"]["energy_kwh"] == pytest.approx(energy["train"]["cpu_kwh"] + energy["train"]["gpu_kwh"] + energy["train"]["ram_kwh"])
        assert energy["save"]["energy_kwh"] > 0 and energy["save"]["readings"] >= 2  # two checkpoints, booked apart
    else:
        assert energy["reason"]


def test_evaluate_after_training_lands_in_quality(full_run, tmp_path):
    trainer, _, _ = full_run
    metrics = trainer.evaluate()
    report = load_report(trainer.args.output_dir)
    assert report["quality"]["eval"]["eval_loss"] == metrics["eval_loss"]


ALONE = {
    ParameterCallback: ("params", ["efficiency/trainable_params"]),
    ThroughputCallback: ("time", ["efficiency/train_seconds", "efficiency/tokens_per_second"]),
    MemoryCallback: ("memory", ["efficiency/peak_memory_bytes"]),
    FlopsCallback: ("flops", ["efficiency/flops"]),
    EnergyCallback: ("energy", ["efficiency/energy_joules"]),
}


@pytest.mark.parametrize("callback_cls", list(ALONE), ids=lambda c: c.__name__)
def test_each_callback_works_alone(callback_cls, tmp_path):
    section, keys = ALONE[callback_cls]
    trainer = Trainer(model=tiny_bert(), args=training_args(tmp_path, max_steps=3), train_dataset=classification_dataset(N),
                      callbacks=[callback_cls()])
    metrics = trainer.train().metrics
    ours = {k for k in metrics if k.startswith("efficiency/") and not k.startswith("efficiency/overhead_")}
    assert set(keys) <= ours or callback_cls is EnergyCallback
    assert metrics["efficiency/overhead_seconds"] > 0  # the plugin's own cost, whatever it measures
    others = {s for c, (s, _) in ALONE.items() if c is not callback_cls}
    report = load_report(tmp_path)
    assert report["run"]["status"] == "completed" and report[section]
    for other in others - {section}:  # sections nothing measured: null figures with the reason
        reason = report[other].get("reason") or report[other]["unavailable"]["section"]
        assert reason.startswith("not measured: no ") and reason.endswith("(or EfficiencyCallback) was attached")
    jsonschema.validate(report, json.loads(SCHEMA_PATH.read_text()))
    if callback_cls is ParameterCallback:
        assert ours == {"efficiency/trainable_params", "efficiency/total_params", "efficiency/trainable_percent"}


def test_two_standalone_callbacks_share_one_report(tmp_path):
    trainer = Trainer(model=tiny_bert(), args=training_args(tmp_path, max_steps=3), train_dataset=classification_dataset(N),
                      callbacks=[ParameterCallback(), ThroughputCallback()])
    trainer.train()
    report = load_report(tmp_path)
    assert report["params"]["trainable"] == BERT_TOTAL and report["time"]["samples"] == 3 * 4
