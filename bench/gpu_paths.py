"""GPU paths against independent measurement: CUDA memory, activation peak, eval memory apart, bf16 FLOPs/MFU,
NVML energy and QLoRA's 4-bit weights. Run on a CUDA machine; prints one line per check and writes JSON.

    python bench/gpu_paths.py --out gpu_paths.json

Each check trains a BERT built from a config (no weights to download) with `EfficiencyCallback` and compares a
report figure with a reference measured without the plugin:

- training state: hand counts (4 bytes per fp32 weight and gradient, AdamW 8 bytes per weight + a 4-byte step per
  tensor; QLoRA: half a byte per 4-bit weight, from the Linear4bit shapes);
- activation peak: one optimizer step of the same model and batch done by hand, peak allocated minus what is held
  before the step;
- evaluation memory: a 512 MiB tensor held only during evaluation must raise the eval peak, not the training peak;
- FLOPs: torch's FlopCounterMode over one hand-run bf16 forward + backward, times the steps;
- energy: NVML's total-energy counter read before and after `train()`.

`--allow-cpu` runs the same code on CPU with small sizes (the CUDA-only references are then skipped): for
checking this script, not the figures.
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import math
import sys
import tempfile
import time
from typing import Any, Callable

import torch
from torch.utils.data import Dataset
from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainerCallback, TrainingArguments

from peft_efficiency import EfficiencyCallback, load_report

MIB = 2**20
RESULTS: list[dict[str, Any]] = []


class RandomTokens(Dataset):
    """`rows` fixed-length rows of random token ids (no padding) with random binary labels."""

    def __init__(self, vocab: int, rows: int, length: int, seed: int = 0) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.ids = torch.randint(5, vocab, (rows, length), generator=generator)
        self.labels = torch.randint(0, 2, (rows,), generator=generator)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self.ids[i], "attention_mask": torch.ones_like(self.ids[i]), "labels": self.labels[i]}


def bert(hidden: int, layers: int, vocab: int, seed: int = 0) -> BertForSequenceClassification:
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=max(hidden // 64, 1),
                        intermediate_size=4 * hidden, max_position_embeddings=512, num_labels=2)
    return BertForSequenceClassification(config)


def record(check: str, measured: Any, reference: Any, note: str = "") -> None:
    ratio = measured / reference if isinstance(measured, (int, float)) and isinstance(reference, (int, float)) and reference else None
    RESULTS.append({"check": check, "report": measured, "reference": reference, "ratio": ratio, "note": note})
    shown = f"{ratio:.4f}" if ratio is not None else "n/a"
    print(f"{check:<44} report={measured!s:<22} reference={reference!s:<22} ratio={shown}  {note}", flush=True)


def train(model: torch.nn.Module, data: Dataset, folder: str, steps: int, batch: int, *, bf16: bool = False,
          energy: bool = False, eval_data: Dataset | None = None, extra: dict | None = None,
          callbacks: list | None = None, **trainer_kwargs: Any) -> tuple[Trainer, dict, float]:
    args = TrainingArguments(output_dir=folder, per_device_train_batch_size=batch, per_device_eval_batch_size=batch,
                             max_steps=steps, learning_rate=1e-4, logging_steps=10, save_strategy="no", report_to=[],
                             bf16=bf16, eval_strategy="steps" if eval_data is not None else "no", eval_steps=steps // 2,
                             disable_tqdm=True, use_cpu=not torch.cuda.is_available(), **(extra or {}))
    callback = EfficiencyCallback(energy=energy, country_iso_code="USA", measure_power_seconds=5.0)
    trainer = Trainer(model=model, args=args, train_dataset=data, eval_dataset=eval_data,
                      callbacks=[callback, *(callbacks or [])], **trainer_kwargs)
    started = time.perf_counter()
    trainer.train()
    return trainer, load_report(folder), time.perf_counter() - started


def one_step_by_hand(model: torch.nn.Module, data: Dataset, batch: int, optimizer_factory: Callable) -> dict[str, int]:
    """Peak allocated during one optimizer step done by hand, and what is held before it (after a warm-up step)."""
    device = torch.device("cuda")
    model = model.to(device).train()
    optimizer = optimizer_factory(model)
    rows = [data[i] for i in range(batch)]
    inputs = {k: torch.stack([r[k] for r in rows]).to(device) for k in rows[0]}
    for measured in (False, True):
        optimizer.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
        if measured:
            torch.cuda.reset_peak_memory_stats()
            held = torch.cuda.memory_allocated()
        model(**inputs).loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)  # as the Trainer does (max_grad_norm 1.0)
        optimizer.step()
        if measured:
            torch.cuda.synchronize()
            peak = torch.cuda.max_memory_allocated()
            gradients = sum(p.grad.numel() * p.grad.element_size() for p in model.parameters() if p.grad is not None)
    optimizer.zero_grad(set_to_none=True)
    del optimizer, model, inputs
    torch.cuda.empty_cache()
    return {"held_before_step": held, "peak": peak, "gradients": gradients}


def check_training_state_and_activations(on_cuda: bool, folder: str) -> None:
    hidden, layers, vocab, length, batch, steps = (256, 4, 1000, 256, 32, 20) if on_cuda else (64, 2, 300, 32, 4, 6)
    data = RandomTokens(vocab, batch * steps, length)
    model = bert(hidden, layers, vocab)
    reference_model = copy.deepcopy(model)
    n, tensors = sum(p.numel() for p in model.parameters()), len(list(model.parameters()))
    trainer, report, _ = train(model, data, folder, steps, batch)
    memory = report["memory"]
    record("full fp32: weights bytes", memory["weights_bytes"], 4 * n, f"{n:,} parameters x 4")
    record("full fp32: gradients bytes", memory["gradients_bytes"], 4 * n)
    record("full fp32: AdamW state bytes", memory["optimizer_state_bytes"], 8 * n + 4 * tensors,
           f"exp_avg + exp_avg_sq + a 4-byte step per tensor; optimizer {trainer.args.optim}")
    if not on_cuda:
        return
    fused = "fused" in str(trainer.args.optim)
    del trainer, model  # the reference step runs alone on the device
    gc.collect()
    torch.cuda.empty_cache()
    by_hand = one_step_by_hand(reference_model, data, batch,
                               lambda m: torch.optim.AdamW(m.parameters(), lr=1e-4, weight_decay=0.0, fused=fused))
    state = 4 * n + 4 * n + 8 * n + 4 * tensors  # weights, gradients, AdamW state: the hand counts above
    extra = by_hand["held_before_step"] - (4 * n + 8 * n + 4 * tensors)
    record("full fp32: CUDA training peak allocated", memory["peak_memory_bytes"], by_hand["peak"],
           "reference: one optimizer step by hand, same model and batch")
    record("full fp32: activation peak", memory["activation_peak_bytes"], by_hand["peak"] - state,
           f"reference: hand step's peak - hand-counted state; of it {extra / MIB:.1f} MiB was already allocated "
           "before the step beyond weights and optimizer state (library workspaces, e.g. cuBLAS)")
    devices = memory["per_rank"][0]["cuda_devices"]
    record("per-device rows / devices holding params", len(devices), torch.cuda.device_count(),
           f"holds_parameters={[d['holds_parameters'] for d in devices]}")


class HoldDuringEvaluation(TrainerCallback):
    """Holds a CUDA tensor from the first evaluation batch until the evaluation ends."""

    def __init__(self, nbytes: int) -> None:
        self.nbytes, self.held = nbytes, None

    def preprocess(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if self.held is None:
            self.held = torch.ones(self.nbytes, dtype=torch.uint8, device=logits.device)
        return logits

    def on_evaluate(self, args, state, control, **kwargs):  # noqa: ANN001
        self.held = None


def check_eval_memory_apart(on_cuda: bool, folder: str, train_peak_alone: int | None) -> None:
    hidden, layers, vocab, length, batch, steps = (256, 4, 1000, 256, 32, 20) if on_cuda else (64, 2, 300, 32, 4, 6)
    hold = HoldDuringEvaluation(512 * MIB)
    data = RandomTokens(vocab, batch * steps, length)
    _, report, _ = train(bert(hidden, layers, vocab), data, folder, steps, batch, eval_data=RandomTokens(vocab, 2 * batch, length, 1),
                         callbacks=[hold], preprocess_logits_for_metrics=hold.preprocess,
                         compute_metrics=lambda prediction: {"rows": float(len(prediction.label_ids))})
    memory = report["memory"]
    record("eval peak >= 512 MiB held in evaluation", memory["eval_peak_memory_bytes"], 512 * MIB,
           "512 MiB held only while evaluating: the ratio must be above 1")
    if train_peak_alone is not None:
        record("training peak unchanged by evaluation", memory["peak_memory_bytes"], train_peak_alone,
               "reference: the same training without evaluation")


def flops_by_counter(model: torch.nn.Module, data: Dataset, batch: int, bf16: bool) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    device = next(model.parameters()).device
    rows = [data[i] for i in range(batch)]
    inputs = {k: torch.stack([r[k] for r in rows]).to(device) for k in rows[0]}
    with FlopCounterMode(display=False) as counter:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = model(**inputs).loss
        loss.backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def nvml_energy_mj() -> Callable[[], int] | None:
    try:
        import pynvml

        pynvml.nvmlInit()
        handle = pynvml.nvmlDeviceGetHandleByIndex(torch.cuda.current_device())
        pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)
        return lambda: pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)
    except Exception as exc:  # noqa: BLE001
        print(f"NVML total energy counter not readable: {exc}", flush=True)
        return None


def check_bf16_flops_and_energy(on_cuda: bool, folder: str, steps: int) -> None:
    hidden, layers, vocab, length, batch = (768, 12, 30522, 512, 32) if on_cuda else (64, 2, 300, 32, 4)
    steps = steps if on_cuda else 6
    data = RandomTokens(vocab, batch * steps, length)
    model = bert(hidden, layers, vocab)
    reference = copy.deepcopy(model).to("cuda" if on_cuda else "cpu")
    per_step = flops_by_counter(reference, data, batch, bf16=on_cuda)
    del reference
    energy = nvml_energy_mj() if on_cuda else None
    before = energy() if energy else None
    _, report, wall = train(model, data, folder, steps, batch, bf16=on_cuda, energy=True)
    after = energy() if energy else None
    flops = report["flops"]
    record("bf16 FLOPs computed (no padding here)", flops["flops_computed"], per_step * steps,
           "reference: FlopCounterMode over one step x steps")
    record("bf16 FLOPs needed (report flops)", flops["flops"], per_step * steps,
           "below 1 by the scores a fused attention backward recomputes (1 of its 5 matmuls)")
    train_seconds = report["time"]["train_seconds"]
    record("MFU (report)", flops.get("mfu"), (per_step * steps / train_seconds / 989e12) if on_cuda else None,
           f"reference: counter FLOPs / train_seconds / 989 TFLOP/s; device {torch.cuda.get_device_name() if on_cuda else 'cpu'}; "
           f"median step {report['time'].get('step_seconds_median')} s; peak used {flops.get('device_peak_flops_per_second')}")
    section = report["energy"]
    train_part = section.get("train") or {}
    record("energy status", section.get("status"), "measured", f"{section.get('reason')}; {section.get('sources')}")
    if before is not None and after is not None:
        gpu_kwh = train_part.get("gpu_kwh")
        record("GPU energy train (kWh) vs NVML counter", gpu_kwh, (after - before) / 3.6e9,
               f"NVML window is the whole train() ({wall:.1f} s), the report's the training phase "
               f"({train_seconds:.1f} s)")


def check_qlora(folder: str) -> None:
    from peft_efficiency.methods import model_load_kwargs, prepare_model
    from transformers import AutoModelForSequenceClassification

    hidden, layers, vocab, length, batch, steps = 256, 4, 1000, 128, 16, 30
    base = f"{folder}/base"
    bert(hidden, layers, vocab).save_pretrained(base)
    model = AutoModelForSequenceClassification.from_pretrained(base, **model_load_kwargs("qlora"))
    import bitsandbytes as bnb

    packed = sum(m.in_features * m.out_features // 2 for m in model.modules() if isinstance(m, bnb.nn.Linear4bit))
    model = prepare_model(model, "qlora")
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    data = RandomTokens(vocab, batch * steps, length)
    _, report, _ = train(model, data, f"{folder}/run", steps, batch, bf16=True)
    memory = report["memory"]
    frozen = memory["training_state"]["per_rank"][0]["weights_by_dtype"]["frozen"]
    record("qlora: frozen uint8 bytes (4-bit as stored)", frozen.get("uint8"), packed,
           "reference: in*out/2 over the Linear4bit modules")
    record("qlora: trainable parameters", report["params"]["trainable"], trainable, "reference: requires_grad numel")
    record("qlora: optimizer state bytes", memory["optimizer_state_bytes"],
           8 * trainable + 4 * sum(1 for p in model.parameters() if p.requires_grad), "AdamW on the fp32 adapters")
    record("qlora: status", report["run"]["status"], "completed", f"peak {memory['peak_memory_bytes']} bytes")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="gpu_paths.json")
    parser.add_argument("--energy-steps", type=int, default=300, help="steps of the bf16 BERT-base run (energy, FLOPs)")
    parser.add_argument("--allow-cpu", action="store_true", help="run on CPU at small sizes (checks this script only)")
    args = parser.parse_args()
    on_cuda = torch.cuda.is_available()
    if not on_cuda and not args.allow_cpu:
        print("gpu_paths: no CUDA device is visible; run it on a GPU machine (or --allow-cpu to check the script)")
        return 2
    print(f"torch {torch.__version__}, device {torch.cuda.get_device_name() if on_cuda else 'cpu'}", flush=True)
    checks = [("training state and activations", lambda d: check_training_state_and_activations(on_cuda, d))]
    checks.append(("eval memory apart", lambda d: check_eval_memory_apart(on_cuda, d, _training_peak())))
    checks.append(("bf16 FLOPs, MFU and energy", lambda d: check_bf16_flops_and_energy(on_cuda, d, args.energy_steps)))
    if on_cuda:
        checks.append(("qlora", check_qlora))
    failures = 0
    for name, check in checks:
        with tempfile.TemporaryDirectory() as folder:
            try:
                check(folder)
            except Exception as exc:  # noqa: BLE001 - one broken check must not hide the others
                failures += 1
                import traceback

                traceback.print_exc()
                RESULTS.append({"check": name, "error": f"{type(exc).__name__}: {exc}"})
        if on_cuda:
            torch.cuda.empty_cache()
    with open(args.out, "w", encoding="utf-8") as fh:
        json.dump(RESULTS, fh, indent=1, default=str)
    off = [r for r in RESULTS if r.get("ratio") is not None and not math.isclose(r["ratio"], 1.0, rel_tol=0.05)]
    print(f"{len(RESULTS)} results, {failures} checks raised, {len(off)} ratios off by more than 5%", flush=True)
    return 1 if failures else 0


def _training_peak() -> int | None:
    return next((r["report"] for r in RESULTS if r["check"] == "full fp32: CUDA training peak allocated"), None)


if __name__ == "__main__":
    sys.exit(main())
