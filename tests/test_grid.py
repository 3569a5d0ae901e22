"""The grid runner: one process per method, a failed method reported, the comparison table printed; and one
two-process CPU smoke run of an encoder recipe under `accelerate launch` (--multi_gpu over gloo)."""

from __future__ import annotations

from pathlib import Path


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
