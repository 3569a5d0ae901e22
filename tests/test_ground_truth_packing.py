"""Padding and packing, against ground truth: the documents and tokens at the model's input (a forward pre-hook
of the test's own), torch's FlopCounterMode on the padded / packed batch (what the hardware computes), and the
counter on each sequence run alone (the work the training needed). A real trl SFTTrainer feeds every collator."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from foundation_helpers import VOCAB as TINY_VOCAB
from foundation_helpers import causal_dataset, tiny_llama
from peft_efficiency.trackers.tokens import BatchCounter
from test_flops import TOLERANCE, batch, build, one_thread, train_and_count  # noqa: F401 - one_thread is an autouse fixture

WIDTH = 64
ROW_LENGTHS = [64, 37, 12]
DOCUMENT_LENGTHS = [30, 21, 9, 4]  # packed into one padding-free row of 64 positions


def alone(architecture: str, inputs: dict, row: int, length: int) -> dict:
    """Row `row` of a padded batch as a batch of its own, without its padding."""
    return {key: value[row: row + 1, :length] if value.dim() == 2 else value[row: row + 1] for key, value in inputs.items()}


@pytest.mark.parametrize("method", ["full", "lora", "prefix", "prompt"])
@pytest.mark.parametrize("architecture", ["bert", "llama"])
def test_padded_rows(architecture, method):
    padded = batch(architecture, len(ROW_LENGTHS), WIDTH, padded_lengths=ROW_LENGTHS)
    estimate, _, measured_padded = train_and_count(build(architecture, method), [padded])
    rows = [alone(architecture, padded, i, n) for i, n in enumerate(ROW_LENGTHS)]
    _, _, measured_unpadded = train_and_count(build(architecture, method), rows)
    assert estimate["flops_computed"] == pytest.approx(measured_padded, rel=TOLERANCE)  # what ran, padding included
    assert estimate["flops"] == pytest.approx(measured_unpadded, rel=TOLERANCE)  # the same rows without padding
    assert estimate["sequences"] == 2 * len(ROW_LENGTHS)
    assert estimate["padded_positions"] == 2 * (len(ROW_LENGTHS) * WIDTH - sum(ROW_LENGTHS))


def packed_row(with_boundaries: bool) -> dict:
    generator = torch.Generator().manual_seed(1)
    input_ids = torch.randint(1, 100, (1, sum(DOCUMENT_LENGTHS)), generator=generator)
    position_ids = torch.cat([torch.arange(n) for n in DOCUMENT_LENGTHS])[None]
    inputs = {"input_ids": input_ids, "position_ids": position_ids, "labels": input_ids.masked_fill(position_ids == 0, -100)}
    if with_boundaries:  # as trl's padding-free collator passes them
        boundaries = torch.tensor([0, *np.cumsum(DOCUMENT_LENGTHS)], dtype=torch.int32)
        longest = max(DOCUMENT_LENGTHS)
        inputs.update(cu_seq_lens_q=boundaries, cu_seq_lens_k=boundaries, max_length_q=longest, max_length_k=longest)
    return inputs


@pytest.mark.parametrize("with_boundaries", [False, True], ids=["position_ids", "cu_seq_lens"])
@pytest.mark.parametrize("method", ["full", "lora"])
def test_packed_row_counts_documents(method, with_boundaries):
    packed = packed_row(with_boundaries)
    estimate, _, measured_packed = train_and_count(build("llama", method), [packed])
    starts = np.cumsum([0, *DOCUMENT_LENGTHS[:-1]])
    documents = [{"input_ids": packed["input_ids"][:, s: s + n], "labels": packed["input_ids"][:, s: s + n]}
                 for s, n in zip(starts, DOCUMENT_LENGTHS)]
    _, _, measured_documents = train_and_count(build("llama", method), documents)
    assert estimate["sequences"] == 2 * len(DOCUMENT_LENGTHS) and estimate["rows"] == 2
    assert estimate["flops"] == pytest.approx(measured_documents, rel=TOLERANCE)  # attention sum_i s_i^2
    assert estimate["flops_computed"] == pytest.approx(measured_packed, rel=TOLERANCE)  # eager: the whole row's square


def word_tokenizer():
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import WhitespaceSplit
    from transformers import PreTrainedTokenizerFast

    vocab = {"[PAD]": 0, "[UNK]": 1, "[EOS]": 2, **{f"w{i}": i for i in range(3, TINY_VOCAB)}}
    tokenizer = Tokenizer(WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="[PAD]", unk_token="[UNK]", eos_token="[EOS]")


class InputDocuments:
    """The test's own count at the model's input: a padded row is one document of its mask's length; without a
    mask, a document starts wherever position_ids is 0."""

    def __init__(self) -> None:
        self.lengths: list[int] = []
        self.rows = self.positions = 0

    def __call__(self, module, args, kwargs) -> None:
        if not module.training:
            return
        input_ids = kwargs["input_ids"]
        self.rows += input_ids.shape[0]
        self.positions += input_ids.numel()
        if kwargs.get("attention_mask") is not None:
            self.lengths += kwargs["attention_mask"].sum(dim=1).tolist()
            return
        for row in kwargs["position_ids"].numpy():
            starts = np.flatnonzero(row == 0)
            self.lengths += np.diff(np.append(starts, len(row))).tolist()
        if "cu_seq_lens_q" in kwargs:
            assert np.diff(kwargs["cu_seq_lens_q"].numpy()).tolist() == self.lengths[-len(kwargs["cu_seq_lens_q"]) + 1:]


SFT_MODES = {
    "bfd": dict(packing=True, max_length=32),  # trl's default packing: padding-free rows
    "bfd_split": dict(packing=True, packing_strategy="bfd_split", max_length=32),
    "wrapped": dict(packing=True, packing_strategy="wrapped", max_length=32),  # fixed rows of 32, a mask of ones
    "padding_free": dict(padding_free=True, max_length=None),  # no packing: each batch flattened to one row
    "padded": dict(max_length=32),
}


@pytest.mark.parametrize("mode", sorted(SFT_MODES))
@pytest.mark.requires("trl>=0.20", params=["bfd", "padding_free"])  # padding-free rows carry seq_lengths
@pytest.mark.requires("trl>=1.0", params=["bfd_split"])
def test_sft_trainer_samples_are_the_documents_the_model_saw(tmp_path, mode):
    from trl import SFTConfig, SFTTrainer

    dataset = causal_dataset(32).remove_columns(["labels", "attention_mask"])
    dataset = dataset.map(lambda row: {"input_ids": [t for t in row["input_ids"] if t != 0]})
    model = tiny_llama()
    reference, counter = InputDocuments(), BatchCounter()
    model.register_forward_pre_hook(reference, with_kwargs=True)
    counter.attach(model)
    config = SFTConfig(output_dir=str(tmp_path), per_device_train_batch_size=4, max_steps=4, report_to=[], use_cpu=True,
                       save_strategy="no", disable_tqdm=True, **SFT_MODES[mode])
    SFTTrainer(model=model, args=config, train_dataset=dataset, processing_class=word_tokenizer()).train()
    counts = counter.read_counts()
    assert reference.rows == counts.rows and reference.positions == counts.positions
    assert counts.samples == len(reference.lengths)
    assert counts.tokens == sum(reference.lengths)
    assert counts.sequence_square_sum == sum(n * n for n in reference.lengths)  # the FLOPs attention term
    if mode in ("bfd", "bfd_split", "padding_free"):
        assert counts.samples > counts.rows == 4  # one row per step, several documents in each


@pytest.mark.parametrize("mode", sorted(SFT_MODES))
@pytest.mark.requires("trl>=0.20", params=["bfd", "padding_free"])  # padding-free rows carry seq_lengths
@pytest.mark.requires("trl>=1.0", params=["bfd_split"])
def test_one_epoch_of_sft_reports_every_document_of_the_data_set_once(tmp_path, mode):
    """Ground truth from the data set itself, not from the model's input: one epoch trains on each of its 32
    documents once, so the report's samples are 32 (a wrapped row attends across the documents it holds, so there
    each row is one sequence: the packed data set's row count) and its tokens the documents' token total."""
    from trl import SFTConfig, SFTTrainer

    from peft_efficiency import EfficiencyCallback
    from peft_efficiency.report import load_report

    dataset = causal_dataset(32).remove_columns(["labels", "attention_mask"])
    dataset = dataset.map(lambda row: {"input_ids": [t for t in row["input_ids"] if t != 0]})
    lengths = [len(ids) for ids in dataset["input_ids"]]
    assert max(lengths) <= 32  # no document is truncated or split at max_length 32
    config = SFTConfig(output_dir=str(tmp_path), per_device_train_batch_size=4, num_train_epochs=1, report_to=[],
                       use_cpu=True, save_strategy="no", disable_tqdm=True, **SFT_MODES[mode])
    trainer = SFTTrainer(model=tiny_llama(), args=config, train_dataset=dataset, processing_class=word_tokenizer(),
                         callbacks=[EfficiencyCallback(energy=False)])
    trainer.train()
    time_section = load_report(tmp_path)["time"]
    assert time_section["samples"] == (len(trainer.train_dataset) if mode == "wrapped" else len(lengths))
    assert time_section["tokens"] == sum(lengths)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_counting_on_cuda_never_syncs():
    model = tiny_llama().cuda().train()
    counter = BatchCounter()
    counter.attach(model)
    packed = {k: v.cuda() if isinstance(v, torch.Tensor) else v for k, v in packed_row(True).items()}
    packed["input_ids"] = packed["input_ids"] % TINY_VOCAB
    padded = {k: v.cuda() for k, v in batch("llama", 3, WIDTH, padded_lengths=ROW_LENGTHS).items()}
    padded["input_ids"] = padded["input_ids"] % TINY_VOCAB
    for inputs in (packed, {k: v for k, v in packed.items() if not k.startswith(("cu_", "max_length"))}, padded):
        torch.cuda.set_sync_debug_mode("error")
        try:
            counter._hook(model, (), inputs)
        finally:
            torch.cuda.set_sync_debug_mode("default")
    counts = counter.read_counts()
    assert counts.samples == 2 * len(DOCUMENT_LENGTHS) + len(ROW_LENGTHS)
    assert counts.tokens == 2 * sum(DOCUMENT_LENGTHS) + sum(ROW_LENGTHS)


@pytest.mark.parametrize("where", ["host", "device"])
def test_padded_counts_stay_exact_past_the_pending_limit(monkeypatch, where):
    """On the host, row lengths are summed at once; on a device they wait and are summed every
    PENDING_LENGTHS_LIMIT batches and at reads (forced here on CPU tensors): no count is lost either way."""
    from peft_efficiency.trackers.tokens import PENDING_LENGTHS_LIMIT

    if where == "device":
        monkeypatch.setattr(BatchCounter, "readable_without_sync", staticmethod(lambda tensor: False))
    generator = np.random.default_rng(0)
    model, counter = torch.nn.Linear(2, 2).train(), BatchCounter()
    lengths: list[int] = []
    batches = 2 * PENDING_LENGTHS_LIMIT + 7
    for index in range(batches):
        rows = [int(n) for n in generator.integers(0, 17, size=3)]
        lengths += rows
        mask = torch.tensor([[1] * n + [0] * (16 - n) for n in rows])
        counter._hook(model, (), {"input_ids": torch.ones(3, 16, dtype=torch.long), "attention_mask": mask})
        if index == PENDING_LENGTHS_LIMIT + 3:
            assert counter.read_counts().tokens == sum(lengths)  # a read in between folds what waits
    counts = counter.read_counts()
    assert (counts.samples, counts.rows, counts.batches) == (3 * batches, 3 * batches, batches)
    assert counts.tokens == sum(lengths)
    assert counts.sequence_square_sum == sum(n * n for n in lengths)


def test_a_padded_batch_costs_no_tensor_operation_in_the_step():
    """The per-step cost of counting: no tensor operation in the hook; the masks that wait are reduced together at
    the read, one row-length reduction per row width (on a GPU, no chain of small kernels per step)."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Operations(TorchDispatchMode):
        def __init__(self) -> None:
            super().__init__()
            self.names: list[str] = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            self.names.append(str(func))
            return func(*args, **(kwargs or {}))

    model, counter = torch.nn.Linear(2, 2).train(), BatchCounter()
    inputs = batch("llama", len(ROW_LENGTHS), WIDTH, padded_lengths=ROW_LENGTHS)
    narrower = batch("llama", len(ROW_LENGTHS), WIDTH - 1, padded_lengths=[n - 1 for n in ROW_LENGTHS])
    with Operations() as seen:
        for _ in range(10):
            counter._hook(model, (), inputs)
        counter._hook(model, (), narrower)
    assert seen.names == []
    with Operations() as seen:
        counts = counter.read_counts()
    # ten batches of one width: one concatenation and one reduction; the narrower batch: its own reduction
    assert sorted(seen.names) == ["aten.cat.default", "aten.sum.dim_IntList", "aten.sum.dim_IntList"]
    assert counts.tokens == 10 * sum(ROW_LENGTHS) + sum(n - 1 for n in ROW_LENGTHS)
    assert counts.sequence_square_sum == 10 * sum(n * n for n in ROW_LENGTHS) + sum((n - 1) ** 2 for n in ROW_LENGTHS)
