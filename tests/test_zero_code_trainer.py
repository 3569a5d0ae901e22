"""No code change, Trainer side: an unmodified Hugging Face-style script (it never imports peft_efficiency) measured
through `peft-efficiency run` and through `--report_to peft_efficiency`, the `trl sft` command line (with
`--report_to`, and under `run` with LoRA), and `accelerate launch` and `torchrun` with two CPU processes. Every case is a real subprocess of the installed environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from peft_efficiency.report import load_report

BIN = Path(sys.executable).parent  # the environment's console scripts: peft-efficiency, accelerate, trl
pytestmark = pytest.mark.slow

SCRIPT = '''
"""A Hugging Face-style training script that knows nothing of peft-efficiency."""
from dataclasses import dataclass, field

import torch
from transformers import BertConfig, BertForSequenceClassification, HfArgumentParser, Trainer, TrainingArguments


@dataclass
class ScriptArguments:
    num_examples: int = field(default=16, metadata={"help": "size of the random training set"})


class RandomTokens(torch.utils.data.Dataset):
    def __init__(self, n, vocab):
        generator = torch.Generator().manual_seed(0)
        self.input_ids = torch.randint(5, vocab, (n, 12), generator=generator)
        self.labels = torch.randint(0, 2, (n,), generator=generator)

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return {"input_ids": self.input_ids[i], "labels": self.labels[i]}


def main():
    script_args, training_args = HfArgumentParser((ScriptArguments, TrainingArguments)).parse_args_into_dataclasses()
    torch.manual_seed(0)
    config = BertConfig(vocab_size=64, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=32, num_labels=2)
    trainer = Trainer(model=BertForSequenceClassification(config), args=training_args,
                      train_dataset=RandomTokens(script_args.num_examples, config.vocab_size))
    trainer.train()
    if trainer.is_world_process_zero():
        print("CALLBACKS", ",".join(type(c).__name__ for c in trainer.callback_handler.callbacks), flush=True)
    from transformers.integrations.integration_utils import INTEGRATION_TO_CALLBACK

    print("REPORT_TO_KNOWN", "peft_efficiency" in INTEGRATION_TO_CALLBACK, flush=True)
    print("IMPORTED_PEFT_EFFICIENCY_CALLBACKS", "peft_efficiency.callbacks" in __import__("sys").modules, flush=True)


if __name__ == "__main__":
    main()
'''
TRAIN_FLAGS = ["--max_steps", "2", "--per_device_train_batch_size", "4", "--save_strategy", "no",
               "--disable_tqdm", "true", "--use_cpu"]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PEFT_EFFICIENCY_") or k.endswith("DATA_DIR")}
    env.update(PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}", HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1",
               TOKENIZERS_PARALLELISM="false", WANDB_DISABLED="true")
    return {**env, **extra}


def _run(command: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: int = 600):
    done = subprocess.run(command, cwd=cwd, env=env or _env(), capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{command}\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    return done


def _callbacks(stdout: str) -> list[str]:
    return next(line.split()[1].split(",") for line in stdout.splitlines() if line.startswith("CALLBACKS"))


@pytest.fixture()
def script(tmp_path: Path) -> Path:
    path = tmp_path / "train.py"
    path.write_text(SCRIPT, encoding="utf-8")
    return path


def test_run_attaches_one_callback_with_its_options_to_an_unmodified_script(script: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = _run([str(BIN / "peft-efficiency"), "run", "--task", "zc_task", "--method", "full", "--model-name", "tiny-bert",
                 "--no-energy", "--label", "seed=7", "--", "python", str(script), "--output_dir", str(out), *TRAIN_FLAGS],
                cwd=tmp_path)
    assert _callbacks(done.stdout).count("EfficiencyCallback") == 1
    report = load_report(out)
    assert report["run"]["status"] == "completed" and report["time"]["steps"] == 2
    # the options reach EfficiencyCallback() through the PEFT_EFFICIENCY_* variables
    assert (report["run"]["task"], report["run"]["method"], report["run"]["model_name"]) == ("zc_task", "full", "tiny-bert")
    assert report["run"]["labels"] == {"seed": "7"}
    assert report["energy"]["status"] == "disabled"


def test_report_to_peft_efficiency_in_an_unmodified_script(script: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = _run(["python", str(script), "--output_dir", str(out), "--report_to", "peft_efficiency", *TRAIN_FLAGS],
                cwd=tmp_path, env=_env(PEFT_EFFICIENCY_ENERGY="0"))
    assert _callbacks(done.stdout).count("EfficiencyCallback") == 1
    report = load_report(out)
    assert report["run"]["status"] == "completed" and report["params"]["trainable"] > 0


@pytest.mark.requires("transformers>=5.0")  # before 5.0 the default report_to is "all", which includes peft_efficiency
def test_a_process_started_without_run_or_report_to_is_untouched(script: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = _run(["python", str(script), "--output_dir", str(out), *TRAIN_FLAGS], cwd=tmp_path)
    assert "REPORT_TO_KNOWN True" in done.stdout  # the start-up hook ran in this process too, and attached nothing
    assert "EfficiencyCallback" not in _callbacks(done.stdout)
    assert "IMPORTED_PEFT_EFFICIENCY_CALLBACKS False" in done.stdout
    assert not (out / "efficiency_report.json").exists()


PROGRAM = '''
import os, sys
from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments
from peft_efficiency import EfficiencyCallback

def names(trainer):
    return [type(c).__name__ for c in trainer.callback_handler.callbacks]

def measuring(trainer):
    return [c for c in trainer.callback_handler.callbacks if type(c).__name__ == "EfficiencyCallback"]

model = BertForSequenceClassification(BertConfig(vocab_size=32, hidden_size=8, num_hidden_layers=1,
                                                 num_attention_heads=2, intermediate_size=16))
out = sys.argv[1]
listed = Trainer(model=model, args=TrainingArguments(out, report_to=["peft_efficiency", "tensorboard"], use_cpu=True))
assert "TensorBoardCallback" in names(listed) and len(measuring(listed)) == 1, names(listed)

mine = EfficiencyCallback(task="mine")
both = Trainer(model=model, args=TrainingArguments(out, report_to="peft_efficiency", use_cpu=True), callbacks=[mine])
assert measuring(both) == [mine], names(both)

os.environ["PEFT_EFFICIENCY_ATTACH"] = "1"  # what `peft-efficiency run` sets
attached = Trainer(model=model, args=TrainingArguments(out, report_to="none", use_cpu=True))
assert len(measuring(attached)) == 1, names(attached)
late = EfficiencyCallback(task="late")
attached.add_callback(late)
assert measuring(attached) == [late], names(attached)
given = Trainer(model=model, args=TrainingArguments(out, use_cpu=True), callbacks=[EfficiencyCallback])
assert len(measuring(given)) == 1, names(given)
print("ONE PER TRAINER")
'''


def test_report_to_in_a_list_and_never_two_callbacks_in_one_trainer(tmp_path: Path) -> None:
    """report_to=["peft_efficiency", "tensorboard"] works; a callback the user attached (in `callbacks=`, as a class,
    or with add_callback later) replaces the one made by report_to or by run."""
    done = _run([sys.executable, "-c", PROGRAM, str(tmp_path / "out")], cwd=tmp_path, env=_env(PEFT_EFFICIENCY_ENERGY="0"))
    assert "ONE PER TRAINER" in done.stdout


ALL = '''
import sys
from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments
from transformers.integrations import integration_utils
from peft_efficiency import EfficiencyCallback

model = BertForSequenceClassification(BertConfig(vocab_size=32, hidden_size=8, num_hidden_layers=1,
                                                 num_attention_heads=2, intermediate_size=16))
args = TrainingArguments(sys.argv[1], report_to="all", use_cpu=True)
again = TrainingArguments(sys.argv[1], report_to="all", use_cpu=True)  # the same list: not announced twice
print("REPORT_TO", ",".join(args.report_to))
trainer = Trainer(model=model, args=args)
print("MEASURING", sum(type(c).__name__ == "EfficiencyCallback" for c in trainer.callback_handler.callbacks))
mine = EfficiencyCallback(task="mine")
trainer = Trainer(model=model, args=again, callbacks=[mine])
print("MINE_ONLY", [c for c in trainer.callback_handler.callbacks if type(c).__name__ == "EfficiencyCallback"] == [mine])
'''


def test_report_to_all_includes_the_plugin_and_says_what_it_attached(tmp_path: Path) -> None:
    """"all" means every integration installed: transformers' own list (read with the hook off) plus
    peft_efficiency, announced in one log line; a callback the user attached still wins. With the hook off, "all"
    is transformers' list alone and nothing is logged."""
    listing = "from transformers.integrations import integration_utils as u; print(','.join(u.get_available_reporting_integrations()))"
    installed = _run([sys.executable, "-c", listing], tmp_path, _env(PEFT_EFFICIENCY_STARTUP="0")).stdout.strip()
    expected = [name for name in installed.split(",") if name] + ["peft_efficiency"]
    done = _run([sys.executable, "-c", ALL, str(tmp_path / "out")], cwd=tmp_path, env=_env(PEFT_EFFICIENCY_ENERGY="0"))
    assert f"REPORT_TO {','.join(expected)}" in done.stdout
    assert "MEASURING 1" in done.stdout and "MINE_ONLY True" in done.stdout
    announced = [line for line in done.stderr.splitlines() if 'report_to="all"' in line]
    assert announced == [f'peft-efficiency: report_to="all" attaches {", ".join(expected)} (every reporting integration '
                         "installed; peft_efficiency writes <output_dir>/efficiency_report.json); name them in "
                         "report_to to choose"]
    off = _run([sys.executable, "-c", ALL, str(tmp_path / "out")], cwd=tmp_path, env=_env(PEFT_EFFICIENCY_STARTUP="0"))
    assert f"REPORT_TO {installed}\n" in off.stdout and "MEASURING 0" in off.stdout
    assert 'report_to="all"' not in off.stderr


