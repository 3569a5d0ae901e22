"""Check an installed (non-editable) peft-efficiency wheel the way a user meets it; run by `make check-wheel`.

Run with the python of a fresh environment where the wheel was installed, from a folder outside the checkout:
the callback, `report_to="peft_efficiency"`, `peft-efficiency run`, `peft-efficiency compare` and the literal
`lm_eval --tasks bibleqa`, each on a tiny random Llama saved like a Hub model. Prints one line per check; exits 1
at the first that fails. Needs the real data folder (PEFT_EFFICIENCY_DATA_DIR) for BibleQA.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

BIN = Path(sys.executable).parent
TRAIN_SCRIPT = '''
import sys
import torch
from datasets import Dataset
from transformers import AutoModelForCausalLM, Trainer, TrainingArguments

model_dir, output_dir, report_to = sys.argv[1], sys.argv[2], sys.argv[3]
model = AutoModelForCausalLM.from_pretrained(model_dir)
rows = [{"input_ids": [2 + (i + j) % 50 for j in range(12)]} for i in range(16)]
data = Dataset.from_list([{**r, "labels": r["input_ids"], "attention_mask": [1] * 12} for r in rows])
args = TrainingArguments(output_dir=output_dir, per_device_train_batch_size=4, max_steps=4, logging_steps=2,
                         report_to=[] if report_to == "none" else [report_to], use_cpu=True, save_strategy="no",
                         disable_tqdm=True)
callbacks = []
if report_to == "callback":
    from peft_efficiency import EfficiencyCallback
    args.report_to = []
    callbacks = [EfficiencyCallback(energy=False)]
out = Trainer(model=model, args=args, train_dataset=data, callbacks=callbacks).train()
print("METRIC", out.metrics.get("efficiency/trainable_params"))
'''


def check(name: str, ok: bool, detail: str = "") -> None:
    print(f"[{'ok' if ok else 'FAIL'}] {name}{': ' + detail if detail else ''}", flush=True)
    if not ok:
        raise SystemExit(1)


def run(command: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
                   "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", **env}
    environment.pop("PYTHONPATH", None)
    done = subprocess.run(command, cwd=cwd, env=environment, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        print(done.stdout[-3000:], done.stderr[-5000:], sep="\n", file=sys.stderr)
    return done


def tiny_model(folder: Path, data_dir: Path) -> Path:
    """A 2-layer random Llama with a BPE tokenizer trained on BibleQA questions, saved like a Hub model."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from peft_efficiency.data import load_bibleqa

    bible = load_bibleqa(data_dir=data_dir)
    texts = [f"Q: {q}\n\nA: {a}" for q, a in zip(bible["question"][:200], bible["answer"][:200])]
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.train_from_iterator(texts, trainer=trainers.BpeTrainer(
        vocab_size=400, special_tokens=["<unk>", "<eos>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    wrapped = PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token="<eos>", unk_token="<unk>", pad_token="<eos>")
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(wrapped), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=4096,
                         bos_token_id=1, eos_token_id=1, pad_token_id=1)
    LlamaForCausalLM(config).save_pretrained(folder)
    wrapped.save_pretrained(folder)
    return folder


def main() -> None:
    data_dir = Path(os.environ.get("PEFT_EFFICIENCY_DATA_DIR", ""))
    check("data folder", data_dir.is_dir(), f"PEFT_EFFICIENCY_DATA_DIR={data_dir}")
    import peft_efficiency

    site = Path(sysconfig.get_paths()["purelib"])
    where = Path(peft_efficiency.__file__).resolve()
    check("imported from site-packages (not a checkout)", site in where.parents, str(where))
    check("start-up hook .pth installed", (site / "peft_efficiency_startup.pth").is_file())
    for name in ("report_schema.json", "harness_tasks/bibleqa/bibleqa.yaml", "harness_tasks/peft_efficiency.yaml"):
        check(f"package file {name}", (where.parent / name).is_file())

    work = Path(tempfile.mkdtemp(prefix="check-wheel-"))
    model = tiny_model(work / "tiny-llama", data_dir)
    (work / "train.py").write_text(TRAIN_SCRIPT, encoding="utf-8")

    for label, how in (("EfficiencyCallback in callbacks=[...]", "callback"), ('report_to="peft_efficiency"', "peft_efficiency")):
        done = run([sys.executable, "train.py", str(model), str(work / "runs" / how), how], work)
        metric = next((line.split()[1] for line in done.stdout.splitlines() if line.startswith("METRIC")), "None")
        report = work / "runs" / how / "efficiency_report.json"
        check(label, done.returncode == 0 and metric != "None" and report.is_file(),
              f"train().metrics efficiency/trainable_params={metric}")

    done = run([str(BIN / "peft-efficiency"), "run", "--no-energy", "--", sys.executable, "train.py", str(model),
                str(work / "runs" / "zero_code"), "none"], work)
    report = work / "runs" / "zero_code" / "efficiency_report.json"
    status = json.loads(report.read_text())["run"]["status"] if report.is_file() else None
    check("peft-efficiency run -- python train.py", done.returncode == 0 and status == "completed", f"report status {status}")

    done = run([str(BIN / "peft-efficiency"), "compare", *(str(p) for p in sorted((work / "runs").iterdir())),
                "--html", str(work / "compare.html")], work)
    check("peft-efficiency compare", done.returncode == 0 and (work / "compare.html").is_file(),
          f"{len(done.stdout.splitlines())} lines of table")

    out = work / "lm_eval_out"
    done = run(["lm_eval", "--model", "hf", "--model_args", f"pretrained={model}", "--tasks", "bibleqa", "--limit", "2",
                "--output_path", str(out)], work, PEFT_EFFICIENCY_DATA_DIR=str(data_dir))
    results = next(out.rglob("results_*.json"), None) if out.exists() else None
    row = json.loads(results.read_text())["results"].get("bibleqa", {}) if results else {}
    check("lm_eval --tasks bibleqa", done.returncode == 0 and "lenient_acc,none" in row,
          f"lenient_acc={row.get('lenient_acc,none')}")
    print(f"all checks passed ({work})")


if __name__ == "__main__":
    main()
