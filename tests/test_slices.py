"""Error slices: a failure planted in one kind of image is found first, named in words, with an interval
that excludes the rest; overlapping slices are listed once; nothing is invented where nothing stands out;
the command prints them for a real run."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from saltlab.analysis.slices import find_slices, image_features, mosaic_places, slices_table
from saltlab.core.definitions import is_empty
from tests.helpers import PROJECT, env_for


def test_a_planted_failure_is_the_first_slice(demo_ds):
    images, truth, depths = demo_ds.train_images, demo_ds.train_masks, demo_ds.train_depths
    features = image_features(images, truth, depths)
    assert list(features.columns) == [
        "depth",
        "coverage class",
        "salt",
        "vertical",
        "brightness",
        "contrast",
        "texture",
        "edges",
    ]
    dark = features["brightness"].str.endswith("(lowest third)").to_numpy()
    rng = np.random.default_rng(1)
    scores = np.clip(0.8 + rng.normal(0, 0.1, len(images)), 0, 1)
    scores[dark] = np.clip(0.3 + rng.normal(0, 0.1, dark.sum()), 0, 1)  # the model fails on dark tiles
    ids = list(demo_ds.train_ids)
    found = find_slices(ids, scores, features, is_empty(truth), top=5, min_size=10)
    first = found[0]
    assert first.definition.startswith("brightness ") and first.definition.endswith("(lowest third)")
    assert first.size == dark.sum() and first.ids == [i for i, d in zip(ids, dark) if d]
    assert first.high < scores.mean() < first.rest  # the interval excludes the overall mean
    assert first.empty_score == is_empty(truth)[dark].mean()
    # The same failure seen through another feature (most dark tiles also low contrast) is not listed again.
    for other in found[1:]:
        inside = np.isin(ids, other.ids)
        assert (inside & dark).sum() / (inside | dark).sum() <= 0.5
    table = slices_table(found)
    assert list(table.columns)[:3] == ["slice", "images", "score"] and len(table) == len(found)


def test_mosaic_places_are_said_in_words(demo_ds):
    places = mosaic_places(list(demo_ds.train_ids), demo_ds)
    assert len(places) == demo_ds.n_train
    assert set(places) <= {
        "not placed in a mosaic section",
        "top row of its mosaic section",
        "below the top row of its section",
    }


def test_nothing_stands_out_in_a_flat_score(demo_ds):
    features = image_features(demo_ds.train_images, demo_ds.train_masks, demo_ds.train_depths)
    flat = np.full(demo_ds.n_train, 0.7)
    assert find_slices(list(demo_ds.train_ids), flat, features, is_empty(demo_ds.train_masks)) == []
    # Where B beats A: a gain planted in the images with salt is found as "true mask has salt".
    gain = np.where(is_empty(demo_ds.train_masks), 0.0, 0.3) + np.random.default_rng(2).normal(0, 0.05, demo_ds.n_train)
    found = find_slices(
        list(demo_ds.train_ids), gain, features, is_empty(demo_ds.train_masks), higher_is_better=False, top=1
    )
    assert [s.definition for s in found] == ["true mask has salt"]


def test_the_command_prints_a_runs_slices(trained_run, tmp_path):
    printed = subprocess.run(
        [sys.executable, "-m", "saltlab", "slices", str(trained_run.path), "--min-size", "5"],
        cwd=PROJECT,
        env=env_for(tmp_path),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert printed.returncode == 0, printed.stderr
    assert "where tiny does worst (score" in printed.stdout and "all-empty score" in printed.stdout
    assert "standard errors apart" in printed.stdout or "no slice stands out" in printed.stdout
