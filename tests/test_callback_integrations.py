"""Where figures land (TensorBoard event files), SFTTrainer, resuming from checkpoints, and 2 CPU processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from transformers import Trainer

from foundation_helpers import VOCAB, causal_dataset, classification_dataset, lengths, tiny_bert, tiny_llama, training_args
from peft_efficiency import EfficiencyCallback
from peft_efficiency.report import load_report
from test_params import BERT_TOTAL

N = 24
TOKENS_PER_EPOCH = sum(lengths(N))


@pytest.mark.requires("transformers>=5.0")  # TENSORBOARD_LOGGING_DIR
def test_figures_reach_tensorboard_event_files(tmp_path, monkeypatch):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    monkeypatch.setenv("TENSORBOARD_LOGGING_DIR", str(tmp_path / "tb"))
    args = training_args(tmp_path, max_steps=4, report_to=["tensorboard"])
    Trainer(model=tiny_bert(), args=args, train_dataset=classification_dataset(N), callbacks=[EfficiencyCallback(energy=False)]).train()
    accumulator = EventAccumulator(str(tmp_path / "tb"))
    accumulator.Reload()
    scalars = accumulator.Tags()["scalars"]
    assert "train/efficiency/trainable_params" in scalars and "train/efficiency/tokens_per_second" in scalars
    assert accumulator.Scalars("train/efficiency/trainable_params")[-1].value == BERT_TOTAL
    # train()'s own log reaches the backends before on_train_end ends the measurement (setting its end back to that
    # log): its figures agree with each other, with the exact token count and, to the moment, with the report's
    tokens_per_second = accumulator.Scalars("train/efficiency/tokens_per_second")[-1].value
    seconds = accumulator.Scalars("train/efficiency/train_seconds")[-1].value
    report = load_report(tmp_path)
    assert tokens_per_second * seconds == pytest.approx(report["time"]["tokens"], rel=1e-5)  # event files hold float32
    assert seconds == pytest.approx(report["time"]["train_seconds"], abs=0.01)


def word_tokenizer():
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import WhitespaceSplit
    from transformers import PreTrainedTokenizerFast

    vocab = {"[PAD]": 0, "[UNK]": 1, "[EOS]": 2, **{f"w{i}": i for i in range(3, VOCAB)}}
    tokenizer = Tokenizer(WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="[PAD]", unk_token="[UNK]", eos_token="[EOS]")


def test_sft_trainer_with_lora_on_a_llama(tmp_path):
    from peft import LoraConfig, get_peft_model
    from trl import SFTConfig, SFTTrainer

    model = get_peft_model(tiny_llama(), LoraConfig(r=4, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"))
    dataset = causal_dataset(16).remove_columns(["labels", "attention_mask"])
    dataset = dataset.map(lambda row: {"input_ids": [t for t in row["input_ids"] if t != 0]})
    config = SFTConfig(output_dir=str(tmp_path), per_device_train_batch_size=4, num_train_epochs=1, logging_steps=2, report_to=[],
                       use_cpu=True, save_strategy="steps", save_steps=4, disable_tqdm=True, max_length=32)
    trainer = SFTTrainer(model=model, args=config, train_dataset=dataset, processing_class=word_tokenizer(),
                         callbacks=[EfficiencyCallback(task="toy-sft")])
    metrics = trainer.train().metrics
    report = load_report(tmp_path)
    assert metrics["efficiency/trainable_params"] == model.get_nb_trainable_parameters()[0]
    assert report["run"]["method"] == "lora"
    assert report["params"]["adapter_bytes"] == (tmp_path / "checkpoint-4" / "adapter_model.safetensors").stat().st_size
    assert report["time"]["samples"] == 16
    assert report["time"]["tokens"] == sum(lengths(16))  # a tokenized data set is used as is (no EOS added)


def test_resume_continues_the_totals(tmp_path):
    def trainer(callbacks):
        args = training_args(tmp_path, num_train_epochs=2, save_strategy="steps", save_steps=6)
        return Trainer(model=tiny_bert(), args=args, train_dataset=classification_dataset(N), callbacks=callbacks)

    trainer([EfficiencyCallback(energy=False)]).train()
    first = load_report(tmp_path)
    trainer([EfficiencyCallback(energy=False)]).train(resume_from_checkpoint=str(tmp_path / "checkpoint-6"))
    resumed = load_report(tmp_path)
    assert resumed["run"]["sessions"] == 2 and resumed["run"]["resumed_from_checkpoint"].endswith("checkpoint-6")
    assert resumed["time"]["samples"] == 2 * N == first["time"]["samples"]
    assert resumed["time"]["tokens"] == 2 * TOKENS_PER_EPOCH
    assert resumed["run"]["started_at"] == first["run"]["started_at"]


def test_resume_from_checkpoint_written_without_the_callback(tmp_path):
    args = training_args(tmp_path, num_train_epochs=2, save_strategy="steps", save_steps=6)
    Trainer(model=tiny_bert(), args=args, train_dataset=classification_dataset(N)).train()
    trainer = Trainer(model=tiny_bert(), args=args, train_dataset=classification_dataset(N), callbacks=[EfficiencyCallback(energy=False)])
    trainer.train(resume_from_checkpoint=True)  # the last checkpoint: checkpoint-12, nothing left to train
    report = load_report(tmp_path)
    assert report["run"]["status"] == "completed"
    assert "written without peft-efficiency" in report["run"]["resume_note"]
    assert report["time"]["samples"] == 0


LAUNCHERS = {
    "torchrun": [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29517"],
    # accelerate's --cpu flag forces one process; --multi_gpu starts torchrun-style workers, which use gloo on CPU
    "accelerate": [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
                   "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "29518"],
}


@pytest.mark.slow
@pytest.mark.parametrize("launcher", sorted(LAUNCHERS))
def test_two_cpu_processes_write_one_report(tmp_path, launcher):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    job = Path(__file__).with_name("ddp_job.py")
    command = [*LAUNCHERS[launcher], str(job), str(tmp_path)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = load_report(tmp_path)
    assert [r["rank"] for r in report["memory"]["per_rank"]] == [0, 1]
    assert all(r["peak_rss_bytes"] > 0 for r in report["memory"]["per_rank"])
    assert report["memory"]["peak_memory_bytes"] == max(r["peak_rss_bytes"] for r in report["memory"]["per_rank"])
    assert report["run"]["world_size"] == 2 and report["energy"]["trackers"] in (0, 1)
    assert report["time"]["samples"] == 2 * N  # each process saw half of every epoch
    assert report["time"]["tokens"] == 2 * TOKENS_PER_EPOCH
    assert report["time"]["samples_per_second"] == pytest.approx(2 * N / report["time"]["train_seconds"])
    assert sorted(Path(tmp_path).glob("efficiency_report*")) == [Path(tmp_path) / "efficiency_report.json"]


@pytest.mark.slow
def test_a_log_made_on_one_rank_only_does_not_hang_the_run(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    job = Path(__file__).with_name("one_rank_log_job.py")
    command = [*LAUNCHERS["torchrun"], str(job), str(tmp_path)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "rank 0 done" in done.stdout and "rank 1 done" in done.stdout
    report = load_report(tmp_path)
    assert report["run"]["status"] == "completed" and report["run"]["world_size"] == 2
    assert report["time"]["samples"] == 6 * 2 * 2 and report["time"]["counts_scope"] == "sum over processes"
