"""Time is booked by what ran: another callback's work in on_save / on_evaluate is not training, evaluation or saving;
a predict() inside compute_metrics is not an extra evaluation; a checkpoint state from an older version is either
continued whole or not at all, with a note."""

from __future__ import annotations

import json
import time

import pytest
from transformers import Trainer, TrainerCallback

from foundation_helpers import classification_dataset, tiny_bert, training_args
from peft_efficiency import EfficiencyCallback
from peft_efficiency.callbacks.carried_state import STATE_FILENAME
from peft_efficiency.report import load_report

PAUSE = 0.5


class SlowOtherCallback(TrainerCallback):
    """Another callback: PAUSE seconds of its own work in each save and evaluate event (timed here)."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def _work(self) -> None:
        began = time.perf_counter()
        time.sleep(PAUSE)
        self.seconds += time.perf_counter() - began

    def on_save(self, args, state, control, **kwargs):
        self._work()

    def on_evaluate(self, args, state, control, **kwargs):
        self._work()


def train(output_dir, callbacks, **overrides) -> tuple[Trainer, dict]:
    trainer = Trainer(model=tiny_bert(), args=training_args(output_dir, **overrides), train_dataset=classification_dataset(24),
                      eval_dataset=classification_dataset(8, seed=3), callbacks=callbacks)
    trainer.train()
    return trainer, load_report(output_dir)


@pytest.mark.parametrize("event", ["save", "evaluate"])
def test_another_callbacks_work_is_not_our_phase(tmp_path, event):
    overrides = ({"save_strategy": "steps", "save_steps": 2} if event == "save"
                 else {"eval_strategy": "steps", "eval_steps": 2, "save_strategy": "no"})
    _, plain = train(tmp_path / "plain", [EfficiencyCallback(energy=False)], max_steps=4, **overrides)
    other = SlowOtherCallback()
    _, report = train(tmp_path / "other", [EfficiencyCallback(energy=False), other], max_steps=4, **overrides)
    time_section = report["time"]
    assert other.seconds >= 2 * PAUSE  # two events, timed by the callback itself
    assert time_section["other_callbacks_seconds"] == pytest.approx(other.seconds, abs=0.05)
    # the other callback's 2 x PAUSE booked to training or to our phase would add 1.0 s (as it did before)
    assert time_section["train_seconds"] < plain["time"]["train_seconds"] + PAUSE
    phase = "save_seconds" if event == "save" else "eval_seconds"
    assert time_section[phase] < plain["time"][phase] + PAUSE


class PredictAfterEvaluate(TrainerCallback):
    """A user's extra pass over a test set in each evaluate event (trainer.predict, as a compute_metrics may do)."""

    def __init__(self, test_set) -> None:
        self.test_set, self.trainer, self.predictions = test_set, None, 0

    def on_evaluate(self, args, state, control, **kwargs):
        self.trainer.predict(self.test_set)
        self.predictions += 1


def test_a_predict_in_an_evaluation_is_not_another_evaluation(tmp_path):
    extra = PredictAfterEvaluate(classification_dataset(4, seed=9))
    trainer = Trainer(model=tiny_bert(), args=training_args(tmp_path, max_steps=4, eval_strategy="steps", eval_steps=2),
                      train_dataset=classification_dataset(24), eval_dataset=classification_dataset(8, seed=3),
                      callbacks=[EfficiencyCallback(energy=False), extra])
    extra.trainer = trainer
    trainer.train()
    evaluations = [entry for entry in trainer.state.log_history if "eval_loss" in entry]
    assert extra.predictions == 2
    assert load_report(tmp_path)["time"]["evaluations"] == len(evaluations) == 2


def test_a_checkpoint_state_from_an_older_version_restarts_with_a_note(tmp_path):
    from peft_efficiency.callbacks.carried_state import problems_in
    from peft_efficiency.callbacks.throughput import ThroughputMeasure

    train(tmp_path, [EfficiencyCallback(energy=False)], max_steps=4, save_strategy="steps", save_steps=2)
    state_file = tmp_path / "checkpoint-2" / STATE_FILENAME
    saved = json.loads(state_file.read_text())
    for key in ("steps", "step_time"):  # what a state written before these totals existed lacks
        saved["time"].pop(key)
    state_file.write_text(json.dumps(saved))
    assert problems_in(saved, [ThroughputMeasure()]) == ["'time' lacks steps, step_time (written by an older peft-efficiency)"]
    trainer = Trainer(model=tiny_bert(), args=training_args(tmp_path, max_steps=4, save_strategy="no"),
                      train_dataset=classification_dataset(24), callbacks=[EfficiencyCallback(energy=False)])
    trainer.train(resume_from_checkpoint=str(tmp_path / "checkpoint-2"))
    report = load_report(tmp_path)
    assert "lacks steps, step_time" in report["run"]["resume_note"]
    assert report["time"]["samples"] == 2 * 4 and report["time"]["steps"] == 2  # this session only, all totals alike
