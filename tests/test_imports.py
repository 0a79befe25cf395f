"""Predictions made elsewhere, imported: a real run's validation probabilities written as an .npz, as 8-bit
PNGs and as a Kaggle CSV, imported, and scored like the run itself; bad items one line each, the rest
imported; nothing written when the import is refused; entries listed, explored and compared beside runs."""

from __future__ import annotations

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from saltlab.analysis.explore import explorable_models, explore
from saltlab.analysis.suspects import out_of_fold
from saltlab.core import rle
from saltlab.core.prediction_files import PredictionFileError, read_predictions
from saltlab.inference.evaluate import evaluate_run
from saltlab.runs.imported import UNKNOWN_HELD_OUT, ImportRefused, import_predictions
from saltlab.runs.registry import format_row, registry_rows
from tests.helpers import PROJECT, env_for


@pytest.fixture(scope="module")
def run_probs(trained_run):
    """The session's run scored on its validation images: (evaluation, ids, float probabilities)."""
    evaluation = evaluate_run(trained_run.path)
    return evaluation, evaluation.ids, evaluation.probs


def _write_sources(folder, ids, probs) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    np.savez(folder / "p.npz", ids=np.array(ids), probs=probs.astype(np.float32))
    pngs = folder / "pngs"
    pngs.mkdir()
    for id_, p in zip(ids, probs):
        cv2.imwrite(str(pngs / f"{id_}.png"), np.rint(p * 255).astype(np.uint8))
    lines = ["id,rle_mask"] + [f"{i},{rle.encode(p > 0.5)}" for i, p in zip(ids, probs)]
    (folder / "p.csv").write_text("\n".join(lines) + "\n")
    (folder / "held.txt").write_text("\n".join(ids))
    return {"npz": folder / "p.npz", "png": pngs, "csv": folder / "p.csv"}


def test_a_runs_predictions_imported_three_ways_score_as_the_run(demo_root, trained_run, run_probs, tmp_path):
    evaluation, ids, probs = run_probs
    sources = _write_sources(tmp_path / "src", ids, probs)
    root = tmp_path / "runs"
    for kind, source in sources.items():
        folder, record = import_predictions(source, demo_root, f"as-{kind}", root, held_out=list(ids))
        assert record.problems == [] and record.n_ids == len(ids) and record.binary == (kind == "csv")
        scored = evaluate_run(folder)
        assert scored.ids == ids
        # The stored probabilities are the run's own (uint8, as its evaluation cache holds them).
        assert scored.scores["score"] == pytest.approx(evaluation.scores["score"], abs=1e-12), kind
        assert scored.scores["score_empty"] == pytest.approx(evaluation.scores["score_empty"])
        assert record.score == pytest.approx(evaluation.scores["score"], abs=1e-12)
        assert ("sweep_threshold" in scored.scores) == (kind != "csv")
        if kind != "csv":
            np.testing.assert_array_equal(scored.probs, evaluation.probs)
    # Explored side by side with the run: the same per-image scores.
    ex = explore([trained_run.best_path, root / "as-png" / "predictions.npz"])
    assert ex.names == ["tiny", "as-png"] and ex.ids == ids
    table = ex.view().table
    np.testing.assert_allclose(table["score tiny"], table["score as-png"])
    assert set(explorable_models(root)) == {"as-npz", "as-png", "as-csv"}


def test_held_out_unknown_is_said_wherever_it_is_scored(demo_root, run_probs, tmp_path):
    _, ids, probs = run_probs
    sources = _write_sources(tmp_path / "src", ids, probs)
    folder, record = import_predictions(sources["npz"], demo_root, "unknown", tmp_path / "runs")
    assert record.held_out == "unknown" and record.held_out_ids is None
    assert UNKNOWN_HELD_OUT in evaluate_run(folder).scores["notes"]
    assert any(UNKNOWN_HELD_OUT in n for n in out_of_fold([folder]).notes)
    row = registry_rows(tmp_path / "runs")[0]
    assert row["state"] == "imported" and row["error"] == "held-out images unknown"
    assert "imported npz (probabilities)" in format_row(row) and "held-out images unknown" in format_row(row)


def _bad_sources(folder, ds):
    ids = ds.train_ids
    good = ds.train_masks[:3]
    lines = ["id,rle_mask"] + [f"{i},{rle.encode(m)}" for i, m in zip(ids[:3], good)]
    lines += ["not-an-id,1 5", f"{ids[0]},1 5", f"{ids[3]},5 3 1 2", f"{ids[4]},1 2 3"]
    (folder / "bad.csv").write_text("\n".join(lines) + "\n")
    pngs = folder / "pngs"
    pngs.mkdir()
    cv2.imwrite(str(pngs / f"{ids[0]}.png"), np.full((101, 101), 200, np.uint8))
    cv2.imwrite(str(pngs / f"{ids[1]}.png"), np.zeros((50, 50), np.uint8))
    (pngs / f"{ids[2]}.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    (pngs / f"{ids[5]}.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * (2**20 + 10))
    half = np.full((101, 101), 0.5, np.float32)
    np.savez(
        folder / "bad.npz",
        **{ids[0]: half, ids[1]: half * 3, ids[2]: np.full((101, 101), np.nan, np.float32), ids[3]: half[:10]},
        **{ids[6]: np.zeros((400, 400))},
    )


