"""The `hit` command: every subcommand is registered, and mistakes get the close match."""

from __future__ import annotations

import pytest

from hit_core.cli import main

SUBCOMMANDS = ["bag", "bench", "engine", "eval", "export", "profile", "track", "train"]


def test_every_subcommand_is_registered(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    listing = capsys.readouterr().out
    for name in SUBCOMMANDS:
        assert f"    {name} " in listing


@pytest.mark.parametrize(
    ("argv", "hint"),
    [
        (["trak", "video.mp4"], "did you mean track?"),
        (["eval", "--dataset", "lasott", "--output", "x"], "did you mean lasot?"),
        (["eval", "--datset", "folder", "--output", "x"], "unknown option --datset: did you mean --dataset?"),
        (["track", "video.mp4", "--bx", "1,2,3,4"], "unknown option --bx: did you mean --box?"),
    ],
)
def test_mistakes_name_the_close_match(argv, hint, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert hint in capsys.readouterr().err
