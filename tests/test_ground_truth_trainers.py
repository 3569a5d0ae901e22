"""Every trl trainer counts what it trained, against counts made without the plugin: trl's tokenized data set, a
grad-mode probe of the test's own on the model's input, trl's own logged token counts and completion lengths, and
torch's FlopCounterMode over the whole train() call (training forward + backward, plus the forwards that were not
trained: reference log-probs, generation)."""

from __future__ import annotations

import random

import pytest
import torch
from datasets import Dataset
from peft import LoraConfig
from torch.utils.flop_counter import FlopCounterMode

from foundation_helpers import VOCAB, tiny_llama
from peft_efficiency import EfficiencyCallback
from peft_efficiency.report import load_report
from test_ground_truth_packing import word_tokenizer

pytestmark = pytest.mark.slow
# The DPO, reward and KTO tests read trl's own tokenized columns (prompt_ids, chosen_ids, rejected_ids), which trl
# names so from 1.0 on; the GRPO test runs on every supported trl.
TRL_TOKENIZED_COLUMNS = pytest.mark.requires("trl>=1.0")
LORA = dict(r=4, target_modules=["q_proj", "v_proj"])
COMMON = dict(per_device_train_batch_size=4, num_train_epochs=1, report_to=[], use_cpu=True, save_strategy="no",
              disable_tqdm=True, logging_steps=1, seed=0, dataloader_num_workers=0)


def words(rng: random.Random, n: int) -> str:
    return " ".join(f"w{rng.randint(3, VOCAB - 1)}" for _ in range(n))


class GradProbe:
    """The test's own count at the model's input: rows and mask tokens of forwards with and without gradients."""

    def __init__(self) -> None:
        self.trained_rows = self.trained_tokens = self.untrained_rows = 0

    def __call__(self, module, args, kwargs) -> None:
        if not module.training or "input_ids" not in kwargs:
            return
        rows = kwargs["input_ids"].shape[0]
        tokens = int(kwargs["attention_mask"].sum()) if kwargs.get("attention_mask") is not None else kwargs["input_ids"].numel()
        if torch.is_grad_enabled():
            self.trained_rows += rows
            self.trained_tokens += tokens
        else:
            self.untrained_rows += rows


def train(trainer) -> tuple[dict, float, list[dict]]:
    with FlopCounterMode(display=False) as mode:
        trainer.train()
    return load_report(trainer.args.output_dir), float(mode.get_total_flops()), trainer.state.log_history


def last_logged(history: list[dict], key: str) -> float:
    return [entry[key] for entry in history if key in entry][-1]


def preference_pairs(n: int = 8) -> Dataset:
    """Equal lengths everywhere (3-word prompts, 2-word completions): no padding, so FLOPs compare exactly."""
    rng = random.Random(0)
    return Dataset.from_list([{"prompt": words(rng, 3), "chosen": " " + words(rng, 2), "rejected": " " + words(rng, 2)} for _ in range(n)])


@TRL_TOKENIZED_COLUMNS
@pytest.mark.parametrize("reference", ["adapter-off", "ref_model"])
def test_dpo_counts_pairs_and_keeps_the_reference_forward_apart(tmp_path, reference):
    from trl import DPOConfig, DPOTrainer

    model, probe = tiny_llama(attn_implementation="eager"), GradProbe()
    model.register_forward_pre_hook(probe, with_kwargs=True)
    extra = dict(peft_config=LoraConfig(**LORA)) if reference == "adapter-off" else dict(ref_model=tiny_llama(seed=1, attn_implementation="eager"))
    trainer = DPOTrainer(model=model, args=DPOConfig(output_dir=str(tmp_path), **COMMON), train_dataset=preference_pairs(),
                         processing_class=word_tokenizer(), callbacks=[EfficiencyCallback(energy=False)], **extra)
    report, measured, history = train(trainer)
    dataset = trainer.train_dataset
    pairs = len(dataset)
    tokens = sum(2 * len(row["prompt_ids"]) + len(row["chosen_ids"]) + len(row["rejected_ids"]) for row in dataset)
    assert report["time"]["samples"] == pairs == probe.trained_rows // 2  # a pair is two rows of one batch
    assert report["time"]["tokens"] == tokens == probe.trained_tokens == last_logged(history, "num_tokens")
    flops = report["flops"]
    assert flops["reference_forward_passes"] == 2  # one per step, never trained
    assert flops["gradient_checkpointing"] and flops["recompute_observed"]  # trl's default: the hardware reran layers
    # torch counted the training forward + backward, the recomputation and the reference forward. 4%: trl's fused
    # log-prob head scores width - 1 positions per row where the formula counts the head on every position
    # (counting the reference forward as training, as before, was 35% over)
    assert flops["flops_hardware"] + flops["reference_flops"] == pytest.approx(measured, rel=0.04)
    assert flops["reference_flops"] == pytest.approx(flops["flops_forward"], rel=0.05)  # the same rows, forward only


