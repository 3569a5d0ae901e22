"""Inputs without `input_ids`: images, audio, embeddings and a custom keyword, trained by a plain Trainer. Ground
truth: the data set's rows, the model's own patch count and feature-encoder lengths (transformers' functions, not
the plugin's), the attention masks, and torch's FlopCounterMode. A figure the plugin cannot define is absent with
a reason naming the inputs, never 0."""

from __future__ import annotations

import random

import pytest
import torch
from datasets import Dataset
from torch.utils.flop_counter import FlopCounterMode
from transformers import Trainer

from foundation_helpers import tiny_llama, training_args
from peft_efficiency import EfficiencyCallback
from peft_efficiency.report import load_report

ROWS = 12


def run(model, dataset: Dataset, output_dir, **overrides) -> tuple[dict, dict, float]:
    trainer = Trainer(model=model, args=training_args(output_dir, **overrides), train_dataset=dataset,
                      callbacks=[EfficiencyCallback(energy=False)])
    with FlopCounterMode(display=False) as mode:
        metrics = trainer.train().metrics
    return load_report(output_dir), metrics, float(mode.get_total_flops())


def test_vision_counts_images_and_their_patches(tmp_path):
    from transformers import ViTConfig, ViTForImageClassification

    torch.manual_seed(0)
    model = ViTForImageClassification(ViTConfig(image_size=16, patch_size=4, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                                intermediate_size=37, num_labels=2))
    generator = torch.Generator().manual_seed(0)
    dataset = Dataset.from_list([{"pixel_values": torch.rand(3, 16, 16, generator=generator).tolist(), "labels": i % 2}
                                 for i in range(ROWS)])
    report, metrics, _ = run(model, dataset, tmp_path)
    patches = model.vit.embeddings.patch_embeddings.num_patches  # the model's own count: 16
    time_section = report["time"]
    assert time_section["samples"] == ROWS and metrics["efficiency/samples_per_second"] > 0
    assert time_section["tokens"] == ROWS * patches == 192
    assert time_section["input_kinds"] == {"image patches": ROWS // 4}
    assert "image patches" in time_section["tokens_are"]
    assert time_section["samples_are"] == "images (rows of pixel_values)"
    assert report["flops"]["flops"] is None and "image patches" in report["flops"]["unavailable"]["flops"]
    assert "efficiency/flops" not in metrics


def test_audio_counts_clips_and_the_frames_of_each_clip(tmp_path):
    from transformers import Wav2Vec2Config, Wav2Vec2ForSequenceClassification

    torch.manual_seed(0)
    config = Wav2Vec2Config(vocab_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37,
                            conv_dim=(8, 8), conv_kernel=(10, 3), conv_stride=(5, 2), num_feat_extract_layers=2, num_labels=2,
                            feat_extract_norm="layer", do_stable_layer_norm=True, num_conv_pos_embeddings=4,
                            num_conv_pos_embedding_groups=2, apply_spec_augment=False)
    model = Wav2Vec2ForSequenceClassification(config)
    rng = random.Random(0)
    lengths = [rng.randint(150, 400) for _ in range(ROWS)]
    dataset = Dataset.from_list([{"input_values": [rng.uniform(-1, 1) for _ in range(n)] + [0.0] * (400 - n),
                                  "attention_mask": [1] * n + [0] * (400 - n), "labels": i % 2} for i, n in enumerate(lengths)])
    report, metrics, _ = run(model, dataset, tmp_path)
    frames = model._get_feat_extract_output_lengths(torch.tensor(lengths))  # transformers' own formula
    assert report["time"]["samples"] == ROWS
    assert report["time"]["tokens"] == int(frames.sum())
    assert "audio frames" in report["time"]["tokens_are"]
    assert report["time"]["samples_are"] == "audio clips (rows of input_values)"
    assert metrics["efficiency/tokens_per_second"] > 0


class FeaturesRegressor(torch.nn.Module):
    """A model with a keyword of its own: `forward(features=..., labels=...)`."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))

    def forward(self, features: torch.Tensor, labels: torch.Tensor | None = None) -> dict:
        prediction = self.layers(features).squeeze(-1)
        return {"loss": torch.nn.functional.mse_loss(prediction, labels), "logits": prediction}


def test_a_custom_keyword_counts_rows_and_says_why_there_are_no_tokens(tmp_path):
    torch.manual_seed(0)
    rng = random.Random(1)
    dataset = Dataset.from_list([{"features": [rng.random() for _ in range(6)], "labels": rng.random()} for _ in range(ROWS)])
    report, metrics, _ = run(FeaturesRegressor(), dataset, tmp_path)
    time_section = report["time"]
    assert time_section["samples"] == ROWS and metrics["efficiency/samples_per_second"] > 0
    assert time_section["tokens"] is None and time_section["tokens_per_second"] is None
    assert "features" in time_section["unavailable"]["tokens_per_second"]
    assert time_section["samples_are"] == "rows of the batch dimension of the training inputs"
    assert "efficiency/tokens_per_second" not in metrics  # absent, never 0
    assert report["flops"]["flops"] is None and "rows only" in report["flops"]["unavailable"]["flops"]
    assert report["params"]["trainable"] == 6 * 16 + 16 + 16 + 1


def test_inputs_embeds_are_text_tokens_with_flops(tmp_path):
    model = tiny_llama(attn_implementation="eager")
    rng = random.Random(2)
    rows = []
    for _ in range(ROWS):
        length = rng.randint(3, 10)
        ids = [rng.randint(1, 63) for _ in range(length)] + [0] * (10 - length)
        embeds = model.get_input_embeddings()(torch.tensor(ids)).detach()
        rows.append({"inputs_embeds": embeds.tolist(), "attention_mask": [1] * length + [0] * (10 - length),
                     "labels": ids[:length] + [-100] * (10 - length)})
    dataset = Dataset.from_list(rows)
    report, _, measured = run(model, dataset, tmp_path)
    assert report["time"]["samples"] == ROWS
    assert report["time"]["tokens"] == sum(sum(row["attention_mask"]) for row in rows)
    assert report["flops"]["flops_computed"] == pytest.approx(measured, rel=0.01)  # padded positions: what ran


def test_a_forward_with_no_tensor_leaves_samples_absent_with_the_keys(tmp_path):
    from peft_efficiency.trackers.tokens import BatchCounter

    counter = BatchCounter()
    model = torch.nn.Linear(2, 2).train()
    counter._hook(model, (), {"inputs": [1, 2], "flag": True})
    described = counter.describe()
    assert "flag, inputs" in described["unavailable"]["samples"]
    assert counter.read_counts().samples == 0
