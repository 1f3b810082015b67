"""Table 1 from hand-built per-pair results: layout, IScore = IS(GT) − IS(model), Markdown, plots."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from maskbench.bins import BIN_LABELS
from maskbench.report import _inception_by_bin
from maskbench.report_plots import _confidence_halfwidths, _plot_rows, plot_metrics
from maskbench.table1 import COLUMNS, IS_ABSENT, NOT_STORED, build_table, table_markdown


def _pairs() -> pd.DataFrame:
    """Two models, two pairs in (bin 0, N) and one in (bin 5, B)."""
    rows = []
    for model, offset in (("PConv", 0.0), ("Telea", 1.0)):
        for ratio_bin, border, l1, hole_ratio in ((0, "N", 1.0, 0.05), (0, "N", 2.0, 0.07), (5, "B", 9.0, 0.55)):
            rows.append(
                dict(
                    model=model,
                    ratio_bin=ratio_bin,
                    border=border,
                    hole_ratio=hole_ratio,
                    l1=l1 + offset,
                    psnr=30.0 - l1,
                    ssim=1.0 - l1 / 10,
                    ssim_paper=0.9 - l1 / 10,
                )
            )
    return pd.DataFrame(rows)


def test_table_has_the_papers_rows_and_columns() -> None:
    table = build_table(_pairs(), None, ["PConv", "Telea"])
    assert list(table.columns) == list(COLUMNS) and len(COLUMNS) == 12
    assert COLUMNS[:2] == (f"{BIN_LABELS[0]} N", f"{BIN_LABELS[0]} B")
    assert list(table.index) == [
        "l1(PConv)(%)",
        "l1(Telea)(%)",
        "PSNR(PConv)",
        "PSNR(Telea)",
        "SSIM(PConv)",
        "SSIM(Telea)",
        "SSIM_paper(PConv)",
        "SSIM_paper(Telea)",
    ]  # no Inception: no IScore, IS or FID rows
    assert table.loc["SSIM_paper(Telea)", f"{BIN_LABELS[0]} N"] == pytest.approx(0.75)
    assert table.loc["l1(PConv)(%)", f"{BIN_LABELS[0]} N"] == 1.5
    assert table.loc["l1(Telea)(%)", f"{BIN_LABELS[0]} N"] == 2.5
    assert table.loc["PSNR(Telea)", f"{BIN_LABELS[5]} B"] == 21.0
    assert math.isnan(table.loc["SSIM(PConv)", f"{BIN_LABELS[3]} N"])


def test_iscore_is_ground_truth_is_minus_output_is() -> None:
    cell = (0, "N")
    inception = {
        "is": {"PConv": {cell: 3.5}, "Telea": {cell: 2.0}},
        "is_gt": {cell: 4.0},
        "fid": {"PConv": {cell: 10.0}, "Telea": {cell: 30.0}},
    }
    table = build_table(_pairs(), inception, ["PConv", "Telea"])
    column = f"{BIN_LABELS[0]} N"
    assert table.loc["IScore(PConv)", column] == 0.5 and table.loc["IScore(Telea)", column] == 2.0
    assert table.loc["IS(GT)", column] == 4.0 and table.loc["FID(Telea)", column] == 30.0
    assert math.isnan(table.loc["IScore(PConv)", f"{BIN_LABELS[1]} N"])


def test_inception_by_bin_takes_each_cells_pairs_in_order() -> None:
    rng = np.random.default_rng(0)
    pairs = pd.DataFrame(
        {
            "pair": [f"{k:05d}" for k in range(40)],
            "position": range(40),
            "ratio_bin": [0] * 20 + [1] * 20,
            "border": ["N"] * 40,
        }
    )
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
    assert "IScore(" not in text and "Inception Score and FID" not in text and "n/a" not in text
    assert "not computed (--no-inception)" in text
    assert "Pairs per cell: 1–2 (cells differ" in text


def test_metrics_plot_is_written(tmp_path) -> None:
    table = build_table(_pairs(), None, ["PConv", "Telea"])
    plot_metrics(tmp_path / "metrics.png", _pairs(), table, ["PConv", "Telea"], inception=False)
    assert (tmp_path / "metrics.png").stat().st_size > 10_000


def test_every_model_is_visible_with_its_confidence_band() -> None:
    pairs = _pairs()
    pairs.loc[pairs["model"] == "Telea", "l1"] = pairs.loc[pairs["model"] == "PConv", "l1"].to_numpy()  # equal values
    table = build_table(pairs, None, ["PConv", "Telea"])
    bands = _confidence_halfwidths(pairs, "l1")
    assert bands["PConv"][f"{BIN_LABELS[0]} N"] == pytest.approx(1.96 * np.std([1.0, 2.0], ddof=1) / np.sqrt(2))
    assert math.isnan(bands["PConv"][f"{BIN_LABELS[5]} B"])  # one pair: no interval
    axis = Figure().subplots()
    x = {column: 0.05 + 0.01 * number for number, column in enumerate(COLUMNS)}
    rows = {model: table.loc[f"l1({model})(%)"].to_dict() for model in ("PConv", "Telea")}
    _plot_rows(axis, x, rows, published=False, colors=["C0", "C1"], bands=bands)
    lines = {line.get_label(): line for line in axis.get_lines()}
    assert lines["PConv N"].get_marker() != lines["Telea N"].get_marker()
    assert np.allclose(lines["PConv N"].get_ydata(), lines["Telea N"].get_ydata(), equal_nan=True)
    assert (np.asarray(lines["PConv N"].get_xdata()) < np.asarray(lines["Telea N"].get_xdata())).all()  # shifted apart
    assert len(axis.collections) == 2  # one band per model (class N; class B has single pairs)


# Liu et al. 2018, Table 1, typed here from the paper: rows PM and PConv, columns (0.01,0.1] N … (0.5,0.6] B
PAPER_PM = {
    "l1": [0.45, 0.42, 1.25, 1.16, 2.28, 2.07, 3.52, 3.17, 4.77, 4.27, 6.98, 6.34],
    "PSNR": [32.97, 33.68, 26.87, 27.51, 23.70, 24.35, 21.27, 22.05, 19.70, 20.58, 17.60, 18.22],
    "SSIM": [0.946, 0.947, 0.861, 0.865, 0.763, 0.768, 0.666, 0.675, 0.568, 0.579, 0.459, 0.472],
    "IScore": [0.090, 0.058, 0.307, 0.204, 0.766, 0.465, 1.551, 0.921, 2.724, 1.422, 4.075, 2.226],
}
PAPER_PCONV_SSIM = [0.946, 0.945, 0.867, 0.870, 0.775, 0.779, 0.681, 0.689, 0.583, 0.595, 0.468, 0.484]
PAPER_GL_L1 = [1.39, 1.53, 3.01, 3.22, 4.51, 5.00, 6.05, 6.77, 7.34, 8.20, 8.60, 9.78]


def test_paper_rows_equal_the_published_table_and_sit_beside_the_right_column() -> None:
    table = build_table(_pairs(), None, ["PConv", "Telea"], paper=True)
    labels = list(table.index)
    assert list(table.loc["l1(PM)(%) [published, Places2]"]) == PAPER_PM["l1"]
    assert list(table.loc["l1(GL)(%) [published, Places2]"]) == PAPER_GL_L1
    assert list(table.loc["PSNR(PM) [published, Places2]"]) == PAPER_PM["PSNR"]
    ssim_pm = "SSIM(PM) [published, Places2; compare with SSIM_paper]"
    assert list(table.loc[ssim_pm]) == PAPER_PM["SSIM"]
    assert list(table.loc["SSIM(PConv) [published, Places2; compare with SSIM_paper]"]) == PAPER_PCONV_SSIM
    assert list(table.loc["IScore(PM) [published, ImageNet; not comparable]"]) == PAPER_PM["IScore"]
    # the published SSIM follows our SSIM_paper rows, never our SSIM rows; IScore comes last, apart
    assert labels.index(ssim_pm) == labels.index("SSIM_paper(Telea)") + 1
    assert labels.index("l1(PM)(%) [published, Places2]") == labels.index("l1(Telea)(%)") + 1
    assert all("published" in label for label in labels[-5:]) and labels[-5].startswith("IScore(PM)")
    assert sum("[published" in label for label in labels) == 4 * 5
    assert "[published" not in "".join(build_table(_pairs(), None, ["PConv"]).index)


def test_markdown_shows_the_published_iscore_apart_with_its_caveat(tmp_path) -> None:
    table = build_table(_pairs(), None, ["PConv", "Telea"], paper=True)
    counts = _pairs().groupby(["model", "ratio_bin", "border"]).size()
    text = table_markdown(table, models=["PConv", "Telea"], counts=counts, inception=False)
    main, _, apart = text.partition("### Published IScore")
    assert "| SSIM(PM) [published, Places2; compare with SSIM_paper] | 0.946 | 0.947 |" in main
    assert (
        "IScore(PM) [published" not in main and "| IScore(PM) [published, ImageNet; not comparable] | 0.090 |" in apart
    )
    assert "our reading of a column the paper does not define" in text
    plot_metrics(tmp_path / "metrics.png", _pairs(), table, ["PConv", "Telea"], inception=False, paper=True)
    assert (tmp_path / "metrics.png").stat().st_size > 10_000


def test_cells_of_a_metric_the_run_did_not_store_say_so() -> None:
    pairs = _pairs()
    pairs["ssim_paper"] = np.nan  # results cached before maskbench computed ssim_paper
    table = build_table(pairs, None, ["PConv", "Telea"])
    assert table.loc["SSIM_paper(PConv)", f"{BIN_LABELS[0]} N"] == NOT_STORED
    assert math.isnan(table.loc["SSIM_paper(PConv)", f"{BIN_LABELS[3]} N"])  # no pairs there at all
    counts = pairs.groupby(["model", "ratio_bin", "border"]).size()
    text = table_markdown(table, models=["PConv", "Telea"], counts=counts, inception=False)
    assert "| SSIM_paper(PConv) | n/a |" in text and "--overwrite to compute it" in text


def test_a_fid_only_run_shows_fid_and_says_why_is_is_absent() -> None:
    pairs = pd.DataFrame(
        {"pair": [f"{k:05d}" for k in range(12)], "position": range(12), "ratio_bin": [0] * 12, "border": ["N"] * 12}
    )
    rng = np.random.default_rng(1)
    pool_only = {f"{k:05d}": (np.zeros(0, np.float32), rng.normal(size=8)) for k in range(12)}
    scores = _inception_by_bin(pairs, pool_only)
    assert scores[(0, "N")][0] == IS_ABSENT and scores[(0, "N")][1].shape == (12, 8)
    cell = (0, "N")
    inception = {"is": {"PConv": {cell: IS_ABSENT}}, "is_gt": {cell: IS_ABSENT}, "fid": {"PConv": {cell: 12.5}}}
    table = build_table(_pairs(), inception, ["PConv"])
    column = f"{BIN_LABELS[0]} N"
    assert table.loc["FID(PConv)", column] == 12.5
    assert table.loc["IS(PConv)", column] == IS_ABSENT and table.loc["IScore(PConv)", column] == IS_ABSENT
    counts = _pairs().groupby(["model", "ratio_bin", "border"]).size()
    text = table_markdown(table, models=["PConv"], counts=counts, inception=True)
    assert "| FID(PConv) | 12.50 |" in text and "lack the 1008-way layer that IS needs" in text
