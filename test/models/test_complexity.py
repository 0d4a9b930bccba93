"""MAC counts against spec §13 and the ``hit profile`` command."""

from __future__ import annotations

import pytest

from hit_core.errors import ConfigError

# spec §13, GMACs: complete (torch.utils.flop_counter incl. attention matmuls), official thop protocol
REFERENCE_GMACS = {"tiny": (1.016, 0.997), "small": (1.193, 1.130), "base": (4.431, 4.346)}


@pytest.mark.parametrize("variant", list(REFERENCE_GMACS))
def test_macs_match_reference(variant):
    from hit_core.models import count_macs

    complete, thop = REFERENCE_GMACS[variant]
    assert count_macs(variant, "complete") / 1e9 == pytest.approx(complete, abs=6e-4)
    # the spec's Small total (0.562 + 0.569 = 1.1305) is written rounded down to 1.130
    assert count_macs(variant, protocol="thop") / 1e9 == pytest.approx(thop, abs=6e-4)


def test_macs_of_a_model_leave_it_unchanged():
    from hit_core.models import count_macs, create_model

    model = create_model("tiny")
    assert count_macs(model) == count_macs("tiny")
    assert model.training and not model.fused and next(model.parameters()).device.type == "cpu"
    with pytest.raises(ConfigError, match="protocol"):
        count_macs("tiny", protocol="fvcore")
    with pytest.raises(ConfigError, match="variant name or a HiT model"):
        count_macs(3)


def test_measure_latency_reports_sane_statistics():
    from hit_core.models import create_model, measure_latency

    stats = measure_latency(create_model("tiny", fuse=True), threads=1, runs=3, warmup=1)
    assert 0 < stats.median_ms <= stats.p95_ms and stats.runs == 3 and stats.threads == 1
    with pytest.raises(ConfigError, match="runs"):
        measure_latency(create_model("tiny", fuse=True), runs=0)


def test_hit_profile_prints_every_number(capsys):
    from hit_core.cli import main

    assert main(["profile", "--variant", "tiny", "--runs", "2", "--warmup", "0", "--threads", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["variant", "params", "params"]
    row = lines[1].split()
    assert row[:5] == ["HiT-tiny", "9,628,530", "9,609,474", "0.997", "1.016"]
    assert float(row[5]) > 0 and float(row[6]) >= float(row[5]) and float(row[7]) > 0
    assert "1 thread(s)" in lines[2]


def test_hit_profile_rejects_bad_options(capsys):
    from hit_core.cli import main

    with pytest.raises(SystemExit):
        main(["profile", "--variant", "tiyn"])
    assert "did you mean tiny" in capsys.readouterr().err
    assert main(["profile", "--threads", "0"]) == 1
    assert "--threads must be >= 1" in capsys.readouterr().err
