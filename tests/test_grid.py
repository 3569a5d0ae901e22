"""The grid runner: one process per method, a failed method reported, the comparison table printed; and one
two-process CPU smoke run of an encoder recipe under `accelerate launch` (--multi_gpu over gloo)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from peft_efficiency.grid import main as grid_main
from peft_efficiency.report import load_report
from recipe_helpers import RECIPES_DIR


def test_grid_goes_on_past_a_failed_method_and_prints_the_table(data_dir: Path, tmp_path: Path, capsys) -> None:
    code = grid_main([str(RECIPES_DIR / "imdb_roberta"), "--methods", "qlora,bitfit", "--smoke",
                      "--data-dir", str(data_dir), "--output-dir", str(tmp_path), "--", "--max-steps", "2"])
    out = capsys.readouterr().out
    assert code == 1  # qlora failed on this CPU machine, bitfit ran after it
    assert "qlora cannot run here" in out and "FAILED (exit 2)" in out
    report = load_report(tmp_path / "imdb_roberta" / "bitfit")
    assert report["run"]["status"] == "completed" and report["time"]["steps"] == 2
    table = out[out.index("== imdb"):]
    assert "bitfit" in table and "eval_accuracy" in table and "qlora" not in table.splitlines()[3]


def test_grid_rejects_a_folder_without_train_py(tmp_path: Path, capsys) -> None:
    assert grid_main([str(tmp_path)]) == 2
    assert "train.py does not exist" in capsys.readouterr().err


def test_accelerate_commands_start_the_processes_asked_for() -> None:
    from peft_efficiency.grid import accelerate_command

    two = accelerate_command(2, cpu=True, port=29531)
    # accelerate's --cpu would start only one process: several processes always go through --multi_gpu
    assert "--multi_gpu" in two and "--cpu" not in two and two[two.index("--num_processes") + 1] == "2"
    assert two[-2:] == ["--main_process_port", "29531"]
    one = accelerate_command(1, cpu=True)
    assert "--cpu" in one and "--multi_gpu" not in one


def test_grid_under_accelerate_runs_two_cpu_processes(data_dir: Path, tmp_path: Path, capsys) -> None:
    """`grid --launcher accelerate --num-processes 2 --cpu`: two gloo processes train one LoRA smoke run."""
    code = grid_main([str(RECIPES_DIR / "imdb_tinybert"), "--methods", "lora", "--smoke", "--launcher", "accelerate",
                      "--num-processes", "2", "--cpu", "--main-process-port", "29531", "--data-dir", str(data_dir),
                      "--output-dir", str(tmp_path), "--", "--max-steps", "-1", "--epochs", "1"])
    out = capsys.readouterr().out
    run = tmp_path / "imdb_tinybert" / "lora"
    assert code == 0, (run / "stderr.log").read_text(encoding="utf-8")[-3000:]
    report = load_report(run)
    assert report["run"]["status"] == "completed" and report["run"]["world_size"] == 2
    assert [r["rank"] for r in report["memory"]["per_rank"]] == [0, 1]
    # data parallel: the 16 smoke reviews in batches of 4 per process make 2 steps of 2 x 4 (4 steps if each process
    # trained alone on all the data), the samples summed over the 2 processes
    assert report["time"]["steps"] == 2 and report["time"]["samples"] == 16
    assert [h["step"] for h in report["quality"]["history"]] == [2]
    assert report["params"]["peft_type"] == "LORA"
    assert "--multi_gpu --num_processes 2" in out


FAKE_TRAIN = '''
"""A stand-in recipe: writes a run report whose labels are what EfficiencyCallback would read from the
environment, and the command line it was given."""
import argparse, json, sys
from pathlib import Path
sys.path.insert(0, {tests!r})
from compare_helpers import make_report
from peft_efficiency.callbacks.options import env_labels

parser = argparse.ArgumentParser()
parser.add_argument("--method"); parser.add_argument("--output-dir"); parser.add_argument("--seed", type=int, default=42)
parser.add_argument("--smoke", action="store_true")
args, rest = parser.parse_known_args()
if args.method == "broken" and args.seed == 2:
    sys.exit("error: seed 2 of broken fails")
out = Path(args.output_dir)
report = make_report(args.method, value=0.80 + args.seed / 100, trainable=1000, train_seconds=100.0 + args.seed,
                     labels={{"recipe": "fake", "entry": args.method, **env_labels()}})
(out / "efficiency_report.json").write_text(json.dumps(report))
(out / "argv.json").write_text(json.dumps(sys.argv[1:]))
'''


def _fake_recipe(tmp_path: Path) -> Path:
    recipe = tmp_path / "fake"
    recipe.mkdir()
    (recipe / "train.py").write_text(FAKE_TRAIN.format(tests=str(Path(__file__).parent)), encoding="utf-8")
    return recipe


def test_seeds_run_each_method_once_per_seed_in_its_own_labelled_folder(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("PEFT_EFFICIENCY_LABELS", "split=90_10,seed=7")  # a user's labels stay; their seed is replaced
    recipe = _fake_recipe(tmp_path)
    code = grid_main([str(recipe), "--methods", "lora,broken", "--seeds", "3,1,2", "--output-dir", str(tmp_path / "runs")])
    out = capsys.readouterr().out
    assert code == 1  # broken's seed 2 failed; the others ran
    for method in ("lora", "broken"):
        for seed in (3, 1, 2):
            folder = tmp_path / "runs" / "fake" / method / f"seed-{seed}"
            if (method, seed) == ("broken", 2):
                assert not (folder / "efficiency_report.json").exists()
                assert "seed 2 of broken fails" in (folder / "stderr.log").read_text(encoding="utf-8")
                continue
            argv = json.loads((folder / "argv.json").read_text(encoding="utf-8"))
            assert argv[argv.index("--seed") + 1] == str(seed) and argv.count("--seed") == 1
            labels = load_report(folder)["run"]["labels"]
            assert labels["seed"] == str(seed) and labels["split"] == "90_10"
    assert "broken seed 2" in out and "FAILED (exit 1)" in out
    table = out[out.index("== imdb"):].splitlines()  # compare merged each method's repeats into one row
    lora = next(line for line in table if line.startswith("lora "))
    broken = next(line for line in table if line.startswith("broken "))
    assert lora.split()[1] == "3" and "0.8200 ±0.0100 [0.7952, 0.8448]" in lora  # 0.81, 0.82, 0.83; t(2) 4.303
    assert broken.split()[1] == "2" and "0.8200 ±0.0141 [0.6929, 0.9471]" in broken  # 0.81, 0.83; t(1) 12.706


def test_repeats_run_seeds_one_to_n(tmp_path: Path, capsys) -> None:
    recipe = _fake_recipe(tmp_path)
    assert grid_main([str(recipe), "--methods", "lora", "--repeats", "2", "--output-dir", str(tmp_path / "runs")]) == 0
    assert sorted(p.name for p in (tmp_path / "runs" / "fake" / "lora").iterdir()) == ["seed-1", "seed-2"]
    assert load_report(tmp_path / "runs" / "fake" / "lora" / "seed-2")["run"]["labels"]["seed"] == "2"


@pytest.mark.parametrize("argv, message", [
    (["--seeds", "1,2,1"], "seed 1 is given twice"),
    (["--seeds", "1,x"], "not a list of whole numbers"),
    (["--repeats", "0"], "at least 1"),
    (["--repeats", "2", "--seeds", "1,2"], "not allowed with argument"),
])
def test_bad_repeat_options_are_named(tmp_path: Path, capsys, argv: list[str], message: str) -> None:
    with pytest.raises(SystemExit) as exc:
        grid_main([str(_fake_recipe(tmp_path)), *argv])
    assert exc.value.code == 2 and message in capsys.readouterr().err


def test_a_seed_after_the_separator_conflicts_with_repeats(tmp_path: Path, capsys) -> None:
    code = grid_main([str(_fake_recipe(tmp_path)), "--methods", "lora", "--repeats", "2", "--output-dir", str(tmp_path / "runs"),
                      "--", "--seed", "5"])
    assert code == 2 and "--seed after -- conflicts with --repeats/--seeds" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()  # refused before any run started


def test_real_recipe_repeats_carry_their_seed_and_are_merged(data_dir: Path, tmp_path: Path, capsys) -> None:
    """A smoke grid of one real recipe with two seeds: EfficiencyCallback labels each report with its seed (from
    the environment the grid sets), and compare merges the two runs into one row."""
    code = grid_main([str(RECIPES_DIR / "imdb_roberta"), "--methods", "bitfit", "--seeds", "1,2", "--smoke",
                      "--data-dir", str(data_dir), "--output-dir", str(tmp_path), "--", "--max-steps", "2"])
    out = capsys.readouterr().out
    assert code == 0, out[-3000:]
    for seed in ("1", "2"):
        report = load_report(tmp_path / "imdb_roberta" / "bitfit" / f"seed-{seed}")
        assert report["run"]["labels"]["seed"] == seed and report["run"]["status"] == "completed"
    table = out[out.index("== imdb"):].splitlines()
    assert "(2 runs in 1 row;" in table[0]
    row = next(line for line in table if line.startswith("bitfit "))
    assert row.split()[1] == "2" and "±" in row
