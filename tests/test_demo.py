"""The demo runs the whole pipeline on generated data and refuses to replace foreign folders."""

from __future__ import annotations

import pandas as pd
import pytest
from click.testing import CliRunner

from maskbench.bins import BIN_LABELS
from maskbench.demo import DEMO_MARKER, main, run_demo


@pytest.mark.slow
def test_demo_goes_from_video_to_table(tmp_path):
    results = run_demo(tmp_path / "demo", per_bin=1, frames=8, models=("telea",), flow_method="dis")
    table = pd.read_csv(results / "table1.csv", index_col=0)
    assert list(table.index[:3]) == ["l1(Telea)(%)", "PSNR(Telea)", "SSIM(Telea)"]
    assert [f"{label} {border}" for label in BIN_LABELS for border in "NB"] == list(table.columns)
    assert table.loc["PSNR(Telea)"].astype(float).notna().all()
    pairs = pd.read_csv(results / "pairs.csv")
    assert len(pairs) == 12 and set(pairs["model"]) == {"telea"}  # models by spec
    for name in ("metrics.png", "samples.png", "meta.json"):
        assert (results / name).is_file()
    assert (tmp_path / "demo" / "testset" / "preview.png").is_file()
    assert (tmp_path / "demo" / DEMO_MARKER).is_file()


def test_demo_refuses_a_folder_it_did_not_make(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("precious")
    result = CliRunner().invoke(main, ["--out", str(tmp_path / "mine")])
    assert result.exit_code == 2
    assert "is not a maskbench demo folder" in result.output
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "precious"
