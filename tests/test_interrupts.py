"""Ctrl-C in long commands: the write in hand is finished, one line says what is kept, exit 130."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from click.testing import CliRunner

from maskbench.cli import main
from maskbench.files import atomic_path
from maskbench.interrupts import Interrupted


def test_an_atomic_write_is_finished_before_ctrl_c_stops_it(tmp_path: Path) -> None:
    target = tmp_path / "result.txt"
    with pytest.raises(KeyboardInterrupt), atomic_path(target) as temp:
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C in the middle of the write
        temp.write_text("complete")
    assert target.read_text() == "complete" and list(tmp_path.iterdir()) == [target]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_ctrl_c_in_build_testset_prints_the_command_that_continues(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import maskbench.cli.testset as testset_cli

    def interrupted_build(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(testset_cli, "build_testset", interrupted_build)
    result = CliRunner().invoke(
        main, ["build-testset", "--masks", "raw store", "--out", "split", "--per-bin", "2", "--overwrite"]
    )
    assert result.exit_code == 130
    assert result.output.strip() == (
        "Interrupted: the work finished before it is kept; continue with: "
        "maskbench build-testset --masks 'raw store' --out split --per-bin 2 --overwrite"
    )


def test_a_command_that_knows_what_it_kept_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    import maskbench.cli.extract as extract_cli

    def interrupted_extract(*args: object, **kwargs: object) -> None:
        raise Interrupted("3 videos are in raw.store", resume_arguments=["--videos", "clips", "--out", "raw.store"])

    monkeypatch.setattr(extract_cli, "extract_videos", interrupted_extract)
    result = CliRunner().invoke(main, ["extract", "--videos", "clips", "--out", "raw.store", "--stride", "2"])
    assert result.exit_code == 130
    assert (
        "Interrupted: 3 videos are in raw.store; continue with: maskbench extract --videos clips --out raw.store"
        in result.output
    )
