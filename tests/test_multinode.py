"""Two nodes, simulated on this machine: two `torchrun --nnodes 2` launchers (one process each) meeting on 127.0.0.1.
One report; counts summed over both ranks (ground truth: the data set's rows x epochs); one energy tracker per node,
both listed, and the report says they are one physical machine."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from peft_efficiency.report import load_report

JOB = Path(__file__).with_name("ddp_job.py")


@pytest.mark.slow
def test_two_nodes_write_one_report_with_both_nodes(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    launchers = [
        subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc_per_node", "1",
                          "--node_rank", str(node), "--master_addr", "127.0.0.1", "--master_port", "29531",
                          str(JOB), str(tmp_path)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for node in (0, 1)]
    outputs = [launcher.communicate(timeout=600) for launcher in launchers]
    for launcher, (_, stderr) in zip(launchers, outputs):
        assert launcher.returncode == 0, stderr[-3000:]
    report = load_report(tmp_path)
    assert report["run"]["world_size"] == 2
    assert report["time"]["samples"] == 24 * 2 and report["time"]["counts_scope"] == "sum over processes"
    energy = report["energy"]
    assert energy["trackers"] == 2 and sorted(node["node_rank"] for node in energy["nodes"]) == [0, 1]
    assert "same hardware" in energy["nodes_note"]
