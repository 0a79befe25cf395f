"""The image browser's filtering and paging, and the pictures it draws (overlays, outcome colours, mosaics)."""

import numpy as np
import pandas as pd
import pytest

from saltlab.analysis.browse import Filter, anomaly_counts, filter_table, page_of
from saltlab.analysis.render import OUTCOME_COLOURS, mask_overlay, mosaic, outcome_map, outcome_overlay
from saltlab.core.table import image_table


def test_filters(demo_ds):
    table = image_table(demo_ds)
    assert len(filter_table(table, Filter())) == 260
    train = filter_table(table, Filter(split="train"))
    assert len(train) == 200 and (train["split"] == "train").all()
    some = filter_table(table, Filter(coverage_classes=[0, 10]))
    assert set(some["coverage_class"]) <= {0, 10} and len(some) == table["coverage_class"].isin([0, 10]).sum()
    vertical = filter_table(table, Filter(anomaly="vertical mask"))
    assert len(vertical) == anomaly_counts(table)["vertical mask"] == table["vertical_mask"].fillna(False).sum()
    deep = filter_table(table, Filter(depth_range=(500, 959), sort_by="depth", descending=True))
    assert deep["depth"].between(500, 959).all() and deep["depth"].is_monotonic_decreasing
    with pytest.raises(ValueError, match="cannot sort by"):
        filter_table(table, Filter(sort_by="colour"))


def test_paging(demo_ds):
    rows = filter_table(image_table(demo_ds), Filter(split="train"))
    pages = [page_of(rows, k, 48) for k in range(5)]
    assert [len(p) for p in pages] == [48, 48, 48, 48, 8]
    assert page_of(rows, 99, 48)["id"].tolist() == pages[-1]["id"].tolist()
    assert sum((p["id"].tolist() for p in pages), []) == rows["id"].tolist()


def test_outcome_colours_on_a_hand_made_case():
    truth = np.array([[1, 1, 0, 0]] * 4, bool)
    pred = np.array([[1, 0, 1, 0]] * 4, bool)
    rgb = outcome_map(pred, truth)
    assert tuple(rgb[0, 0]) == OUTCOME_COLOURS["true positive"] == (255, 140, 0)  # orange
    assert tuple(rgb[0, 1]) == OUTCOME_COLOURS["false negative"] == (150, 150, 150)  # gray
    assert tuple(rgb[0, 2]) == OUTCOME_COLOURS["false positive"] == (220, 30, 30)  # red
    assert tuple(rgb[0, 3]) == OUTCOME_COLOURS["true negative"] == (40, 90, 200)  # blue
    blended = outcome_overlay(np.zeros((4, 4), np.uint8), pred, truth, alpha=1.0)
    np.testing.assert_array_equal(blended, rgb)


def test_mask_overlay_modes():
    image = np.full((10, 10), 100, np.uint8)
    mask = np.zeros((10, 10), bool)
    mask[2:8, 2:8] = True
    filled = mask_overlay(image, mask, "fill", alpha=0.5)
    assert (filled[~mask] == 100).all() and (filled[mask] != 100).any()
    contour = mask_overlay(image, mask, "contour")
    assert (contour[4, 4] == 100).all() and (contour[2, 4] != 100).any()  # inside untouched, edge drawn
    assert (mask_overlay(image, mask, "none") == 100).all()
    with pytest.raises(ValueError):
        mask_overlay(image, mask, "glow")


def test_mosaic_layout():
    tiles = [np.full((5, 5), i * 20, np.uint8) for i in range(7)]
    out = mosaic(tiles, columns=3, labels=None, scale=2, gap=1)
    assert out.shape == (3 * 10 + 2, 3 * 10 + 2, 3)
    assert (out[0:10, 11:21] == 20).all()  # the second tile, enlarged
    assert (out[22:32, 11:21] == 255).all()  # the empty slot after the 7th tile
    labelled = mosaic(tiles, columns=3, labels=[str(i) for i in range(7)])
    assert labelled.shape == (3 * 5 + 8, 3 * 5 + 8, 3)


def test_the_explorer_filters_with_the_browser_filter():
    table = pd.DataFrame(
        {
            "id": ["a", "b", "c", "d", "e"],
            "coverage_class": [0, 3, 3, 7, 10],
            "depth": [100.0, 200.0, 300.0, 400.0, 500.0],
            "empty": [True, False, False, False, False],
            "score m": [1.0, 0.04, 0.46, 0.96, 0.0],
        }
    )
    worst_misses = Filter(score_column="score m", buckets=[0.0], sort_by="score m")
    assert filter_table(table, worst_misses)["id"].tolist() == ["e", "b"]  # worst first; 0.04 is in bucket 0.0
    best_first = Filter(score_column="score m", buckets=[0.5, 1.0], sort_by="score m", descending=True)
    assert filter_table(table, best_first)["id"].tolist() == ["a", "d", "c"]
    combined = Filter(coverage_classes=[3], depth_range=(250, 600), score_column="score m", sort_by="score m")
    assert filter_table(table, combined)["id"].tolist() == ["c"]
    assert filter_table(table, Filter(anomaly="empty mask"))["id"].tolist() == ["a"]
    with pytest.raises(ValueError, match="IoU buckets need a score column"):
        filter_table(table, Filter(buckets=[0.0]))


