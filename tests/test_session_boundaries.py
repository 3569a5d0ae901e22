"""Where a session's phases begin and end: several eval sets, train()'s own logs, evaluate() after train()."""

from __future__ import annotations

import time

import pytest
from transformers import Trainer, TrainerCallback

from foundation_helpers import classification_dataset, tiny_bert, training_args
from peft_efficiency import EfficiencyCallback
from peft_efficiency.report import load_report


def test_every_eval_set_is_kept_and_timed_as_evaluation(tmp_path):
    sets = {"a": classification_dataset(8, seed=5), "b": classification_dataset(8, seed=6)}
    trainer = Trainer(model=tiny_bert(), args=training_args(tmp_path, max_steps=4, eval_strategy="steps", eval_steps=2),
                      train_dataset=classification_dataset(24), eval_dataset=sets,
                      callbacks=[EfficiencyCallback(energy=False, quality_metric="eval_a_loss")])
    trainer.train()
    report = load_report(tmp_path)
    assert {"eval_a_loss", "eval_b_loss"} <= set(report["quality"]["eval"])
    assert report["time"]["evaluations"] == 4  # two sets at steps 2 and 4
    runtimes = sum(e[k] for e in trainer.state.log_history for k in ("eval_a_runtime", "eval_b_runtime") if k in e)
    assert report["time"]["eval_seconds"] >= runtimes


class SlowStepsLoggingLikeTheEnd(TrainerCallback):
    """50 ms more per step (so step time dominates the Trainer's own set-up), and at step 2 a log carrying the keys
    of train()'s final metrics, as a user's own log may."""

    def __init__(self) -> None:
        self.trainer: Trainer | None = None

    def on_step_end(self, args, state, control, **kwargs):
        time.sleep(0.05)
        if state.global_step == 2 and self.trainer is not None:
            self.trainer.log({"train_loss": 1.0, "total_flos": 5.0, "train_runtime": 0.1})


def test_the_end_of_training_is_train_end_not_a_log_key(tmp_path):
    # With include_num_input_tokens_seen every log carries train_runtime; a user's log may carry train_loss and
    # total_flos: none of them ends the measurement.
    slow = SlowStepsLoggingLikeTheEnd()
    trainer = Trainer(model=tiny_bert(), args=training_args(tmp_path, max_steps=8, logging_steps=1,
                                                           include_num_input_tokens_seen="non_padding"),
                      train_dataset=classification_dataset(48), callbacks=[slow, EfficiencyCallback(energy=False)])
    slow.trainer = trainer
    metrics = trainer.train().metrics
    report = load_report(tmp_path)
    assert report["time"]["train_seconds"] >= 8 * 0.05
    assert report["time"]["train_seconds"] == pytest.approx(metrics["train_runtime"], rel=0.1)
    assert report["time"]["samples"] == 8 * 4 and report["time"]["steps"] == 8
    assert metrics["efficiency/train_seconds"] == report["time"]["train_seconds"]


@pytest.mark.requires("transformers>=5.2")  # transformers.trainer.sort_checkpoints
def test_work_after_trains_own_log_is_not_training(tmp_path, monkeypatch):
    """Between train()'s log of its metrics and on_train_end the Trainer loads the best model and cleans up
    checkpoints (here made to take 0.5 s): not training time, though the measurement ends at on_train_end."""
    import transformers.trainer

    sort_checkpoints = transformers.trainer.sort_checkpoints

    def slow_clean_up(*args, **kwargs):
        time.sleep(0.5)
        return sort_checkpoints(*args, **kwargs)

    monkeypatch.setattr(transformers.trainer, "sort_checkpoints", slow_clean_up)
    slow = SlowStepsLoggingLikeTheEnd()
    trainer = Trainer(model=tiny_bert(), args=training_args(tmp_path, max_steps=4), train_dataset=classification_dataset(24),
                      callbacks=[slow, EfficiencyCallback(energy=False)])
    began = time.perf_counter()
    metrics = trainer.train().metrics
    wall = time.perf_counter() - began
    assert wall >= 4 * 0.05 + 0.5
    assert 4 * 0.05 <= metrics["efficiency/train_seconds"] <= metrics["train_runtime"] + 0.01
    assert metrics["train_runtime"] < wall - 0.5


