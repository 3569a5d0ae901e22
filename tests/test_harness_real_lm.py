"""Each bundled task on real data with a tiny causal LM built in-process (random Llama, BPE trained here).

The scores of a random model mean nothing; what is checked is that the whole lm-eval path runs offline on the
real documents and that each reported score equals the one recomputed by hand from the logged outputs.
"""

from __future__ import annotations

from pathlib import Path

import pytest

lm_eval = pytest.importorskip("lm_eval")

from harness_helpers import tiny_llama, tiny_tokenizer  # noqa: E402
from lm_eval.tasks import TaskManager  # noqa: E402

from peft_efficiency.harness import tasks_path  # noqa: E402
from peft_efficiency.metrics import normalize_answer, squad_v1  # noqa: E402

LIMIT = 3


@pytest.fixture(scope="module")
def tiny_hflm(data_dir: Path):
    from lm_eval.models.huggingface import HFLM

    from peft_efficiency.data import load_bibleqa, load_boolq_sl, load_imdb

    texts = list(load_imdb("test", data_dir=data_dir)["text"][:40])
    texts += list(load_boolq_sl("validation", data_dir=data_dir)["passage"][:40])
    bible = load_bibleqa(data_dir=data_dir)
    texts += [f"Q: {q}\n\nA: {a}" for q, a in zip(bible["question"][:200], bible["answer"][:200])]
    tokenizer = tiny_tokenizer(texts)
    model = tiny_llama(vocab_size=len(tokenizer))
    return HFLM(pretrained=model, tokenizer=tokenizer, batch_size=4, max_length=1024)


@pytest.fixture(scope="module")
def task_manager(data_dir: Path) -> TaskManager:
    return TaskManager(include_path=str(tasks_path()), include_defaults=False, metadata={"data_dir": str(data_dir)})


def _run(lm, task: str, task_manager: TaskManager) -> tuple[dict, list[dict]]:
    out = lm_eval.simple_evaluate(model=lm, tasks=[task], task_manager=task_manager, limit=LIMIT, bootstrap_iters=0)
    return out["results"][task], out["samples"][task]


@pytest.mark.slow
def test_squad_v1_real_data(tiny_hflm, task_manager):
    results, samples = _run(tiny_hflm, "squad_v1", task_manager)
    assert len(samples) == LIMIT
    outputs = [s["filtered_resps"][0] for s in samples]
    assert all("\n" not in text for text in outputs)  # generation stops at the newline
    expected = squad_v1([o.strip() for o in outputs], [s["doc"]["answers"]["text"] for s in samples])
    assert results["exact_match,none"] == pytest.approx(expected["exact_match"])
    assert results["f1,none"] == pytest.approx(expected["f1"])


@pytest.mark.slow
@pytest.mark.parametrize("task", ["imdb_sample2500", "boolq_sl"])
def test_choice_tasks_real_data(tiny_hflm, task_manager, task):
    results, samples = _run(tiny_hflm, task, task_manager)
    assert len(samples) == LIMIT
    predictions = []
    for sample in samples:
        logliks = [float(pair[0]) for pair in sample["filtered_resps"]]
        assert len(logliks) == 2 and all(value < 0 for value in logliks)
        predictions.append(max(range(2), key=logliks.__getitem__))
    golds = [int(s["doc"]["label"]) for s in samples]
    accuracy = sum(p == g for p, g in zip(predictions, golds)) / LIMIT
    true_pos = sum(p == g == 1 for p, g in zip(predictions, golds))
    f1 = 2 * true_pos / (predictions.count(1) + golds.count(1)) if true_pos else 0.0
    assert results["acc,none"] == pytest.approx(accuracy)
    assert results["f1,none"] == pytest.approx(f1)


