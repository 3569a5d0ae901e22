"""The FLOPs estimate's inputs and arithmetic for PEFT models, against counts worked out from the config."""

from __future__ import annotations

import pytest
from peft import get_peft_model

from foundation_helpers import tiny_bert
from peft_efficiency.trackers.flops import device_peak_flops_per_second, estimate_training_flops, flops_profile
from test_params import H, I, L, PEFT_CASES

MATMUL = L * (4 * H * H + 2 * H * I) + H * H + H * 2  # q,k,v,o, intermediate, output; pooler; classifier


def test_lora_counts_adapter_matmuls_as_the_only_trainable_ones():
    profile = flops_profile(get_peft_model(tiny_bert(), PEFT_CASES["lora"][0]))
    lora = L * 2 * 4 * (H + H)  # r=4 on query and value
    # the classifier exists twice (frozen original + trainable modules_to_save copy); only the copy runs;
    # each wrapped layer counts once (its base Linear), not again for peft's wrapper
    assert profile.weights.trainable == lora + H * 2
    assert profile.weights.total == MATMUL + lora
    assert (profile.layers, profile.hidden, profile.virtual_tokens) == (L, H, 0)


def test_prompt_tuning_adds_virtual_tokens_that_run_through_the_layers():
    profile = flops_profile(get_peft_model(tiny_bert(), PEFT_CASES["prompt"][0]))
    assert (profile.virtual_tokens, profile.virtual_through_layers) == (5, True)
    samples, tokens = 2, 10
    result = estimate_training_flops(profile, samples, tokens)
    positions = tokens / samples + 5
    forward = 2 * profile.weights.total + 4 * L * positions * H
    assert result["tokens_effective"] == tokens + samples * 5
    assert result["flops"] == pytest.approx((tokens + samples * 5) * (2 * forward + 2 * profile.weights.trainable))


def test_prefix_tuning_adds_key_value_positions_only():
    profile = flops_profile(get_peft_model(tiny_bert(), PEFT_CASES["prefix"][0]))
    assert (profile.virtual_tokens, profile.virtual_through_layers) == (5, False)
    assert estimate_training_flops(profile, 2, 10)["tokens_effective"] == 10


def test_device_peaks():
    assert device_peak_flops_per_second("NVIDIA H100 80GB HBM3", half_precision=True) == 989e12
    assert device_peak_flops_per_second("NVIDIA A100-SXM4-40GB", half_precision=False) == 19.5e12
    assert device_peak_flops_per_second(None, half_precision=True) is None
