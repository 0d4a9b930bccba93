"""``hit bench`` machinery: one configuration measured in-process and one through the command."""

from __future__ import annotations

import json

from hit_core.export.benchmark import STAGES, BenchConfig, format_table, run_worker
from hit_core.tracking.backends.onnxruntime_backend import openvino_available


def test_worker_reports_every_stage_and_memory(tiny_checkpoint, cache_dir, crossing_dir):
    config = BenchConfig("tiny", "onnxruntime", "fp32", 1, str(crossing_dir), frames=5, warmup=1,
                         checkpoint=str(tiny_checkpoint), cache_dir=str(cache_dir))
    result = run_worker(config)
    assert set(result.median_ms) == set(STAGES)
    for stage in STAGES:
        assert 0 < result.median_ms[stage] <= result.p95_ms[stage]
    assert result.median_ms["inference"] < result.median_ms["total"]
    assert 50 < result.rss_mib <= result.peak_rss_mib
    # The execution provider that ran the network: device "cpu" means OpenVINO where onnxruntime has it.
    assert result.runtime == ("openvino" if openvino_available() else "cpu")
    table = format_table([result])
    assert "onnxruntime" in table and "tiny" in table and result.runtime in table


def test_bench_command_runs_each_configuration_in_its_own_process(tiny_checkpoint, cache_dir, crossing_dir, capsys):
    from hit_core.cli import main

    devices = ["cpu:onnxruntime", "cpu:openvino"] if openvino_available() else ["cpu:onnxruntime"]
    code = main(["bench", "--variants", "tiny", "--backends", "onnxruntime", "--precisions", "fp32",
                 "--devices", *devices,
                 "--frames", "3", "--warmup", "1", "--threads", "1", "--sequence", str(crossing_dir),
                 "--checkpoint", str(tiny_checkpoint), "--cache-dir", str(cache_dir), "--json"])
    results = json.loads(capsys.readouterr().out)
    assert code == 0, results
    assert len(results) == len(devices) and not any(result["error"] for result in results)
    assert [result["config"]["device"] for result in results] == devices
    assert [result["runtime"] for result in results] == ["cpu", "openvino"][: len(devices)]
    for result in results:
        assert result["config"]["threads"] == 1
        assert set(result["median_ms"]) == set(STAGES)