@pytest.mark.slow
def test_bibleqa_real_data(tiny_hflm, task_manager):
    results, samples = _run(tiny_hflm, "bibleqa", task_manager)
    assert len(samples) == LIMIT
    outputs = [s["filtered_resps"][0] for s in samples]
    golds = [s["doc"]["answer"] for s in samples]
    lenient = sum(g.lower() in o.lower() for o, g in zip(outputs, golds)) / LIMIT
    assert results["lenient_acc,none"] == pytest.approx(lenient)
    first_lines = [next((line for line in o.splitlines() if line.strip()), "") for o in outputs]
    strict = sum(normalize_answer(f) == normalize_answer(g) for f, g in zip(first_lines, golds)) / LIMIT
    assert results["strict_em,none"] == pytest.approx(strict)
    assert all(s["doc"]["reference"] for s in samples)  # the verse reference stays in the document


@pytest.mark.slow
def test_peft_adapter_is_applied_through_peft_argument(tiny_hflm, task_manager, tmp_path):
    """`--model_args pretrained=BASE,peft=ADAPTER`: lm-eval's HFLM wraps the base model with the saved adapter."""
    from lm_eval.models.huggingface import HFLM
    from peft import LoraConfig, PeftModel, get_peft_model

    base, tokenizer = tiny_hflm.model, tiny_hflm.tokenizer
    base.save_pretrained(tmp_path / "base")
    tokenizer.save_pretrained(tmp_path / "base")
    # init_lora_weights=False gives a non-zero update, so the adapted model scores differently from the base
    adapter = get_peft_model(base, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    adapter.save_pretrained(tmp_path / "adapter")
    adapter.unload()  # give `base` back its plain modules for the other tests

    adapted = HFLM(pretrained=str(tmp_path / "base"), peft=str(tmp_path / "adapter"), batch_size=4, max_length=1024, device="cpu")
    assert isinstance(adapted.model, PeftModel)
    _, adapted_samples = _run(adapted, "imdb_sample2500", task_manager)
    _, base_samples = _run(tiny_hflm, "imdb_sample2500", task_manager)
    adapted_ll = [pair[0] for s in adapted_samples for pair in s["filtered_resps"]]
    base_ll = [pair[0] for s in base_samples for pair in s["filtered_resps"]]
    assert adapted_ll != pytest.approx(base_ll)


@pytest.mark.slow
def test_bibleqa_keeps_the_seed_prompt_under_num_fewshot(tiny_hflm, task_manager, caplog):
    """`--num_fewshot 2` does not put other test questions before the seed prompt: lm-eval honours the task's
    `num_fewshot: 0`, says it ignores the request, and records 0 shots; the outputs equal a zero-shot run's."""
    import logging

    seed_prompt = (  # seed 003, "Model Performance", each line its own paragraph
        "The following are questions and answers about the Bible.\n\nQ: Who was the first man?\n\nA: Adam\n\n"
        "Q: What was special about Samson?\n\nA: He was very strong\n\nQ: Where was Jesus born?\n\nA: Bethlehem\n\n"
        "Q: {question}\n\nA:"
    )
    runs = {}
    # lm-eval's own `setup_logging` (run by any earlier CLI call in this process) stops its logger propagating to
    # the root logger, where caplog listens: listen on lm-eval's logger itself.
    lm_eval_logger = logging.getLogger("lm_eval")
    lm_eval_logger.addHandler(caplog.handler)
    try:
        for shots in (2, None):
            with caplog.at_level(logging.INFO, logger="lm_eval"):
                runs[shots] = lm_eval.simple_evaluate(model=tiny_hflm, tasks=["bibleqa"], task_manager=task_manager,
                                                      limit=2, num_fewshot=shots, bootstrap_iters=0)
    finally:
        lm_eval_logger.removeHandler(caplog.handler)
    samples = runs[2]["samples"]["bibleqa"]
    assert len(samples) == 2
    for sample in samples:
        assert sample["arguments"][0][0] == seed_prompt.format(question=sample["doc"]["question"].strip())
    assert runs[2]["n-shot"]["bibleqa"] == 0
    assert "num_fewshot has been set to 0 for bibleqa in its config" in caplog.text
    assert [s["resps"] for s in samples] == [s["resps"] for s in runs[None]["samples"]["bibleqa"]]
