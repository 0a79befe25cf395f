"""The Train page's view of a run, from its files: progress line, score caption, curves."""

from saltlab.analysis import run_views


def test_a_cancelled_run_shows_the_epoch_it_stopped_in_as_it_did_while_running():
    running = {"state": "running", "epoch": 0, "epochs": 2, "step": 8, "total_steps": 20, "steps_per_epoch": 10}
    cancelled = {**running, "state": "cancelled"}
    assert "epoch 1 of 2, step 8 of 20" in run_views.progress(running)[1]
    assert run_views.progress(cancelled) == (0.4, "cancelled: epoch 1 of 2, step 8 of 20")
    finished_epoch = {**cancelled, "epoch": 1, "step": 10}  # stopped between epochs: the one finished
    assert "epoch 1 of 2, step 10" in run_views.progress(finished_epoch)[1]
    queued = {"state": "queued", "slot": "cpu"}
    assert run_views.progress(queued, 2) == (0.0, "queued: epoch 0 of ?, step 0 of 0 (position 2 in the queue for cpu)")


def test_the_score_caption_puts_the_all_empty_score_beside_the_best():
    status = {"best_score": 0.71234, "best_epoch": 3, "empty_score": 0.4011, "swa_score": 0.72, "swa_epochs": 4}
    split = {"val_ids": list("abcd"), "monitor_ids": list("ab")}
    text = run_views.score_caption(status, split)
    assert "0.7123 at epoch 3 (on 2 of the 4 held-out images" in text
    assert "SWA of 4 epochs (swa.pt) 0.7200" in text and "empty scores 0.4011" in text
    assert run_views.score_caption({}, split) is None
    assert run_views.below_empty_warning(status) is None
    assert "worse than predicting nothing" in run_views.below_empty_warning({**status, "best_score": 0.4})


def test_curves_scale_steps_to_epochs_and_draw_the_all_empty_line():
    metrics = [
        {"kind": "step", "step": 5, "loss": 0.5},
        {"kind": "epoch", "epoch": 1, "val_loss": 0.4, "val_score": 0.6, "val_score_empty": 0.4},
        {"kind": "epoch", "epoch": 2, "val_loss": 0.3, "val_score": 0.7, "val_score_empty": 0.4},
        "a torn line",
    ]
    assert run_views.has_curves(metrics) and not run_views.has_curves(["x", {"kind": "note"}])
    fig = run_views.curves(metrics, 10)
    names = [t.name for t in fig.data]
    assert names == ["train loss (step)", "val loss", "val score", "all-empty prediction (0.400)"]
    assert list(fig.data[0].x) == [0.5] and list(fig.data[3].y) == [0.4, 0.4]


def test_an_explored_object_shared_by_tabs_never_changes_under_them():
    """The app caches one Explored for every browser tab: views computed at once from several threads are
    each the right one, and the arrays it hands out are read-only."""
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np
    import pytest

    from saltlab.analysis.explore import VIEWS, Explored
    from saltlab.core.scoring import PostProcess

    rng = np.random.default_rng(0)
    n = 12
    truth = rng.random((n, 101, 101)) > 0.6
    probs = rng.random((n, 101, 101)).astype(np.float32)
    ex = Explored(
        ["m"], [f"i{k}" for k in range(n)], rng.random((n, 101, 101)).astype(np.float32), truth,
        np.arange(n, dtype=float), {"m": probs}, {"m": None}, {}, [],
    )  # fmt: skip
    options = [PostProcess(t) for t in np.linspace(0.1, 0.9, 3 * VIEWS)]
    with ThreadPoolExecutor(4) as pool:
        views = list(pool.map(ex.view, options * 3))
    for option, view in zip(options * 3, views):
        assert np.array_equal(view.preds["m"], probs > option.threshold)
    with pytest.raises(ValueError, match="read-only"):
        ex.probs["m"][0, 0, 0] = 1.0
    with pytest.raises(ValueError, match="read-only"):
        views[0].preds["m"][0] = True


def test_curves_skip_wrongly_typed_values_instead_of_failing():
    """metrics.jsonl lines are typed records: a value of the wrong type (a hand edit, a newer writer) is left
    out of its curve, the rest is drawn."""
    from saltlab.runs.records import metric_records

    metrics = [
        {"kind": "step", "step": 4, "loss": "n/a"},
        {"kind": "step", "step": 8, "loss": 0.3, "new_field": 1},
        {"kind": "epoch", "epoch": 1, "val_loss": 0.4, "val_score": "0.6", "val_score_empty": 0.4},
        {"kind": "epoch", "epoch": 2, "val_loss": 0.3, "val_score": 0.7, "val_score_empty": 0.4},
        {"kind": "swa", "epoch": 2, "val_score": 0.9},
    ]
    steps, epochs = metric_records(metrics)
    assert [s.loss for s in steps] == [None, 0.3] and steps[1].extra == {"new_field": 1}
    assert [e.val_score for e in epochs] == [None, 0.7]
    fig = run_views.curves(metrics, 4)
    by_name = {t.name: t for t in fig.data}
    assert list(by_name["train loss (step)"].x) == [2.0] and list(by_name["val score"].x) == [2]
    assert list(by_name["val loss"].y) == [0.4, 0.3]
