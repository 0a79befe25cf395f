"""What the Train page shows of one run, as pure functions of its records (RunStatus, RunSplit; plain
dicts of the same keys work too): the progress line, the score caption (beside the all-empty score of
the same images), and the loss and score curves."""

from __future__ import annotations

import plotly.graph_objects as go

from saltlab.runs.records import EpochRecord, RunSplit, RunStatus, StepRecord, metric_records


def progress(status: RunStatus | dict, queue_position: int | None = None) -> tuple[float, str]:
    """(fraction done, label). The status counts finished epochs; the epoch shown is the one under way
    whenever steps of it have run, so a cancelled run shows the epoch it stopped in, as it did while running."""
    state = status.get("state")
    total = status.get("total_steps") or 0
    step = status.get("step") or 0
    done = int(status.get("epoch") or 0)
    per_epoch = status.get("steps_per_epoch") or 0
    under_way = state == "running" or bool(per_epoch and step > done * per_epoch)
    label = f"{state}: epoch {done + under_way} of {status.get('epochs', '?')}, step {step} of {total}"
    if state == "running" and status.get("eta_s") is not None:
        label += f", about {status.get('eta_s') / 60:.1f} min left"
    if state == "queued":
        label += f" (position {queue_position} in the queue for {status.get('slot')})"
    return (min(step / total, 1.0) if total else 0.0), label


def split_caption(split: RunSplit | dict) -> str:
    return (
        f"data set {split.get('data')} (fingerprint {str(split.get('fingerprint'))[:12]}); "
        f"{len(split.get('train_ids', []))} training, {len(split.get('val_ids', []))} held-out images, "
        f"fold {split.get('fold')} of {split.get('n_folds')}"
    )


def score_caption(status: RunStatus | dict, split: RunSplit | dict | None) -> str | None:
    """The best validation score, where it was measured, SWA's, and the all-empty score beside them."""
    if status.get("best_score") is None:
        return None
    held_out = len((split or {}).get("val_ids", []))
    scored = len((split or {}).get("monitor_ids", [])) or None
    if scored and scored < held_out:
        where = (
            f" (on {scored} of the {held_out} held-out images: the Explorer scores all of them, so its number "
            "can differ)"
        )
    else:
        where = f" (on its {scored} held-out images)" if scored else ""
    text = f"best validation score {status.get('best_score'):.4f} at epoch {status.get('best_epoch')}{where}"
    if status.get("swa_score") is not None:
        text += f"; SWA of {status.get('swa_epochs')} epochs (swa.pt) {status.get('swa_score'):.4f}"
    if status.get("empty_score") is not None:
        text += f"; predicting every mask empty scores {status.get('empty_score'):.4f} on the same images"
    return text


def below_empty_warning(status: RunStatus | dict) -> str | None:
    best, empty = status.get("best_score"), status.get("empty_score")
    if best is None or empty is None or best > empty:
        return None
    return (
        f"This run is worse than predicting nothing: its best score {best:.4f} is not above "
        f"the all-empty score {empty:.4f} of its validation images."
    )


def _xy(records: list, x: str, y: str) -> tuple[list, list]:
    """The (x, y) points of the records where both are set (a value of the wrong type reads as unset)."""
    points = [
        (getattr(r, x), getattr(r, y)) for r in records if getattr(r, x) is not None and getattr(r, y) is not None
    ]
    return [p[0] for p in points], [p[1] for p in points]


def _series(fig: go.Figure, steps: list[StepRecord], epochs: list[EpochRecord], steps_per_epoch: int) -> None:
    x, y = _xy(steps, "step", "loss")
    fig.add_scatter(x=[v / steps_per_epoch for v in x], y=y, name="train loss (step)", mode="lines")
    x, y = _xy(epochs, "epoch", "val_loss")
    fig.add_scatter(x=x, y=y, name="val loss", mode="lines+markers")
    x, y = _xy(epochs, "epoch", "val_score")
    fig.add_scatter(x=x, y=y, name="val score", mode="lines+markers", yaxis="y2")
    ex, empty = _xy(epochs, "epoch", "val_score_empty")
    if empty:
        fig.add_scatter(
            x=[ex[0], ex[-1]],
            y=[empty[-1], empty[-1]],
            name=f"all-empty prediction ({empty[-1]:.3f})",
            mode="lines",
            yaxis="y2",
            line=dict(dash="dash", color="gray"),
        )
    ox, oracle = _xy(epochs, "epoch", "val_score_oracle")
    if oracle:
        fig.add_scatter(
            x=ox, y=oracle, name="val score (oracle gate)", mode="lines+markers", yaxis="y2", line=dict(dash="dot")
        )


def curves(metrics: list, steps_per_epoch: int | None) -> go.Figure:
    """Train loss per step, validation loss and score per epoch, the all-empty line: one figure, from
    metrics.jsonl's parsed lines (typed by runs.records: torn lines and wrongly typed values skipped)."""
    steps, epochs = metric_records(metrics)
    fig = go.Figure()
    _series(fig, steps, epochs, max(steps_per_epoch or 1, 1))
    fig.update_layout(
        height=320,
        margin=dict(t=30, b=10),
        xaxis_title="epoch",
        yaxis_title="loss",
        yaxis2=dict(title="score", overlaying="y", side="right", range=[0, 1], tick0=0, dtick=0.1),
        xaxis=dict(rangemode="tozero"),
        legend=dict(orientation="h"),
    )
    return fig


def has_curves(metrics: list) -> bool:
    return any(isinstance(m, dict) and m.get("kind") in ("step", "epoch") for m in metrics)