def _sft_folders(tmp_path: Path) -> tuple[Path, Path, Path, int]:
    """(model folder, data folder, output folder, vocabulary size): a tiny Llama with a tokenizer trained on 8
    question/answer texts, saved like any Hub model, and those texts as a `train.jsonl` data set for `trl sft`."""
    from harness_helpers import tiny_llama, tiny_tokenizer

    texts = [f"Q: Who was the first man?\n\nA: Adam, verse {i}" for i in range(8)]
    model_dir, data_dir, out = tmp_path / "tiny-llama", tmp_path / "data", tmp_path / "out"
    tokenizer = tiny_tokenizer(texts * 5)
    tiny_llama(vocab_size=len(tokenizer)).save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    data_dir.mkdir()
    (data_dir / "train.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8")
    return model_dir, data_dir, out, len(tokenizer)


@pytest.mark.requires("trl>=0.23")  # older `trl sft` fetches a chat template from the Hub
def test_trl_sft_command_line_with_report_to(tmp_path: Path) -> None:
    model_dir, data_dir, out, _ = _sft_folders(tmp_path)
    _run(["trl", "sft", "--model_name_or_path", str(model_dir), "--dataset_name", str(data_dir), "--output_dir", str(out),
          "--max_length", "32", "--bf16", "false", "--report_to", "peft_efficiency", *TRAIN_FLAGS],
         cwd=tmp_path, env=_env(PEFT_EFFICIENCY_ENERGY="0"))
    report = load_report(out)
    assert report["run"]["status"] == "completed" and report["time"]["steps"] == 2
    assert report["time"]["tokens"] > 0 and report["params"]["trainable"] == report["params"]["total"]


