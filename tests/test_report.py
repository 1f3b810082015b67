"""Table 1 from hand-built per-pair results: layout, IScore = IS(GT) − IS(model), Markdown, plots."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from maskbench.bins import BIN_LABELS
from maskbench.report import COLUMNS, SKIPPED, _inception_by_bin, build_table, plot_metrics, table_markdown


def _pairs() -> pd.DataFrame:
    """Two models, two pairs in (bin 0, N) and one in (bin 5, B)."""
    rows = []
    for model, offset in (("PConv", 0.0), ("Telea", 1.0)):
        for ratio_bin, border, l1, hole_ratio in ((0, "N", 1.0, 0.05), (0, "N", 2.0, 0.07), (5, "B", 9.0, 0.55)):
            rows.append(dict(model=model, ratio_bin=ratio_bin, border=border, hole_ratio=hole_ratio,
                             l1=l1 + offset, psnr=30.0 - l1, ssim=1.0 - l1 / 10))  # fmt: skip
    return pd.DataFrame(rows)


def test_table_has_the_papers_rows_and_columns() -> None:
    table = build_table(_pairs(), None, ["PConv", "Telea"])
    assert list(table.columns) == list(COLUMNS) and len(COLUMNS) == 12
    assert COLUMNS[:2] == (f"{BIN_LABELS[0]} N", f"{BIN_LABELS[0]} B")
    assert list(table.index[:8]) == [
        "l1(PConv)(%)", "l1(Telea)(%)", "PSNR(PConv)", "PSNR(Telea)",
        "SSIM(PConv)", "SSIM(Telea)", "IScore(PConv)", "IScore(Telea)",
    ]  # fmt: skip
    assert table.loc["l1(PConv)(%)", f"{BIN_LABELS[0]} N"] == 1.5
    assert table.loc["l1(Telea)(%)", f"{BIN_LABELS[0]} N"] == 2.5
    assert table.loc["PSNR(Telea)", f"{BIN_LABELS[5]} B"] == 21.0
    assert math.isnan(table.loc["SSIM(PConv)", f"{BIN_LABELS[3]} N"])
    assert (table.loc["IScore(PConv)"] == SKIPPED).all() and (table.loc["IS(GT)"] == SKIPPED).all()


def test_iscore_is_ground_truth_is_minus_output_is() -> None:
    cell = (0, "N")
    inception = {"is": {"PConv": {cell: 3.5}, "Telea": {cell: 2.0}}, "is_gt": {cell: 4.0},
                 "fid": {"PConv": {cell: 10.0}, "Telea": {cell: 30.0}}}  # fmt: skip
    table = build_table(_pairs(), inception, ["PConv", "Telea"])
    column = f"{BIN_LABELS[0]} N"
    assert table.loc["IScore(PConv)", column] == 0.5 and table.loc["IScore(Telea)", column] == 2.0
    assert table.loc["IS(GT)", column] == 4.0 and table.loc["FID(Telea)", column] == 30.0
    assert math.isnan(table.loc["IScore(PConv)", f"{BIN_LABELS[1]} N"])


def test_inception_by_bin_takes_each_cells_pairs_in_order() -> None:
    rng = np.random.default_rng(0)
    pairs = pd.DataFrame({"pair": [f"{k:05d}" for k in range(40)], "position": range(40),
                          "ratio_bin": [0] * 20 + [1] * 20, "border": ["N"] * 40})  # fmt: skip
    classes = [k % 4 if k < 20 else 0 for k in range(40)]  # bin 0 uses 4 classes, bin 1 one
    features = {}
    for k, label in enumerate(classes):
        logits = np.full(1008, -50.0)
        logits[label] = 50.0
        features[f"{k:05d}"] = (logits, rng.normal(size=8))
    scores = _inception_by_bin(pairs, features)
    assert scores[(0, "N")][0] == pytest.approx(2.0, rel=1e-9)  # 10 splits of 2 consecutive pairs: 2 classes each
    assert scores[(1, "N")][0] == pytest.approx(1.0, rel=1e-9)
    assert scores[(0, "N")][1].shape == (20, 8)
    del features["00003"]
    assert math.isnan(_inception_by_bin(pairs, features)[(0, "N")][0])


def test_markdown_prints_the_paper_block_and_says_what_was_skipped() -> None:
    table = build_table(_pairs(), None, ["PConv", "Telea"])
    counts = _pairs().groupby(["model", "ratio_bin", "border"]).size()
    text = table_markdown(table, models=["PConv", "Telea"], counts=counts, inception=False)
    assert "| l1(PConv)(%) | 1.50 | – |" in text
    assert "| SSIM(Telea) | 0.850 |" in text
    assert "| IScore(PConv) | n/a |" in text
    assert "not computed (--no-inception)" in text
    assert "Pairs per cell: 1–2 (cells differ" in text


def test_metrics_plot_is_written(tmp_path) -> None:
    table = build_table(_pairs(), None, ["PConv", "Telea"])
    plot_metrics(tmp_path / "metrics.png", _pairs(), table, ["PConv", "Telea"], inception=False)
    assert (tmp_path / "metrics.png").stat().st_size > 10_000