def test_one_image_taken_apart_in_five_panels():
    """image, truth, prediction, probability, outcome: each panel where PANELS_PER_ROW puts it, enlarged."""
    from saltlab.analysis.render import PANELS_PER_ROW, image_panels

    image = np.full((101, 101), 100, np.uint8)
    truth = np.zeros((101, 101), bool)
    truth[:50] = True
    pred = np.zeros((101, 101), bool)
    pred[:, :50] = True
    prob = np.linspace(0, 1, 101 * 101, dtype=np.float32).reshape(101, 101)
    one_row = image_panels(image, truth, pred, prob, 2)
    assert PANELS_PER_ROW[2] == 5 and one_row.shape == (202, 5 * 202 + 4 * 4, 3)
    panel = lambda k: one_row[:, k * 206 : k * 206 + 202]  # noqa: E731
    assert (panel(1)[0, 0] == 255).all() and (panel(1)[-1, 0] == 40).all()  # the truth: top half salt
    assert (panel(2)[0, 0] == 255).all() and (panel(2)[0, -1] == 40).all()  # the prediction: left half
    assert tuple(panel(3)[0, 0]) == (0, 0, 0) and tuple(panel(3)[-1, -1]) == (255, 120, 0)  # probability 0 -> 1
    assert tuple(panel(4)[-1, -1]) == tuple(outcome_overlay(image, pred, truth)[-1, -1])
    stacked = image_panels(image, truth, pred, prob, 8)
    assert stacked.shape == (5 * 808 + 4 * 4, 808, 3)  # one panel a row at 8x


def test_score_pairs_are_counted_on_the_eleven_score_steps():
    from saltlab.analysis.summaries import score_pair_counts

    a = np.array([0.0, 0.0, 0.3, 1.0, 0.7000000001])
    b = np.array([0.0, 0.1, 0.3, 0.9, 0.7])
    counts = score_pair_counts(a, b)
    assert counts.shape == (11, 11) and counts.to_numpy().sum() == 5
    assert counts.loc[0.0, 0.0] == 1 and counts.loc[0.0, 0.1] == 1 and counts.loc[1.0, 0.9] == 1
    assert counts.loc[0.7, 0.7] == 1 and counts.loc[0.3, 0.3] == 1


def test_a_section_tile_in_each_layer():
    """Truth in yellow (a test tile: the image), the prediction in cyan or outcome colours, dimmed where the
    run has no prediction; the legend says which colour is which."""
    from saltlab.analysis.render import PREDICTION_COLOUR, SALT_COLOUR, gray_to_rgb, layer_legend, layer_tile

    image = np.full((101, 101), 200, np.uint8)
    mask = np.zeros((101, 101), bool)
    mask[:10] = True
    assert np.array_equal(layer_tile(image, "image"), gray_to_rgb(image))
    assert np.array_equal(layer_tile(image, "truth", mask), mask_overlay(image, mask, "fill"))
    assert np.array_equal(layer_tile(image, "truth", None), gray_to_rgb(image))  # a test tile
    assert np.array_equal(
        layer_tile(image, "prediction", mask, pred=mask), mask_overlay(image, mask, "fill", colour=PREDICTION_COLOUR)
    )
    assert np.array_equal(
        layer_tile(image, "outcome", mask, pred=~mask, truth=mask), outcome_overlay(image, ~mask, mask)
    )
    assert layer_tile(image, "outcome", mask).max() == int(200 * 0.45)  # no prediction: dimmed
    assert "false negative" in layer_legend("outcome") and "dimmed" in layer_legend("prediction")
    assert str(SALT_COLOUR) in layer_legend("truth") and layer_legend("image") == ""


def test_prediction_pairs_show_each_image_then_its_mask_up_to_the_limit():
    from saltlab.analysis.render import prediction_pairs

    images = np.full((3, 101, 101), 90, np.uint8)
    masks = np.zeros((3, 101, 101), bool)
    masks[1, :, :50] = True
    picture = prediction_pairs(["a", "b", "c"], images, masks, limit=2)
    assert picture.shape == (202, 4 * 202 + 3 * 4, 3)  # two pairs, enlarged twice
    second_mask = picture[:, 3 * 206 : 3 * 206 + 202]
    salt, rock = mask_overlay(images[1], masks[1], "fill")[50, 5], mask_overlay(images[1], masks[1], "fill")[50, 95]
    assert (second_mask[100:, 10] == salt).all() and (second_mask[100:, -10] == rock).all()
    assert not np.array_equal(salt, rock)