@pytest.mark.requires("trl>=0.23")  # older `trl sft` fetches a chat template from the Hub
def test_run_trl_sft_with_lora_reports_peft_s_count(tmp_path: Path) -> None:
    """`peft-efficiency run -- trl sft --use_peft ...` with the start-up hook otherwise off: run switches it on for
    the command; the SFTTrainer it builds is measured, with peft's own trainable and total counts."""
    from harness_helpers import tiny_llama
    from peft import LoraConfig, get_peft_model

    model_dir, data_dir, out, vocab_size = _sft_folders(tmp_path)
    _run([str(BIN / "peft-efficiency"), "run", "--no-energy", "--method", "lora", "--", "trl", "sft",
          "--model_name_or_path", str(model_dir), "--dataset_name", str(data_dir), "--output_dir", str(out),
          "--max_length", "32", "--bf16", "false", "--use_peft", "--lora_r", "4", "--lora_alpha", "8",
          "--lora_target_modules", "q_proj", "v_proj", "--report_to", "none", *TRAIN_FLAGS],
         cwd=tmp_path, env=_env(PEFT_EFFICIENCY_STARTUP="0"))
    reference = get_peft_model(tiny_llama(vocab_size=vocab_size),
                               LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"))
    report = load_report(out)
    assert report["run"]["status"] == "completed" and report["run"]["method"] == "lora" and report["time"]["steps"] == 2
    assert [report["params"]["trainable"], report["params"]["total"]] == list(reference.get_nb_trainable_parameters())


def test_run_under_torchrun_with_two_cpu_processes(script: Path, tmp_path: Path) -> None:
    """`peft-efficiency run -- torchrun --nproc_per_node 2 ...` (the hook otherwise off): both workers get the
    callback, one report, the samples summed over ranks."""
    out = tmp_path / "out"
    env = _env(CUDA_VISIBLE_DEVICES="", OMP_NUM_THREADS="1", PEFT_EFFICIENCY_STARTUP="0")
    _run([str(BIN / "peft-efficiency"), "run", "--no-energy", "--", "torchrun", "--standalone", "--nproc_per_node", "2",
          str(script), "--output_dir", str(out), *TRAIN_FLAGS, "--max_steps", "-1", "--num_train_epochs", "1"],
         cwd=tmp_path, env=env)
    report = load_report(out)
    assert report["run"]["status"] == "completed" and report["run"]["world_size"] == 2
    assert [r["rank"] for r in report["memory"]["per_rank"]] == [0, 1]
    assert report["time"]["steps"] == 2 and report["time"]["samples"] == 16


def test_run_under_accelerate_launch_with_two_cpu_processes(script: Path, tmp_path: Path) -> None:
    """`accelerate launch --num_processes 2` alone starts one process on a machine without GPUs; `--multi_gpu` with
    the GPUs hidden and ACCELERATE_USE_CPU starts two gloo workers (as the grid does). One report, ranks summed."""
    out = tmp_path / "out"
    env = _env(CUDA_VISIBLE_DEVICES="", ACCELERATE_USE_CPU="true", OMP_NUM_THREADS="1")
    _run([str(BIN / "peft-efficiency"), "run", "--no-energy", "--", "accelerate", "launch", "--multi_gpu",
          "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
          "--main_process_port", "29547", str(script), "--output_dir", str(out), *TRAIN_FLAGS, "--max_steps", "-1",
          "--num_train_epochs", "1"], cwd=tmp_path, env=env)
    assert sorted(p.name for p in out.iterdir() if p.name.startswith("efficiency_report")) == ["efficiency_report.json"]
    report = load_report(out)
    assert report["run"]["status"] == "completed" and report["run"]["world_size"] == 2
    assert [r["rank"] for r in report["memory"]["per_rank"]] == [0, 1]
    # data parallel: 16 examples in batches of 4 per process make 2 steps of 2 x 4, the samples summed over ranks
    assert report["time"]["steps"] == 2 and report["time"]["samples"] == 16
