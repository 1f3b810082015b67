"""Shape statistics with known values, and `inspect` on a store, a split and a numbered folder."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from maskbench.cli import main
from maskbench.errors import InputError, OutputExistsError
from maskbench.figures import ratio_histogram
from maskbench.files import write_mask
from maskbench.inspection import InspectConfig, inspect_path
from maskbench.shapes import STATS_COLUMNS, shape_stats
from maskbench.store import MaskStore


def test_shape_stats_of_known_shapes():
    hole = np.zeros((200, 200), dtype=bool)
    hole[50:90, 50:90] = True  # 1600 px, 40 px side
    hole[150:160, 0:10] = True  # 100 px, touching the left edge
    stats = shape_stats(hole)
    assert stats.components == 2
    assert stats.largest_share == pytest.approx(1600 / 1700)
    assert stats.min_border_dist == 0
    assert stats.hole_ratio == 1700 / 40000
    # boundary pixels ≈ perimeters 4·40 + 4·10 (one-pixel-wide Canny edges)
    assert stats.perimeter_per_area == pytest.approx(200 / 1700, rel=0.15)
    # mean distance to the nearest valid pixel inside a square of side s ≈ s/6 (+½ px for pixel centres)
    square = np.zeros((100, 100), dtype=bool)
    square[20:80, 20:80] = True
    assert shape_stats(square).half_width == pytest.approx(60 / 6 + 0.5, rel=0.1)
    assert shape_stats(square).min_border_dist == 20
    diagonal = np.eye(64, dtype=bool) | np.eye(64, k=1, dtype=bool)
    assert shape_stats(diagonal).components == 1


def test_inspect_store_counts_every_mask(tmp_path):
    store = MaskStore.create(tmp_path / "s")
    holes = []
    for size, fill in ((100, 5), (100, 35), (64, 70), (80, 0)):
        hole = np.zeros((size, size), dtype=bool)
        hole.flat[: size * size * fill // 100] = True  # rows from the top: all touch the edge (B)
        holes.append(hole)
    store.append(holes, sources=list("abcd"), frames=[0, 1, 2, 3])
    report = inspect_path(tmp_path / "s", config=InspectConfig.load(workers=1))
    assert (report.kind, report.total, report.outside_bins) == ("store", 4, 2)  # ratios 0.7 and 0.0 lie in no bin
    table = report.table.set_index(["bin", "class"])
    assert table.loc[("(0.01,0.1]", "B"), "masks"] == 1 and table.loc[("(0.3,0.4]", "B"), "masks"] == 1
    for name in ("histogram.png", "examples.png", "shape_stats.csv", "summary.md"):
        assert (tmp_path / "s.inspect" / name).stat().st_size > 0
    assert list(pd.read_csv(tmp_path / "s.inspect" / "shape_stats.csv").columns) == list(STATS_COLUMNS)
    with pytest.raises(OutputExistsError, match=r"inspection folder .* already exists"):
        inspect_path(tmp_path / "s", config=InspectConfig.load(workers=1))


def test_inspect_numbered_folder_reports_mismatches(tmp_path):
    folder = tmp_path / "nvidia"
    for index in range(12):  # per_bin 1: index = 2k + b
        k, b = divmod(index, 2)
        hole = np.zeros((512, 512), dtype=bool)
        side = int(np.sqrt((0.05 + 0.1 * k) * 512 * 512))
        top = 0 if b else 60
        hole[top : top + side, 60 : 60 + side] = True
        write_mask(folder / f"{index:05d}.png", hole)
    shutil.copy(folder / "00000.png", folder / "00011.png")  # a small N mask numbered as bin 5 B
    report = inspect_path(folder, tmp_path / "look", config=InspectConfig.load(workers=1))
    assert (report.kind, report.total, report.mismatches) == ("nvidia", 12, 1)
    assert "1 masks measure differently" in report.text()
    runner = CliRunner()
    result = runner.invoke(main, ["inspect", str(tmp_path / "missing")])
    assert result.exit_code == 2 and "nothing to inspect" in result.output
    result = runner.invoke(main, ["inspect", str(folder), "--out", str(tmp_path / "cli"), "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "| (0.5,0.6] | B | 1 |" in result.output
    assert (tmp_path / "cli" / "histogram.png").is_file()
    with pytest.raises(InputError, match="neither a split"):
        inspect_path(tmp_path / "cli", tmp_path / "other", config=InspectConfig.load(workers=1))


def test_the_ratio_histogram_counts_in_whole_masks() -> None:
    figure = ratio_histogram(np.array([0.05, 0.15, 0.15]), bins=35, title="three masks")
    ticks = figure.axes[0].get_yticks()
    assert len(ticks) >= 2 and all(float(tick).is_integer() for tick in ticks)