def test_evaluate_after_train_in_the_same_process_adds_to_the_completed_report(tmp_path):
    trainer = Trainer(model=tiny_bert(), args=training_args(tmp_path, max_steps=2), train_dataset=classification_dataset(24),
                      eval_dataset=classification_dataset(8, seed=5), callbacks=[EfficiencyCallback(energy=False)])
    trainer.train()
    trained = load_report(tmp_path)
    metrics = trainer.evaluate()
    after = load_report(tmp_path)
    assert after["run"]["status"] == "completed" and after["time"]["train_seconds"] == trained["time"]["train_seconds"]
    assert after["quality"]["eval"]["eval_loss"] == metrics["eval_loss"]
    assert after["time"]["evaluations_after_training"] == 1


def test_a_model_loaded_from_a_folder_is_named_readably_and_the_task_comes_from_the_environment(tmp_path, monkeypatch):
    from transformers import BertForSequenceClassification

    folder = tmp_path / "models" / "my-tiny-bert"
    tiny_bert().save_pretrained(folder)
    monkeypatch.setenv("PEFT_EFFICIENCY_TASK", "toy-task")
    for card, expected in ((None, "my-tiny-bert"), ("---\nlicense: mit\n---\n# Tiny BERT for tests\n", "Tiny BERT for tests")):
        if card:
            (folder / "README.md").write_text(card, encoding="utf-8")
        out = tmp_path / f"run-{expected}"
        Trainer(model=BertForSequenceClassification.from_pretrained(folder), args=training_args(out, max_steps=1),
                train_dataset=classification_dataset(8), callbacks=[EfficiencyCallback(energy=False)]).train()
        run = load_report(out)["run"]
        assert run["model_name"] == expected and run["task"] == "toy-task"


def test_the_plugins_own_cost_is_reported_and_a_slow_tracker_shows_in_it(tmp_path):
    from peft_efficiency.callbacks.base import MeasurementCallback
    from peft_efficiency.callbacks.measure import Measure

    class SlowMeasure(Measure):
        """A deliberately slow tracker: 20 ms of work at every step end, 30 ms at every log, 300 ms at start, and a
        100 ms read of the live model and optimizer after the first optimizer step (a one-off, like the training state)."""

        name = "slow"

        def live_objects(self, model, optimizer, step):
            time.sleep(0.1)
            self.wants_live_objects = False

        def start(self, args, state, model):
            time.sleep(0.3)
            self.wants_live_objects = True

        def step_end(self, now):
            time.sleep(0.02)

        def measure(self, final, collective):
            if not final:
                time.sleep(0.03)
            return {}

    out = tmp_path / "slow"
    trainer = Trainer(model=tiny_bert(), args=training_args(out, max_steps=5), train_dataset=classification_dataset(24),
                      callbacks=[EfficiencyCallback(energy=False), MeasurementCallback([SlowMeasure()])])
    began = time.perf_counter()
    metrics = trainer.train().metrics
    wall = time.perf_counter() - began
    overhead = load_report(out)["overhead"]
    logs = 2  # steps 2 and 4 (logging_steps=2), then train()'s own log of its metrics
    assert 5 * 0.02 + 0.1 + (logs + 1) * 0.03 <= overhead["overhead_seconds"] < 5 * 0.02 + 0.1 + (logs + 1) * 0.03 + 0.5
    assert 5 * 0.02 + 0.1 <= overhead["step_events_seconds"] < 5 * 0.02 + 0.1 + 0.2  # where the cost is: step ends ...
    assert 0.1 <= overhead["state_read_seconds"] < 0.1 + 0.05  # ... of them the one-off read (the training state's is ~1 ms)
    assert (logs + 1) * 0.03 <= overhead["log_seconds"] < (logs + 1) * 0.03 + 0.2  # ... and logs
    assert overhead["overhead_seconds"] == pytest.approx(
        overhead["step_events_seconds"] + overhead["log_seconds"] + overhead["forward_hook_seconds"])
    assert overhead["startup_seconds"] >= 0.3  # outside train_seconds
    assert overhead["overhead_share"] == pytest.approx(overhead["overhead_seconds"] / load_report(out)["time"]["train_seconds"])
    assert metrics["efficiency/overhead_seconds"] == overhead["overhead_seconds"]
    assert metrics["efficiency/overhead_percent"] == pytest.approx(100 * overhead["overhead_share"])
    assert metrics["efficiency/train_seconds"] <= wall - 0.3  # the slow start-up (inside train()) is not training