@TRL_TOKENIZED_COLUMNS
def test_reward_trainer_counts_pairs(tmp_path):
    from transformers import LlamaConfig, LlamaForSequenceClassification
    from trl import RewardConfig, RewardTrainer

    rng = random.Random(1)
    dataset = Dataset.from_list([{"chosen": words(rng, rng.randint(2, 6)), "rejected": words(rng, rng.randint(2, 6))}
                                 for _ in range(8)])
    torch.manual_seed(0)
    model = LlamaForSequenceClassification(LlamaConfig(vocab_size=VOCAB, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                                                       num_attention_heads=4, num_key_value_heads=2, num_labels=1, pad_token_id=0))
    trainer = RewardTrainer(model=model, args=RewardConfig(output_dir=str(tmp_path), **COMMON), train_dataset=dataset,
                            processing_class=word_tokenizer(), callbacks=[EfficiencyCallback(energy=False)])
    report, _, history = train(trainer)
    tokens = sum(len(row["chosen_ids"]) + len(row["rejected_ids"]) for row in trainer.train_dataset)
    assert report["time"]["samples"] == len(dataset) == 8
    assert report["time"]["tokens"] == tokens == last_logged(history, "num_tokens")
    assert report["time"]["samples_are"].startswith("preference pairs")
    assert "reference_forward_passes" not in report["flops"]  # a reward model has no reference


@TRL_TOKENIZED_COLUMNS
def test_kto_counts_examples_not_its_kl_and_reference_forwards(tmp_path):
    from trl import KTOConfig, KTOTrainer

    rng = random.Random(2)
    dataset = Dataset.from_list([{"prompt": words(rng, 3), "completion": " " + words(rng, rng.randint(1, 4)), "label": i % 2 == 0}
                                 for i in range(8)])
    model, probe = tiny_llama(attn_implementation="eager"), GradProbe()
    model.register_forward_pre_hook(probe, with_kwargs=True)
    trainer = KTOTrainer(model=model, args=KTOConfig(output_dir=str(tmp_path), **COMMON), train_dataset=dataset,
                         processing_class=word_tokenizer(), peft_config=LoraConfig(**LORA),
                         callbacks=[EfficiencyCallback(energy=False)])
    report, _, history = train(trainer)
    assert report["time"]["samples"] == len(dataset) == probe.trained_rows
    assert report["time"]["tokens"] == probe.trained_tokens == last_logged(history, "num_tokens")
    assert probe.untrained_rows > 0 and report["flops"]["reference_flops"] > 0  # KL and reference forwards, apart


def test_grpo_books_generation_apart(tmp_path):
    from trl import GRPOConfig, GRPOTrainer

    rng = random.Random(3)
    dataset = Dataset.from_list([{"prompt": words(rng, rng.randint(2, 4))} for _ in range(4)])
    model, probe = tiny_llama(attn_implementation="eager"), GradProbe()
    model.register_forward_pre_hook(probe, with_kwargs=True)
    generated_lengths: list[int] = []
    eos = word_tokenizer().eos_token_id

    def reward(completion_ids, **kwargs):  # trl hands the completions it trains on: the test's own count
        generated_lengths.extend(len(ids) for ids in completion_ids)
        return [float(len(ids)) for ids in completion_ids]

    config = GRPOConfig(output_dir=str(tmp_path), num_generations=4, max_completion_length=8, generation_batch_size=4,
                        gradient_checkpointing=False, **{**COMMON, "num_train_epochs": 1})
    trainer = GRPOTrainer(model=model, reward_funcs=reward, args=config, train_dataset=dataset,
                          processing_class=word_tokenizer(), callbacks=[EfficiencyCallback(energy=False)])
    report, measured, history = train(trainer)
    time_section, flops = report["time"], report["flops"]
    completions = len(generated_lengths)
    assert time_section["samples"] == completions == probe.trained_rows  # the completions trained on, not generate()'s rows
    assert time_section["tokens"] == probe.trained_tokens == last_logged(history, "num_tokens")
    assert time_section["generated_tokens"] == sum(generated_lengths)
    assert time_section["generation_rows"] == completions and time_section["generation_calls"] == trainer.state.global_step
    logged = [e["completions/mean_length"] for e in history if "completions/mean_length" in e]
    assert sum(logged) * 4 == pytest.approx(sum(generated_lengths))
    assert 0 < time_section["generation_share"] < 1
    assert time_section["generation_seconds"] + time_section["train_seconds"] <= report["time"]["train_seconds"] + \
        time_section["generation_seconds"] + 1e-9
    # everything torch counted: training forward + backward, and generation's forwards (prefill + decode). 5%: trl
    # passes logits_to_keep, so the output head scores the completion positions only, where the formula counts it
    # on every position (counting generation's forwards as training, as before, was 4 times over)
    assert flops["flops_computed"] + flops["generation_flops"] == pytest.approx(measured, rel=0.05)
    assert eos is not None
