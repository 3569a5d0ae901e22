"""Training state in bytes (issue 10) against hand counts from the tiny BERT's config, and against the live tensors.

The model: BertConfig(vocab 64, hidden 32, 2 layers, intermediate 37, max positions 16, 2 labels), float32.
Parameter tensors and elements, worked out by hand:

| part                      | tensors | elements                                                     |
|---------------------------|--------:|--------------------------------------------------------------|
| embeddings                |       5 | word 64x32 = 2048, position 16x32 = 512, type 2x32 = 64, LN 64 |
| one layer                 |      16 | q/k/v 3x(32x32+32) = 3168, attn out 1056 + LN 64, inter 32x37+37 = 1221, out 37x32+32 = 1216, LN 64: 6789 |
| pooler                    |       2 | 32x32+32 = 1056                                              |
| classifier                |       2 | 32x2+2 = 66                                                  |
| total                     |      41 | 2688 + 2x6789 + 1056 + 66 = 17388                            |

Optimizer state, per trainable tensor of n float32 elements: AdamW exp_avg + exp_avg_sq = 2 x 4n bytes plus a
4-byte float32 `step` tensor; SGD with momentum a 4n-byte momentum_buffer; transformers' Adafactor (Trainer
optim "adafactor", beta1 None) a row factor (r) and a column factor (c) for an r x c matrix, or exp_avg_sq (n) for
a vector, plus a 4-byte RMS tensor (its `step` is a Python int, not a tensor). Gradients: one float32 tensor per
trainable tensor, 4n bytes. Ground truth besides the hand counts: the `.grad` tensors the test itself reads just
before the optimizer step, and `optimizer.state` read by the test.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import jsonschema
import pytest
import torch
from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainerCallback

from foundation_helpers import classification_dataset, training_args
from peft_efficiency.callbacks import MemoryCallback
from peft_efficiency.callbacks.memory import MemoryMeasure
from peft_efficiency.callbacks.session import RunSession
from peft_efficiency.methods import prepare_model
from peft_efficiency.report import REPORT_SCHEMA_VERSION, SCHEMA_PATH, load_report

TOTAL = 17_388
TENSORS = 41
LAYER = 6_789
F32 = 4


def bert(seed: int = 0) -> BertForSequenceClassification:
    torch.manual_seed(seed)
    return BertForSequenceClassification(BertConfig(vocab_size=64, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                                    intermediate_size=37, max_position_embeddings=16, num_labels=2))


# method -> (options, trainable elements, trainable tensors, extra frozen/added elements beyond the base model)
METHODS = {
    "full": (None, TOTAL, TENSORS, 0),
    # r 2 on query and value of both layers: A 2x32 + B 32x2 = 128 per module, 4 modules; plus peft's trainable copy
    # of the classifier (66, 2 tensors), whose original stays frozen.
    "lora": ({"r": 2, "target_modules": ["query", "value"], "lora_dropout": 0.0}, 4 * 128 + 66, 4 * 2 + 2, 4 * 128 + 66),
    # 4 virtual tokens x 32 = 128 (1 tensor), plus the classifier copy
    "prompt": ({"num_virtual_tokens": 4}, 128 + 66, 1 + 2, 128 + 66),
    # every bias: embeddings LN 32; per layer q/k/v 96 + attn out 32 + LN 32 + inter 37 + out 32 + LN 32 = 261;
    # pooler 32; classifier 2 -> 588 in 1 + 2 x 8 + 1 + 1 = 19 tensors; plus the head's weight 64 (1 tensor)
    "bitfit": (None, 32 + 2 * 261 + 32 + 2 + 64, 1 + 2 * 8 + 1 + 1 + 1, 0),
    # the top layer (6789, 16 tensors) and the head (classifier 66, 2 tensors); the pooler is in the backbone
    "top_k_layers": ({"k": 1}, LAYER + 66, 16 + 2, 0),
}


class GradReadings(TrainerCallback):
    """Ground truth: the bytes of every .grad, and optimizer.state tensors, read by the test itself."""

    def __init__(self) -> None:
        self.grad_bytes: list[int] = []
        self.state_bytes: list[int] = []

    def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
        self.grad_bytes.append(sum(p.grad.numel() * p.grad.element_size() for p in model.parameters() if p.grad is not None))

    def on_optimizer_step(self, args, state, control, optimizer=None, **kwargs):
        self.state_bytes.append(sum(v.numel() * v.element_size() for s in optimizer.state.values() for v in s.values()
                                    if torch.is_tensor(v)))


def train(out, model, steps: int = 2, readings: TrainerCallback | None = None, **overrides):
    args = training_args(out, max_steps=steps, **overrides)
    trainer = Trainer(model=model, args=args, train_dataset=classification_dataset(24),
                      callbacks=[MemoryCallback()] + ([readings] if readings else []))
    metrics = trainer.train().metrics
    return trainer, metrics, load_report(out)["memory"]


@pytest.mark.parametrize("method", list(METHODS))
def test_adamw_per_method_matches_the_hand_count(method, tmp_path):
    options, trainable, tensors, added = METHODS[method]
    model = prepare_model(bert(), method, options)
    readings = GradReadings()
    _, metrics, memory = train(tmp_path, model, readings=readings)
    weights = (TOTAL + added) * F32
    gradients = trainable * F32
    optimizer = 2 * trainable * F32 + tensors * F32  # exp_avg + exp_avg_sq, and a 4-byte step per tensor
    assert memory["weights_bytes"] == weights
    assert memory["trainable_weights_bytes"] == gradients and memory["frozen_weights_bytes"] == weights - gradients
    assert memory["gradients_bytes"] == gradients == readings.grad_bytes[0]
    assert memory["optimizer_state_bytes"] == optimizer == readings.state_bytes[0]
    assert memory["training_state_bytes"] == weights + gradients + optimizer
    assert memory["training_state"]["optimizer_state_by_key"] == {"step": tensors * F32, "exp_avg": gradients, "exp_avg_sq": gradients}
    assert memory["training_state"]["per_rank"][0]["weights_by_dtype"]["trainable"] == {"float32": gradients}
    for key in ("weights_bytes", "gradients_bytes", "optimizer_state_bytes", "training_state_bytes"):
        assert metrics[f"efficiency/{key}"] == memory[key]
    assert "efficiency/activation_peak_bytes" not in metrics
    assert memory["activation_peak_bytes"] is None and "CUDA only" in memory["unavailable"]["activation_peak_bytes"]


def test_sgd_with_momentum_is_one_buffer_per_parameter(tmp_path):
    model = bert()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    trainer = Trainer(model=model, args=training_args(tmp_path, max_steps=2), train_dataset=classification_dataset(24),
                      callbacks=[MemoryCallback()], optimizers=(optimizer, None))
    trainer.train()
    memory = load_report(tmp_path)["memory"]
    assert memory["optimizer_state_bytes"] == TOTAL * F32
    assert memory["training_state_bytes"] == 3 * TOTAL * F32 == 208_656
    assert memory["training_state"]["optimizer"] == "SGD"


def test_adafactor_is_factored(tmp_path):
    # elements of the factors: each r x c matrix r + c, each vector n.
    embeddings = (64 + 32) + (16 + 32) + (2 + 32) + 32 + 32  # word, position, type, LN weight and bias = 242
    layer = 4 * (32 + 32) + 2 * (37 + 32) + 3 * 32 + 32 + 64 + 37 + 32 + 64  # 4 square, inter/out, biases, LNs = 719
    heads = (32 + 32) + 32 + (2 + 32) + 2  # pooler, classifier = 132
    elements = embeddings + 2 * layer + heads
    assert elements == 1_812
    _, _, memory = train(tmp_path, bert(), optim="adafactor")
    assert memory["optimizer_state_bytes"] == (elements + TENSORS) * F32  # + a 4-byte RMS tensor per parameter
    assert set(memory["training_state"]["optimizer_state_by_key"]) == {"exp_avg_sq_row", "exp_avg_sq_col", "exp_avg_sq", "RMS"}
    assert memory["gradients_bytes"] == TOTAL * F32


def test_8bit_adamw_where_bitsandbytes_runs(tmp_path):
    pytest.importorskip("bitsandbytes", reason="bitsandbytes is not installed here (and needs a CUDA device)")
    if not torch.cuda.is_available():
        pytest.skip("bitsandbytes' 8-bit optimizers need a CUDA device")
    import bitsandbytes as bnb

    layer = torch.nn.Linear(64, 128, bias=False).cuda()  # 8192 elements: above bnb's 4096-element 8-bit threshold
    optimizer = bnb.optim.AdamW8bit(layer.parameters(), lr=1e-3)
    layer(torch.randn(4, 64, device="cuda")).sum().backward()
    optimizer.step()
    from peft_efficiency.trackers.training_state import optimizer_state_bytes

    _, by_key, _, why = optimizer_state_bytes(optimizer)
    assert why is None
    assert by_key["state1"] == by_key["state2"] == 8192  # one byte per element for each moment
    assert by_key["qmap1"] == by_key["qmap2"] == 256 * F32  # the 256-entry quantization maps


def test_gradient_accumulation_does_not_change_the_figures(tmp_path):
    _, _, once = train(tmp_path / "one", bert(), per_device_train_batch_size=4)
    _, _, accumulated = train(tmp_path / "two", bert(), per_device_train_batch_size=2, gradient_accumulation_steps=2)
    for key in ("weights_bytes", "gradients_bytes", "optimizer_state_bytes", "training_state_bytes"):
        assert accumulated[key] == once[key]
    assert once["gradients_bytes"] == TOTAL * F32


def test_read_again_after_resuming_from_a_checkpoint(tmp_path):
    train(tmp_path, bert(), steps=2, save_strategy="steps", save_steps=2)
    args = training_args(tmp_path, max_steps=4, save_strategy="no")
    trainer = Trainer(model=bert(), args=args, train_dataset=classification_dataset(24), callbacks=[MemoryCallback()])
    trainer.train(resume_from_checkpoint=str(tmp_path / "checkpoint-2"))
    report = load_report(tmp_path)
    memory = report["memory"]
    assert memory["training_state"]["measured_at_step"] == 3  # the first optimizer step of the resumed session
    assert memory["optimizer_state_bytes"] == 2 * TOTAL * F32 + TENSORS * F32
    assert memory["training_state_bytes"] == TOTAL * F32 * 4 + TENSORS * F32
    assert report["schema_version"] == REPORT_SCHEMA_VERSION
    jsonschema.validate(report, json.loads(SCHEMA_PATH.read_text()))


class ListHistorySGD(torch.optim.SGD):
    """A custom optimizer whose state also keeps a Python list of past learning rates (not a tensor)."""

    def step(self, closure=None):
        loss = super().step(closure)
        for group in self.param_groups:
            for p in group["params"]:
                self.state[p].setdefault("lr_history", []).append(group["lr"])
        return loss


def test_non_tensor_optimizer_state_is_absent_with_the_reason_and_training_untouched(tmp_path):
    def run(callbacks):
        model = bert()
        optimizer = ListHistorySGD(model.parameters(), lr=0.05, momentum=0.9)
        out = tmp_path / str(len(callbacks))
        Trainer(model=model, args=training_args(out, max_steps=3), train_dataset=classification_dataset(24),
                callbacks=callbacks, optimizers=(optimizer, None)).train()
        return model, out

    plain, _ = run([])
    measured, out = run([MemoryCallback()])
    for a, b in zip(plain.parameters(), measured.parameters()):
        assert torch.equal(a, b)
    memory = load_report(out)["memory"]
    assert memory["optimizer_state_bytes"] is None and memory["training_state_bytes"] is None
    assert memory["unavailable"]["optimizer_state_bytes"] == ("ListHistorySGD.state['lr_history'] is a list, not a tensor; "
                                                              "its memory cannot be counted")
    assert memory["weights_bytes"] == memory["gradients_bytes"] == TOTAL * F32


def _memory_measure_in_a_session(tmp_path, model) -> tuple[RunSession, MemoryMeasure]:
    """A MemoryMeasure started in a session of its own on a CPU model, driven by hand (no Trainer)."""
    session = RunSession(str(tmp_path), owner=None, is_main=False)
    measure = MemoryMeasure()
    session.join(measure, SimpleNamespace(device=torch.device("cpu")), SimpleNamespace(global_step=0), model)
    return session, measure


def test_an_optimizer_created_lazily_is_waited_for(tmp_path):
    model = bert()
    session, measure = _memory_measure_in_a_session(tmp_path, model)
    batch = classification_dataset(4).with_format("torch")[:]
    model(**batch).loss.backward()
    measure.live_objects(model, None, 1)  # the Trainer had no optimizer yet
    figures = measure.measure(final=False, collective=False)
    assert figures["efficiency/optimizer_state_bytes"] is None and measure.wants_live_objects
    assert "created lazily" in session.sections["memory"]["unavailable"]["training_state_bytes"]
    optimizer = torch.optim.AdamW(model.parameters())
    optimizer.step()
    measure.live_objects(model, optimizer, 2)
    figures = measure.measure(final=True, collective=True)
    assert not measure.wants_live_objects
    assert figures["efficiency/training_state_bytes"] == 4 * TOTAL * F32 + TENSORS * F32
    measure.close()


def test_a_skipped_first_step_is_waited_for(tmp_path):
    """fp16's GradScaler skips optimizer.step() when the gradients overflow, and the Trainer still ends the step:
    AdamW then holds no state yet, so the reading waits for the first step the optimizer really takes."""
    model = bert()
    session, measure = _memory_measure_in_a_session(tmp_path, model)
    optimizer = torch.optim.AdamW(model.parameters())
    model(**classification_dataset(4).with_format("torch")[:]).loss.backward()
    measure.live_objects(model, optimizer, 1)  # step 1 skipped: optimizer.step() did not run
    figures = measure.measure(final=False, collective=False)
    assert figures["efficiency/optimizer_state_bytes"] is None and measure.wants_live_objects
    assert "skipped step" in session.sections["memory"]["unavailable"]["training_state_bytes"]
    optimizer.step()
    measure.live_objects(model, optimizer, 2)
    figures = measure.measure(final=True, collective=True)
    assert not measure.wants_live_objects
    assert figures["efficiency/training_state_bytes"] == 4 * TOTAL * F32 + TENSORS * F32
    measure.close()
