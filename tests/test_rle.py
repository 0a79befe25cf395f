"""RLE: round trips, the Kaggle convention, bad strings, the real train.csv, submission files."""

import csv

import numpy as np
import pytest

from saltlab.core import rle


def test_round_trip_random_masks():
    rng = np.random.default_rng(0)
    masks = rng.random((64, 101, 101)) < rng.random((64, 1, 1))
    masks[0] = False
    masks[1] = True
    decoded = rle.decode_many(rle.encode_many(masks))
    np.testing.assert_array_equal(decoded, masks)


def test_matches_per_pixel_reference():
    rng = np.random.default_rng(1)
    masks = rng.random((20, 101, 101)) < 0.3
    assert rle.encode_many(masks) == [rle.encode_per_pixel(m) for m in masks]


def test_column_major_and_one_indexed():
    mask = np.zeros((101, 101), bool)
    mask[0, 0] = True  # pixel 1
    mask[1, 0] = True  # pixel 2 (down the first column)
    mask[0, 1] = True  # pixel 102 (top of the second column)
    assert rle.encode(mask) == "1 2 102 1"
    np.testing.assert_array_equal(rle.decode("1 2 102 1"), mask)


def test_empty_mask_is_empty_string():
    assert rle.encode(np.zeros((101, 101), bool)) == ""
    for blank in ("", "  ", None, float("nan")):
        assert not rle.decode(blank).any()


def test_full_mask():
    assert rle.encode(np.ones((101, 101), bool)) == "1 10201"


@pytest.mark.parametrize(
    "bad, reason",
    [
        ("1 2 3", "odd number"),
        ("1 x", "not an integer"),
        ("0 5", "below 1"),
        ("5 0", "length below 1"),
        ("10200 5", "past the last pixel"),
        ("10 5 12 3", "overlap"),
        ("50 2 10 2", "ascending"),
    ],
)
def test_bad_strings_raise_clear_errors(bad, reason):
    with pytest.raises(rle.RLEError, match=reason):
        rle.decode(bad)


def test_adjacent_runs_decode_like_merged_runs():
    np.testing.assert_array_equal(rle.decode("1 2 3 4"), rle.decode("1 6"))


@pytest.mark.real_data
def test_every_real_train_csv_row_round_trips(real_root, real_ds):
    with open(real_root / "train.csv", newline="") as f:
        rows = {r["id"]: r["rle_mask"] for r in csv.DictReader(f)}
    assert len(rows) == 3499
    index = real_ds.train_index(list(rows))
    decoded = rle.decode_many(rows.values())
    np.testing.assert_array_equal(decoded, real_ds.train_masks[index])
    assert rle.encode_many(real_ds.train_masks[index]) == [v.strip() for v in rows.values()]


def test_submission_round_trip(tmp_path):
    rng = np.random.default_rng(2)
    masks = rng.random((10, 101, 101)) < 0.4
    masks[3] = False
    ids = [f"id{i:02d}" for i in range(10)]
    path = rle.write_submission(tmp_path / "sub" / "submission.csv", ids, masks)
    assert path.read_text().splitlines()[0] == "id,rle_mask"
    got_ids, got = rle.read_submission(path)
    assert got_ids == ids
    np.testing.assert_array_equal(got, masks)
    assert [p.name for p in path.parent.iterdir()] == ["submission.csv"]  # no temp file left


def test_failed_submission_write_keeps_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "submission.csv"
    path.write_text("id,rle_mask\nold,1 1\n")
    with pytest.raises(ValueError, match="2 ids but 1 masks"):
        rle.write_submission(path, ["a", "b"], np.zeros((1, 101, 101), bool))
    assert path.read_text() == "id,rle_mask\nold,1 1\n"

    real_writer = csv.writer

    class CrashingWriter:
        """Writes the header and a few rows, then the process is 'killed'."""

        def __init__(self, f, **kw):
            self.inner = real_writer(f, **kw)

        def writerow(self, row):
            self.inner.writerow(row)

        def writerows(self, rows):
            for i, row in enumerate(rows):
                if i == 3:
                    raise KeyboardInterrupt
                self.inner.writerow(row)

    monkeypatch.setattr(rle.csv, "writer", CrashingWriter)
    with pytest.raises(KeyboardInterrupt):
        rle.write_submission(path, [f"n{i}" for i in range(10)], np.ones((10, 101, 101), bool))
    assert path.read_text() == "id,rle_mask\nold,1 1\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["submission.csv"]


def test_read_submission_rejects_wrong_header(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("foo,bar\n1,2\n")
    with pytest.raises(ValueError, match="id,rle_mask"):
        rle.read_submission(path)
