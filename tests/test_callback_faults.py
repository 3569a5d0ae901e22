"""Bad input and faults: codecarbon missing or raising, train() raising or interrupted, an unwritable output_dir,
a model with nothing to train. Each ends in one clear message or a complete report with the right status."""

from __future__ import annotations

import sys

import pytest
from transformers import Trainer, TrainerCallback

from foundation_helpers import classification_dataset, tiny_bert, training_args
from peft_efficiency import EfficiencyCallback
from peft_efficiency.report import load_report

BATCH = 4


def run(tmp_path, callbacks=(), model=None, **args):
    trainer = Trainer(model=model or tiny_bert(), args=training_args(tmp_path, **args), train_dataset=classification_dataset(24),
                      callbacks=[EfficiencyCallback(), *callbacks])
    return trainer, trainer.train


class RaiseAtStep(TrainerCallback):
    def __init__(self, step: int, exc: BaseException) -> None:
        self.step, self.exc = step, exc

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise self.exc


class FakeTracker:
    """A codecarbon tracker that raises where it is told to."""

    fail_at = "start"

    def __init__(self, **kwargs):
        pass

    def start_task(self, name=None):
        if self.fail_at == "start":
            raise RuntimeError("no power meter")

    def stop_task(self, name=None):
        raise RuntimeError("meter vanished")

    def stop(self):
        return None


def test_codecarbon_missing_leaves_energy_unavailable(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "codecarbon", None)  # makes `import codecarbon` raise ImportError
    _, train = run(tmp_path, max_steps=2)
    metrics = train().metrics
    energy = load_report(tmp_path)["energy"]
    assert energy["status"] == "unavailable" and "pip install 'peft-efficiency[carbon]'" in energy["reason"]
    assert energy["energy_kwh"] is None and "efficiency/energy_joules" not in metrics
    assert metrics["efficiency/train_seconds"] > 0


@pytest.mark.parametrize("fail_at, words", [("start", "at start: RuntimeError: no power meter"), ("stop", "while reading energy (checkpoint or end of training): RuntimeError: meter vanished")])
def test_codecarbon_raising_does_not_break_training(tmp_path, monkeypatch, fail_at, words):
    import codecarbon

    monkeypatch.setattr(FakeTracker, "fail_at", fail_at)
    monkeypatch.setattr(codecarbon, "OfflineEmissionsTracker", FakeTracker)
    _, train = run(tmp_path, max_steps=2)
    assert train().metrics["efficiency/trainable_params"] > 0
    report = load_report(tmp_path)
    assert report["run"]["status"] == "completed"
    assert report["energy"]["status"] == "unavailable" and words in report["energy"]["reason"]


@pytest.mark.parametrize("exc, status", [(RuntimeError("disk on fire"), "failed"), (KeyboardInterrupt(), "interrupted")])
def test_train_raising_mid_epoch_leaves_a_report(tmp_path, exc, status):
    _, train = run(tmp_path, callbacks=[RaiseAtStep(3, exc)], max_steps=6)
    with pytest.raises(type(exc)):
        train()
    report = load_report(tmp_path)
    assert report["run"]["status"] == status
    assert report["run"]["error"].startswith(type(exc).__name__)
    assert report["time"]["samples"] == 3 * BATCH  # three steps of four samples had run
    assert report["time"]["train_seconds"] > 0 and report["params"]["trainable"] > 0
    assert report["memory"]["peak_memory_bytes"] > 0


def test_unwritable_report_warns_once_and_training_finishes(tmp_path, recwarn):
    # (The Trainer itself refuses an output_dir it cannot create; tests run as root, so permissions do not
    # block writes: a folder standing where the report file should be makes every write fail.)
    (tmp_path / "efficiency_report.json").mkdir()
    _, train = run(tmp_path, max_steps=2)
    metrics = train().metrics
    messages = [str(w.message) for w in recwarn if "cannot write the run report" in str(w.message)]
    assert len(messages) == 1 and "Fix: make output_dir writable" in messages[0]
    assert metrics["efficiency/train_seconds"] > 0


def test_model_without_trainable_parameters(tmp_path):
    model = tiny_bert()
    model.requires_grad_(False)
    _, train = run(tmp_path, model=model, max_steps=2)
    with pytest.raises(ValueError, match="has no trainable parameters .*Fix: wrap it with peft.get_peft_model"):
        train()
