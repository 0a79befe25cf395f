"""The neighbour rules: what each changes, that no held-out label leaks in, and the before/after table."""

from __future__ import annotations

import numpy as np
import pandas as pd

from saltlab.analysis.neighbour_rules import apply_rule, is_vertical, rule_table
from saltlab.core.mosaic import Mosaic

T = 101


class LabelledSet:
    def __init__(self, ids, masks):
        self.train_ids = ids
        self.train_masks = masks


def column_of_tiles(ids: list[str]) -> Mosaic:
    """The tiles stacked in one column, top to bottom, all train tiles."""
    n = len(ids)
    return Mosaic(
        ids,
        np.ones(n, bool),
        np.zeros(n, np.int64),
        np.arange(n, dtype=np.int64),
        np.zeros(n, np.int64),
        pd.DataFrame(columns=["a", "b", "direction", "correlation", "confidence"]),
    )


def vertical(columns: slice) -> np.ndarray:
    mask = np.zeros((T, T), bool)
    mask[:, columns] = True
    return mask


def test_a_vertical_mask_above_continues_below_from_the_truth_of_a_training_tile_only():
    ids = ["top", "mid", "low"]
    truth = np.stack([vertical(slice(20, 50)), vertical(slice(20, 50)), np.zeros((T, T), bool)])
    ds = LabelledSet(ids, truth)
    mosaic = column_of_tiles(ids)
    images = np.random.default_rng(0).integers(0, 255, (2, T, T), dtype=np.uint8)
    predicted = np.zeros((2, T, T), bool)  # the run found nothing in mid and low
    # scoring mid and low; top is a training tile: its truth may be used
    result = apply_rule("vertical", ["mid", "low"], predicted, images, ds, mosaic, held_out={"mid", "low"})
    assert result.changed == ["mid"]  # low's upper neighbour (mid) is held out: its prediction (empty) counts
    assert np.array_equal(result.masks[0], truth[1]) and not result.masks[1].any()
    # top held out as well, and not among the scored images: its label must not be used
    result = apply_rule("vertical", ["mid", "low"], predicted, images, ds, mosaic, held_out={"top", "mid", "low"})
    assert result.changed == []
    assert is_vertical(truth[0]) and not is_vertical(np.zeros((T, T), bool))


def test_a_constant_image_loses_its_predicted_salt_and_the_table_scores_both_rules():
    ids = ["flat", "top", "below"]
    truth = np.stack([np.zeros((T, T), bool), vertical(slice(0, 30)), vertical(slice(0, 30))])
    ds = LabelledSet(ids, truth)
    mosaic = column_of_tiles(["top", "below", "flat"])
    images = np.random.default_rng(1).integers(0, 255, (2, T, T), dtype=np.uint8)
    images[0] = 7  # constant
    predicted = np.zeros((2, T, T), bool)
    predicted[0, :10] = True  # salt predicted on the constant image
    scored = ["flat", "below"]
    table = rule_table(scored, predicted, truth[[0, 2]], images, ds, mosaic, held_out=set(scored)).set_index("rule")
    assert table.loc["constant", "images changed"] == 1 and table.loc["vertical", "images changed"] == 1
    assert table.loc["constant", "score before"] == 0.0 and table.loc["constant", "score after"] == 0.5
    assert table.loc["vertical", "score after"] == 0.5
    assert table.loc["both", "score after"] == 1.0 and table.loc["both", "gain"] == 1.0


def test_the_rules_on_a_real_run_in_the_explorer_library_and_compare(trained_run, capsys):
    from saltlab.analysis.explore import explore
    from saltlab.cli import main

    ex = explore([trained_run.path])
    name = ex.names[0]
    table = ex.rules(name)
    assert table["rule"].tolist() == ["constant", "vertical", "both"]
    assert np.allclose(table["score before"], round(ex.view().summaries[0].score, 4))
    assert main(["compare", str(trained_run.path), "--rules"]) == 0
    out = capsys.readouterr().out
    assert f"neighbour rules (mosaic) on {name}" in out
    assert "a vertical mask continues into the tile below" in out
