"""Parameter counts and training state of FSDP-sharded models against the same model counted before sharding, and against peft.

accelerate allows FSDP only on GPU-type devices, so the models are wrapped by hand: two CPU processes (torchrun,
gloo), a tiny LoRA BERT under FSDP1 with `use_orig_params=True` and under FSDP2 (`fully_shard`), and a tiny llama
with tied embeddings under FSDP1 without `use_orig_params` (flat parameters). FSDP1 is counted both through the
wrapper and through the model it wrapped, which is what the Trainer hands callbacks (the outer unit, holding the
embeddings and heads, is then outside it), with the other FSDP1 model still alive in the process. Each rank writes
what it counted; the references are `count_parameters` and peft's `get_nb_trainable_parameters()` of the model
before wrapping. After one AdamW step on each LoRA model, each rank reads its training state; the sums over ranks
are checked against hand counts from the model before wrapping.
This file is also the job the two processes run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def _lora_bert():
    from peft import LoraConfig, TaskType, get_peft_model

    from foundation_helpers import tiny_bert

    return get_peft_model(tiny_bert(), LoraConfig(task_type=TaskType.SEQ_CLS, r=4, target_modules=["query", "value"]))


def _figures(count) -> dict:
    return {"trainable": count.trainable, "total": count.total,
            "groups": {name: [group.trainable, group.total] for name, group in count.groups.items()}}


def _local_numel(model) -> int:
    """What this rank holds: the sum of the parameters' local sizes (a shard, if the model is sharded)."""
    return sum(param.to_local().numel() if hasattr(param, "to_local") else param.numel() for param in model.parameters())


def _one_step_state(model) -> dict:
    """One AdamW step on a batch, then this rank's training state as the callback reads it."""
    import torch

    from peft_efficiency.trackers.training_state import GradientProbe, read_training_state

    probe = GradientProbe()
    probe.attach()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(1, 50, (4, 8), generator=generator)
    model(input_ids=ids, attention_mask=torch.ones_like(ids), labels=torch.tensor([0, 1, 0, 1])).loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    state = read_training_state(model, optimizer, probe).to_dict()
    state["trainable_tensors"] = sum(1 for p in model.parameters() if p.requires_grad)
    return state


def _job(output_dir: str) -> None:
    import torch
    import torch.distributed as dist
    from torch.distributed.fsdp import FullyShardedDataParallel, fully_shard
    from torch.distributed.fsdp.wrap import ModuleWrapPolicy
    from transformers.models.bert.modeling_bert import BertLayer
    from transformers.models.llama.modeling_llama import LlamaDecoderLayer

    from foundation_helpers import tiny_llama
    from peft_efficiency import count_parameters

    dist.init_process_group("gloo")
    cpu = torch.device("cpu")
    results = {}

    model = _lora_bert()
    before, peft_figures = count_parameters(model), model.get_nb_trainable_parameters()
    wrapped = FullyShardedDataParallel(model, use_orig_params=True, device_id=cpu, auto_wrap_policy=ModuleWrapPolicy({BertLayer}))
    results["fsdp1_orig_params_lora"] = {"before": _figures(before), "peft": list(peft_figures), "local": _local_numel(wrapped),
                                         "after": _figures(count_parameters(wrapped)), "inner": _figures(count_parameters(model))}
    results["fsdp1_orig_params_lora"]["state"] = _one_step_state(wrapped)
    alive = wrapped  # a second FSDP1 model in the process: its units must not count for the next one

    model = tiny_llama()
    before = count_parameters(model)
    wrapped = FullyShardedDataParallel(model, use_orig_params=False, device_id=cpu, auto_wrap_policy=ModuleWrapPolicy({LlamaDecoderLayer}))
    results["fsdp1_flat_params_llama"] = {"before": _figures(before), "local": _local_numel(wrapped),
                                          "after": _figures(count_parameters(wrapped)), "inner": _figures(count_parameters(model))}
    results["fsdp1_orig_params_lora"]["inner_again"] = _figures(count_parameters(alive.module))

    model = _lora_bert()
    before, peft_figures = count_parameters(model), model.get_nb_trainable_parameters()
    for layer in model.base_model.model.bert.encoder.layer:
        fully_shard(layer)
    fully_shard(model)
    results["fsdp2_lora"] = {"before": _figures(before), "peft": list(peft_figures),
                             "after": _figures(count_parameters(model)), "local": _local_numel(model),
                             "state": _one_step_state(model)}

    Path(output_dir, f"rank{dist.get_rank()}.json").write_text(json.dumps(results))
    dist.barrier()
    dist.destroy_process_group()


@pytest.fixture(scope="module")
def sharded_counts(tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("fsdp_counts")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), str(REPO_ROOT / "tests")])}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", __file__, str(output_dir)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return [json.loads((output_dir / f"rank{rank}.json").read_text()) for rank in (0, 1)]


@pytest.mark.slow
@pytest.mark.parametrize("case", ["fsdp1_orig_params_lora", "fsdp1_flat_params_llama"])
def test_fsdp1_counts_are_the_unsharded_models(sharded_counts, case):
    for rank_results in sharded_counts:
        result = rank_results[case]
        assert result["local"] < result["before"]["total"]  # the rank really holds a shard only
        assert result["after"] == result["before"]  # trainable, total and every group
        assert result["inner"] == result["before"]  # the wrapped model, as Trainer callbacks get it
        assert result.get("inner_again", result["before"]) == result["before"]
        if "peft" in result:
            assert [result["after"]["trainable"], result["after"]["total"]] == result["peft"]


@pytest.mark.slow
def test_fsdp1_and_fsdp2_count_the_same_lora_model(sharded_counts):
    for rank_results in sharded_counts:
        fsdp1, fsdp2 = rank_results["fsdp1_orig_params_lora"], rank_results["fsdp2_lora"]
        assert fsdp2["local"] < fsdp2["before"]["total"]
        assert fsdp1["after"] == fsdp2["after"] == fsdp2["before"]
        assert [fsdp2["after"]["trainable"], fsdp2["after"]["total"]] == fsdp2["peft"]


@pytest.mark.slow
@pytest.mark.parametrize("case", ["fsdp1_orig_params_lora", "fsdp2_lora"])
def test_sharded_training_state_sums_to_the_hand_count(sharded_counts, case):
    """Each rank counts its shard; summed over the two ranks: fp32 weights 4 bytes x every parameter of the unsharded
    model, gradients 4 x every trainable one, AdamW's two moments 4 x every trainable one each (hand counts from
    the counts before sharding; FSDP2's DTensors report the whole tensor from numel(), so a wrong count doubles)."""
    states = [rank_results[case]["state"] for rank_results in sharded_counts]
    before = sharded_counts[0][case]["before"]
    assert sum(s["weights_bytes"] for s in states) == 4 * before["total"]
    assert sum(s["trainable_weights_bytes"] for s in states) == 4 * before["trainable"]
    assert sum(s["gradients_bytes"] for s in states) == 4 * before["trainable"]
    for moment in ("exp_avg", "exp_avg_sq"):
        assert sum(s["optimizer_state_by_key"][moment] for s in states) == 4 * before["trainable"]
    assert all(0 < s["weights_bytes"] < 4 * before["total"] for s in states)  # each rank holds a shard only
    if case == "fsdp2_lora":  # every LoRA tensor has rows on both ranks: one 4-byte step tensor per tensor per rank
        assert all(s["optimizer_state_by_key"]["step"] == 4 * s["trainable_tensors"] for s in states)


if __name__ == "__main__":
    _job(sys.argv[1])
