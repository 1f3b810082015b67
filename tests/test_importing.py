"""import-masks: polarity, binariness, thresholds, the inverted-polarity warning, provenance."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from skimage import data

from maskbench.cli import main
from maskbench.errors import InputError, OutputExistsError
from maskbench.files import write_mask
from maskbench.importing import ImportConfig, PolarityWarning, import_masks, polarity_message
from maskbench.store import MaskStore


@pytest.fixture()
def mask_folder(tmp_path):
    folder = tmp_path / "masks"
    holes = {
        "a.png": data.camera()[:100, :120] < 80,
        "sub/b.png": data.coins()[:90, :70] > 150,
        "c.png": np.zeros((30, 40), dtype=bool),
    }
    for name, hole in holes.items():
        write_mask(folder / name, hole)
    return folder, holes


def test_import_round_trip_with_file_names_as_provenance(tmp_path, mask_folder):
    folder, holes = mask_folder
    summary = import_masks(folder, tmp_path / "s", config=ImportConfig.load(workers=1))
    store = MaskStore.open(tmp_path / "s")
    assert (summary.added, summary.total, summary.polarity_warning) == (3, 3, None)
    names = [store.record(i).source for i in range(3)]
    assert names == ["a.png", "c.png", "sub/b.png"]
    for index, name in enumerate(names):
        assert np.array_equal(store[index], holes[name])


def test_invert_swaps_holes_and_valid_pixels(tmp_path, mask_folder):
    folder, holes = mask_folder
    with pytest.warns(PolarityWarning, match="polarity looks inverted.*--invert"):
        summary = import_masks(folder, tmp_path / "s", config=ImportConfig.load(invert=True, workers=1))
    assert summary.polarity_warning is not None
    assert np.array_equal(MaskStore.open(tmp_path / "s")[0], ~holes["a.png"])


@pytest.mark.filterwarnings("ignore::maskbench.importing.PolarityWarning")
def test_non_binary_mask_is_rejected_naming_the_file_unless_thresholded(tmp_path):
    folder = tmp_path / "gray"
    folder.mkdir()
    cv2.imwrite(str(folder / "photo.jpg"), data.camera()[:64, :64])
    with pytest.raises(InputError, match=r"photo\.jpg is not a binary mask.*--threshold"):
        import_masks(folder, tmp_path / "s", config=ImportConfig.load(workers=1))
    import_masks(folder, tmp_path / "t", config=ImportConfig.load(threshold=127, workers=1))
    stored = MaskStore.open(tmp_path / "t")[0]
    decoded = cv2.imread(str(folder / "photo.jpg"), cv2.IMREAD_GRAYSCALE)
    assert np.array_equal(stored, decoded > 127)


def test_existing_store_needs_overwrite_or_append(tmp_path, mask_folder):
    folder, _ = mask_folder
    import_masks(folder, tmp_path / "s", config=ImportConfig.load(workers=1))
    other = tmp_path / "other"
    write_mask(other / "x.png", np.eye(8, dtype=bool))
    with pytest.raises(OutputExistsError, match="already exists; pass --overwrite to replace it or --append"):
        import_masks(other, tmp_path / "s", config=ImportConfig.load(workers=1))
    assert import_masks(other, tmp_path / "s", config=ImportConfig.load(append=True, workers=1)).total == 4
    assert import_masks(other, tmp_path / "s", config=ImportConfig.load(workers=1), overwrite=True).total == 1


def test_empty_folder_and_polarity_rule(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no mask images"):
        import_masks(tmp_path / "empty", tmp_path / "s")
    assert polarity_message([0.9, 0.8, 0.1], limit=0.5) is not None
    assert polarity_message([0.9, 0.1], limit=0.5) is None  # half is not most


def test_a_failed_import_leaves_no_path_and_the_corrected_command_runs(tmp_path):
    folder = tmp_path / "gray"
    folder.mkdir()
    cv2.imwrite(str(folder / "photo.jpg"), data.camera()[:64, :64])
    out = tmp_path / "new.store"
    failed = CliRunner().invoke(main, ["import-masks", str(folder), "--out", str(out), "--workers", "0"])
    assert failed.exit_code == 2 and "photo.jpg is not a binary mask" in failed.output
    assert not out.exists()
    fixed = CliRunner().invoke(
        main, ["import-masks", str(folder), "--out", str(out), "--workers", "0", "--threshold", "127"]
    )
    assert fixed.exit_code == 0, fixed.output
    assert len(MaskStore.open(out)) == 1
    kept = CliRunner().invoke(main, ["import-masks", str(folder), "--out", str(out), "--overwrite", "--workers", "0"])
    assert kept.exit_code == 2 and len(MaskStore.open(out)) == 1  # a failed --overwrite keeps the old store