def test_bad_items_are_one_line_each_and_the_rest_imports(demo_root, demo_ds, tmp_path):
    _bad_sources(tmp_path, demo_ds)
    ids, known = demo_ds.train_ids, set(demo_ds.train_ids)
    csv = read_predictions(tmp_path / "bad.csv", known)
    assert csv.ids == ids[:3] and csv.binary
    assert csv.problems == [
        "not-an-id: not an image of the data set",
        f"{ids[0]}: listed twice (the first kept)",
        f"{ids[3]}: bad RLE on line 7 (RLE runs overlap or are not in ascending order)",
        f"{ids[4]}: bad RLE on line 8 (odd number of values (3): RLE needs 'start length' pairs)",
    ]
    pngs = read_predictions(tmp_path / "pngs", known)
    assert pngs.ids == [ids[0]] and not pngs.binary and pngs.probs[0, 0, 0] == 200
    assert sorted(pngs.problems) == sorted(
        [
            f"{ids[1]}: {ids[1]}.png: wrong size 50x50, expected 101x101",
            f"{ids[2]}: {ids[2]}.png: unreadable PNG (truncated or corrupt)",
            f"{ids[5]}: {ids[5]}.png: over 1,048,576 bytes: too large for a 101x101 PNG",
        ]
    )
    npz = read_predictions(tmp_path / "bad.npz", known)
    assert npz.ids == [ids[0]] and npz.probs[0, 0, 0] == 128  # rint(0.5 * 255)
    assert npz.problems == [
        f"{ids[1]}: probabilities outside [0, 1] (1.5 to 1.5)",
        f"{ids[2]}: holds values that are not finite (NaN or infinite)",
        f"{ids[3]}: wrong size 101x10, expected 101x101",
        f"{ids[6]}: 1,280,128 bytes: too large for one 101x101 map",
    ]
    with pytest.raises(PredictionFileError, match="an .npy holds no ids"):
        np.save(tmp_path / "stack.npy", np.zeros((2, 101, 101), np.float32))
        read_predictions(tmp_path / "stack.npy", known)


def test_a_refused_import_writes_nothing(demo_root, demo_ds, tmp_path):
    root = tmp_path / "runs"
    (tmp_path / "none.csv").write_text("id,rle_mask\nnot-an-id,1 5\n")
    with pytest.raises(ImportRefused, match="nothing to import .* not-an-id: not an image of the data set"):
        import_predictions(tmp_path / "none.csv", demo_root, "x", root)
    (tmp_path / "one.csv").write_text(f"id,rle_mask\n{demo_ds.train_ids[0]},1 5\n")
    with pytest.raises(ImportRefused, match="none of the 1 predicted images is in the held-out list"):
        import_predictions(tmp_path / "one.csv", demo_root, "x", root, held_out=[demo_ds.train_ids[1]])
    assert not root.exists() or list(root.iterdir()) == []
    import_predictions(tmp_path / "one.csv", demo_root, "x", root)
    with pytest.raises(ImportRefused, match="exists already"):
        import_predictions(tmp_path / "one.csv", demo_root, "x", root)
    with pytest.raises(ImportRefused, match="not usable as an entry name"):
        import_predictions(tmp_path / "one.csv", demo_root, ".hidden", root)
    (tmp_path / "wrong.csv").write_text("image,mask\n")
    with pytest.raises(PredictionFileError, match="expected the header 'id,rle_mask'"):
        import_predictions(tmp_path / "wrong.csv", demo_root, "y", root)
    assert sorted(p.name for p in root.iterdir()) == ["x"]  # no half-made folder, no staging left


def test_cli_import_runs_and_evaluate_then_a_torn_entry(demo_root, demo_ds, tmp_path):
    ids = demo_ds.train_ids[:5]
    lines = ["id,rle_mask"] + [f"{i},{rle.encode(m)}" for i, m in zip(ids, demo_ds.train_masks[:5])] + ["zz,1 1"]
    (tmp_path / "p.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "held.txt").write_text("\n".join(ids[:3]))
    root = tmp_path / "runs"

    def cli(*args):
        return subprocess.run(
            [sys.executable, "-m", "saltlab", *args], cwd=PROJECT, env=env_for(root), capture_output=True, text=True
        )

    made = cli(
        "import",
        str(tmp_path / "p.csv"),
        "--data",
        str(demo_root),
        "--name",
        "k",
        "--held-out",
        str(tmp_path / "held.txt"),
    )
    assert made.returncode == 1, made.stderr  # one item left out: said, and the rest imported
    assert "left out: zz: not an image of the data set" in made.stdout
    assert (
        "imported 5 masks (no probabilities) from csv" in made.stdout
        and "score 1.0000 on 3 images (held out)" in made.stdout
    )
    listed = cli("runs")
    assert "k " in listed.stdout and "imported" in listed.stdout and "scored on 3 images" in listed.stdout
    scored = cli("evaluate", str(root / "k"))
    assert scored.returncode == 0 and "score           1.0000" in scored.stdout
    assert "no threshold sweep" in scored.stdout
    (root / "k" / "import.json").write_text(json.dumps([1, 2]))  # torn by hand: one line wherever it is read
    with pytest.raises(ImportRefused, match=r"import.json: unreadable \(ValueError: holds a list, not an object\)"):
        evaluate_run(root / "k")
    [row] = registry_rows(root)
    assert row["state"] == "unreadable" and "import.json: unreadable" in row["error"]
