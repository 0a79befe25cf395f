"""The competition's neighbour rules as optional post-processing, scored honestly.

Two rules the top TGS teams used with the mosaic (about +0.01 on the public leaderboard, almost
nothing on the private one):
- "constant": a constant image (every pixel equal) has no salt; its mask is emptied.
- "vertical": a vertical mask continues into the tile below. Where the tile above an image holds
  a vertical mask (every row the same, some salt) its bottom row is repeated over the whole image.
  The mask above is its truth only where that tile is a labelled image the run did not hold out
  (as a user predicting the test set knows the train labels), else the run's own prediction for
  it where the run validated it; otherwise the rule does not fire. So no held-out label leaks into
  the score of a held-out image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from saltlab.core.dataset import Dataset
from saltlab.core.metric import image_scores
from saltlab.core.mosaic import Mosaic

RULES = {
    "constant": "a constant image has no salt",
    "vertical": "a vertical mask continues into the tile below",
}


def is_vertical(mask: np.ndarray) -> bool:
    """Some salt, and every row the same."""
    return bool(mask.any()) and bool((mask == mask[0]).all())


@dataclass
class RuleResult:
    masks: np.ndarray  # the masks after the rule
    changed: list[str]  # ids whose mask the rule changed


def apply_rule(
    rule: str,
    ids: list[str],
    masks: np.ndarray,
    images: np.ndarray,
    ds: Dataset,
    mosaic: Mosaic | None,
    held_out: set[str],
) -> RuleResult:
    """One rule over the masks of these images (ids aligned with masks and images)."""
    if rule not in RULES:
        raise ValueError(f"unknown rule {rule!r}; rules: {', '.join(RULES)}")
    out = masks.copy()
    changed = []
    if rule == "constant":
        for k, image in enumerate(images):
            if image.min() == image.max() and out[k].any():
                out[k] = False
                changed.append(ids[k])
        return RuleResult(out, changed)
    if mosaic is None:
        return RuleResult(out, changed)
    here = {id_: k for k, id_ in enumerate(ids)}
    train_position = {id_: p for p, id_ in enumerate(ds.train_ids)}
    for k, id_ in enumerate(ids):
        if id_ not in mosaic.ids:
            continue
        above = mosaic.neighbours(mosaic.position(id_)).get("up")
        if above is None:
            continue
        above_id = mosaic.ids[above]
        if above_id in train_position and above_id not in held_out:
            mask_above = ds.train_masks[train_position[above_id]]
        elif above_id in here:
            mask_above = masks[here[above_id]]  # the run's own prediction (never the held-out truth)
        else:
            continue
        if is_vertical(mask_above):
            continued = np.broadcast_to(mask_above[-1], out[k].shape)
            if not np.array_equal(out[k], continued):
                out[k] = continued
                changed.append(id_)
    return RuleResult(out, changed)


def rule_table(
    ids: list[str],
    masks: np.ndarray,
    truth: np.ndarray,
    images: np.ndarray,
    ds: Dataset,
    mosaic: Mosaic | None,
    held_out: set[str],
) -> pd.DataFrame:
    """Each rule alone and both together: images changed, score before and after on these images."""
    before = float(image_scores(masks, truth).mean())
    rows = []
    current = masks
    all_changed: set[str] = set()
    for rule, text in RULES.items():
        result = apply_rule(rule, ids, masks, images, ds, mosaic, held_out)
        rows.append(_row(rule, text, result.changed, before, result.masks, truth))
        combined = apply_rule(rule, ids, current, images, ds, mosaic, held_out)
        current = combined.masks
        all_changed |= set(combined.changed)
    rows.append(_row("both", "both rules, in this order", sorted(all_changed), before, current, truth))
    return pd.DataFrame(rows)


def _row(rule: str, text: str, changed: list[str], before: float, masks: np.ndarray, truth: np.ndarray) -> dict:
    after = float(image_scores(masks, truth).mean())
    return {
        "rule": rule,
        "what": text,
        "images changed": len(changed),
        "score before": round(before, 4),
        "score after": round(after, 4),
        "gain": round(after - before, 4),
    }
