"""Loading data sets: the real set's facts, the zips, partial folders, bad items, the cache."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from saltlab.core import rle
from saltlab.core.dataset import load_dataset
from saltlab.core.dataset_cache import dataset_dir
from saltlab.core.definitions import coverage, coverage_class, is_constant_image, is_empty, is_vertical_mask
from saltlab.core.sources import DataSetError, scan
from saltlab.core.table import summary


def tree_snapshot(root: Path) -> dict[str, tuple[int, int, bytes]]:
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns, p.read_bytes()[:64])
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def copy_subset(src: Path, dst: Path, n_train: int = 40, n_test: int = 10) -> tuple[list[str], list[str]]:
    """Copy the first n ids of a data set (files and CSV rows) into a new folder."""
    train_ids = sorted(p.stem for p in (src / "train/images").iterdir())[:n_train]
    test_ids = sorted(p.stem for p in (src / "test/images").iterdir())[:n_test]
    for part, ids in (("train/images", train_ids), ("train/masks", train_ids), ("test/images", test_ids)):
        (dst / part).mkdir(parents=True)
        for id_ in ids:
            shutil.copy2(src / part / f"{id_}.png", dst / part / f"{id_}.png")
    keep = set(train_ids) | set(test_ids)
    for name in ("train.csv", "depths.csv", "sample_submission.csv"):
        frame = pd.read_csv(src / name, dtype=str, keep_default_na=False)
        frame[frame["id"].isin(keep)].to_csv(dst / name, index=False)
    return train_ids, test_ids


# --- the real data ---------------------------------------------------------------------------


@pytest.mark.real_data
def test_real_data_facts(real_ds):
    ds = real_ds
    assert ds.n_train == 3499 and ds.n_test == 2000
    assert ds.health.clean, ds.health.issues[:5]
    assert ds.train_images.dtype == np.uint8 and ds.train_images.shape == (3499, 101, 101)
    assert ds.train_masks.dtype == bool and ds.train_masks.shape == (3499, 101, 101)
    assert is_empty(ds.train_masks).sum() == 1363
    assert is_vertical_mask(ds.train_masks).sum() == 102
    assert is_constant_image(ds.train_images).sum() == 67
    assert is_constant_image(ds.test_images).sum() == 55
    assert is_empty(ds.train_masks)[is_constant_image(ds.train_images)].all()
    counts = np.bincount(coverage_class(coverage(ds.train_masks)), minlength=11)
    assert counts.tolist() == [1735, 285, 201, 186, 172, 189, 172, 143, 132, 141, 143]
    assert not np.isnan(ds.train_depths).any() and not np.isnan(ds.test_depths).any()
    assert 50 <= ds.train_depths.min() and ds.train_depths.max() <= 959
    assert sorted(ds.submission_ids) == ds.test_ids


@pytest.mark.real_data
def test_real_summary(real_ds):
    info = summary(real_ds)
    assert info["empty_masks"] == 1363
    assert info["vertical_masks"] == 102
    assert info["constant_images_train"] == 67
    assert info["full_masks"] == 0
    assert info["health"] == "clean"


@pytest.mark.real_data
def test_real_masks_are_png_greater_than_zero(real_root, real_ds):
    # Non-empty masks are 16-bit {0, 65535}: `> 0` must be the rule, not `== 255`.
    id_ = real_ds.train_ids[int(np.flatnonzero(~is_empty(real_ds.train_masks))[0])]
    raw = cv2.imread(str(real_root / "train/masks" / f"{id_}.png"), cv2.IMREAD_UNCHANGED)
    assert raw.dtype == np.uint16
    np.testing.assert_array_equal(real_ds.train_masks[real_ds.train_index([id_])[0]], raw > 0)


@pytest.mark.real_data
def test_corrupted_real_copy_reports_each_bad_item(real_root, tmp_path):
    root = tmp_path / "tgs"
    train_ids, test_ids = copy_subset(real_root, root)
    salty = [i for i in train_ids if cv2.imread(str(root / "train/masks" / f"{i}.png"), cv2.IMREAD_UNCHANGED).any()]
    seven = salty[0]  # a 16-bit {0, 65535} mask that gets one pixel of 7
    truncated, small, orphan_mask, bad_rle, no_depth = [i for i in train_ids if i != seven][:5]
    data = (root / "train/images" / f"{truncated}.png").read_bytes()
    (root / "train/images" / f"{truncated}.png").write_bytes(data[: len(data) // 2])
    cv2.imwrite(str(root / "train/images" / f"{small}.png"), np.zeros((100, 101, 3), np.uint8))
    mask = cv2.imread(str(root / "train/masks" / f"{seven}.png"), cv2.IMREAD_UNCHANGED)
    mask[0, 0] = 7
    cv2.imwrite(str(root / "train/masks" / f"{seven}.png"), mask)
    (root / "train/images" / f"{orphan_mask}.png").unlink()
    csv_frame = pd.read_csv(root / "train.csv", dtype=str, keep_default_na=False)
    csv_frame.loc[csv_frame["id"] == bad_rle, "rle_mask"] = "1 5"
    csv_frame.to_csv(root / "train.csv", index=False)
    depths = pd.read_csv(root / "depths.csv", dtype=str)
    depths[depths["id"] != no_depth].to_csv(root / "depths.csv", index=False)
    (root / "test/images" / "notes.txt").write_text("not an image")
    before = tree_snapshot(root)

    ds = load_dataset(root)

    assert tree_snapshot(root) == before  # nothing on disk modified
    reasons = {(i.id, i.severity): i for i in ds.health.issues}
    assert "truncated" in reasons[(truncated, "error")].reason
    assert reasons[(truncated, "error")].file == f"train/images/{truncated}.png"
    assert "wrong size 101x100" in reasons[(small, "error")].reason
    assert "values {0, 7, 65535}" in reasons[(seven, "error")].reason
    assert reasons[(orphan_mask, "error")].reason == "mask without image"
    assert "RLE disagrees" in reasons[(bad_rle, "error")].reason
    assert "depths.csv" in reasons[(no_depth, "warning")].reason
    assert reasons[("notes", "error")].reason == "not a PNG file"
    left_out = {truncated, small, seven, orphan_mask, bad_rle}
    assert ds.train_ids == [i for i in train_ids if i not in left_out]
    assert ds.n_test == len(test_ids)
    assert len(ds.health.errors) == 6 and len(ds.health.warnings) == 1
    assert np.isnan(ds.train_depths[ds.train_index([no_depth])[0]])
    # The surviving items are exactly the originals.
    clean = load_dataset(real_root)
    np.testing.assert_array_equal(ds.train_masks, clean.train_masks[clean.train_index(ds.train_ids)])
    np.testing.assert_array_equal(ds.train_images, clean.train_images[clean.train_index(ds.train_ids)])


# --- layouts ---------------------------------------------------------------------------------


def make_zips(src: Path, dst: Path, prefix: str = "") -> None:
    dst.mkdir(parents=True)
    with zipfile.ZipFile(dst / "train.zip", "w") as zf:
        for kind in ("images", "masks"):
            for p in sorted((src / "train" / kind).iterdir()):
                zf.write(p, f"{prefix}{kind}/{p.name}")
    with zipfile.ZipFile(dst / "test.zip", "w") as zf:
        for p in sorted((src / "test/images").iterdir()):
            zf.write(p, f"{prefix}images/{p.name}")
    for name in ("train.csv", "depths.csv", "sample_submission.csv"):
        shutil.copy2(src / name, dst / name)


@pytest.mark.parametrize("prefix", ["", "train/"])
def test_kaggle_zips_load_like_folders(demo_root, demo_ds, tmp_path, prefix):
    make_zips(demo_root, tmp_path / "zipped", prefix)
    ds = load_dataset(tmp_path / "zipped")
    assert ds.health.clean, ds.health.issues
    assert ds.train_ids == demo_ds.train_ids and ds.test_ids == demo_ds.test_ids
    np.testing.assert_array_equal(ds.train_images, demo_ds.train_images)
    np.testing.assert_array_equal(ds.train_masks, demo_ds.train_masks)
    np.testing.assert_array_equal(ds.test_images, demo_ds.test_images)


def test_bad_png_inside_zip_is_reported(demo_root, tmp_path):
    make_zips(demo_root, tmp_path / "zipped")
    with zipfile.ZipFile(tmp_path / "zipped" / "test.zip", "a") as zf:
        zf.writestr("images/broken0000.png", b"\x89PNG\r\n\x1a\nnot really")
    ds = load_dataset(tmp_path / "zipped")
    [issue] = ds.health.errors
    assert issue.id == "broken0000" and issue.file == "test.zip:images/broken0000.png"
    assert "unreadable PNG" in issue.reason


def test_corrupt_zip_is_a_clear_error(tmp_path):
    (tmp_path / "test.zip").write_bytes(b"PK\x03\x04 garbage")
    with pytest.raises(DataSetError, match="not a readable zip"):
        load_dataset(tmp_path)


def test_test_only_folder_is_valid(demo_root, tmp_path):
    root = tmp_path / "test-only"
    shutil.copytree(demo_root / "test", root / "test")
    ds = load_dataset(root)
    assert ds.n_train == 0 and ds.n_test == 60
    assert ds.train_images.shape == (0, 101, 101)
    assert [i.file for i in ds.health.warnings] == ["depths.csv"]
    assert np.isnan(ds.test_depths).all()


def test_masks_from_train_csv_when_no_mask_pngs(demo_root, demo_ds, tmp_path):
    root = tmp_path / "csv-masks"
    shutil.copytree(demo_root, root)
    shutil.rmtree(root / "train/masks")
    ds = load_dataset(root)
    assert ds.health.clean
    np.testing.assert_array_equal(ds.train_masks, demo_ds.train_masks)


def test_missing_csvs_are_warnings_and_nothing_is_lost(demo_root, tmp_path):
    root = tmp_path / "no-csv"
    shutil.copytree(demo_root, root)
    for name in ("train.csv", "depths.csv", "sample_submission.csv"):
        (root / name).unlink()
    ds = load_dataset(root)
    assert ds.n_train == 200 and ds.n_test == 60
    assert not ds.health.errors
    assert {i.file for i in ds.health.warnings} == {"train.csv", "depths.csv"}


def test_garbled_csv_is_reported_not_fatal(demo_root, tmp_path):
    root = tmp_path / "bad-csv"
    shutil.copytree(demo_root, root)
    (root / "depths.csv").write_text("name,depth\nabc,1\n")
    (root / "train.csv").write_bytes(b"\xff\xfe\x00garbage")
    ds = load_dataset(root)
    assert ds.n_train == 200
    messages = {i.file: i.reason for i in ds.health.errors}
    assert "missing column(s) id, z" in messages["depths.csv"]
    assert "unreadable CSV" in messages["train.csv"]


def test_image_without_mask_and_odd_mask_values(demo_root, tmp_path):
    root = tmp_path / "odd"
    shutil.copytree(demo_root, root)
    ids = sorted(p.stem for p in (root / "train/masks").iterdir())
    (root / "train/masks" / f"{ids[0]}.png").unlink()
    cv2.imwrite(str(root / "train/masks" / f"{ids[1]}.png"), np.full((101, 101), 7, np.uint8))
    ds = load_dataset(root)
    errors = {i.id: i.reason for i in ds.health.errors}
    assert errors[ids[0]] == "image without mask"
    assert "values {7}" in errors[ids[1]]
    assert len(errors) == 2 and ds.n_train == 198  # one line per bad id, not two


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: None, "not found"),
        (lambda p: p.write_text("x"), "not a folder"),
        (lambda p: p.mkdir(), "no data set in the Kaggle layout"),
    ],
)
def test_not_a_data_set_raises_clear_error(tmp_path, make, message):
    path = tmp_path / "thing"
    make(path)
    with pytest.raises(DataSetError, match=message):
        load_dataset(path)


# --- the cache -------------------------------------------------------------------------------


def test_second_load_comes_from_cache_and_equals_first(demo_root, tmp_path):
    root = tmp_path / "d"
    shutil.copytree(demo_root, root)
    first = load_dataset(root)
    second = load_dataset(root)
    assert not first.from_cache and second.from_cache
    assert second.train_ids == first.train_ids and second.health.issues == first.health.issues
    np.testing.assert_array_equal(second.train_images, first.train_images)
    np.testing.assert_array_equal(second.train_masks, first.train_masks)
    np.testing.assert_array_equal(second.test_depths, first.test_depths)
    assert second.submission_ids == first.submission_ids and second.train_rle == first.train_rle


def test_changed_file_invalidates_cache(demo_root, tmp_path):
    root = tmp_path / "d"
    shutil.copytree(demo_root, root)
    first = load_dataset(root)
    target = root / "train/images" / f"{first.train_ids[0]}.png"
    cv2.imwrite(str(target), np.full((101, 101), 9, np.uint8))
    os.utime(target, ns=(target.stat().st_atime_ns, target.stat().st_mtime_ns + 10**9))
    second = load_dataset(root)
    assert not second.from_cache and second.fingerprint != first.fingerprint
    assert (second.train_images[0] == 9).all()
    assert load_dataset(root).from_cache


def test_corrupt_cache_is_rebuilt(demo_root, tmp_path):
    root = tmp_path / "d"
    shutil.copytree(demo_root, root)
    first = load_dataset(root)
    folder = dataset_dir(first.fingerprint)
    (folder / "train_masks.npy").write_bytes(b"\x93NUMPY garbage")
    with pytest.warns(UserWarning, match="unreadable data set cache"):
        again = load_dataset(root)
    assert not again.from_cache
    np.testing.assert_array_equal(again.train_masks, first.train_masks)
    assert load_dataset(root).from_cache


@contextlib.contextmanager
def _read_only_copy(source, tmp_path):
    """A copy of `source` that this process really cannot write: a read-only bind mount when running as root
    (root ignores file modes), read-only file modes otherwise. Skips when neither can be had."""
    copy = tmp_path / "copy"
    shutil.copytree(source, copy)
    if os.geteuid() == 0:
        mount = tmp_path / "ro"
        mount.mkdir()
        made = subprocess.run(["mount", "--bind", str(copy), str(mount)], capture_output=True).returncode == 0
        if made and subprocess.run(["mount", "-o", "remount,bind,ro", str(mount)], capture_output=True).returncode == 0:
            try:
                yield mount
            finally:
                subprocess.run(["umount", str(mount)], capture_output=True)
            return
        if made:
            subprocess.run(["umount", str(mount)], capture_output=True)
        pytest.skip("running as root and no read-only bind mount here: cannot make a folder read-only")
    for p in copy.rglob("*"):
        p.chmod(0o555 if p.is_dir() else 0o444)
    copy.chmod(0o555)
    try:
        yield copy
    finally:
        for p in [copy, *copy.rglob("*")]:
            p.chmod(0o755 if p.is_dir() else 0o644)


def test_read_only_data_folder_loads(demo_root, tmp_path):
    with _read_only_copy(demo_root, tmp_path) as root:
        with pytest.raises(OSError):
            (root / "probe").write_text("x")  # it really is read-only to this process
        ds = load_dataset(root)
        assert (
            ds.n_train == 200 and ds.n_test == 60 and ds.health.describe() == load_dataset(demo_root).health.describe()
        )


def _bytes_read() -> int:
    """Bytes this process has read through read()-like calls so far (/proc/self/io rchar)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar in /proc/self/io")


def test_scan_lists_without_reading(demo_root):
    total = sum(p.stat().st_size for p in demo_root.rglob("*.png"))
    before = _bytes_read()
    layout = scan(demo_root)
    read = _bytes_read() - before
    assert {part: len(m) for part, m in layout.parts.items()} == {
        "train/images": 200,
        "train/masks": 200,
        "test/images": 60,
    }
    assert set(layout.csvs) == {"train.csv", "depths.csv", "sample_submission.csv"}
    assert len(layout.fingerprint()) == 20
    # Names and sizes only: reading the 460 PNGs would count their bytes here.
    assert read < total / 20, f"scan read {read} bytes of {total}"


def test_rle_column_matches_masks(demo_ds):
    assert demo_ds.train_rle == rle.encode_many(demo_ds.train_masks)
