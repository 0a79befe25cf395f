"""Epochs per stage: sharing a total out over stages, finding an epoch's stage, re-planning a budgeted run
as it goes, and keeping SWA's share of a stage when its length changes. Pure arithmetic."""

from __future__ import annotations


def plan_epochs(wanted: list[int], total: int) -> list[int]:
    """Share `total` epochs out over stages in the proportions of `wanted`, at least one each."""
    total = max(total, len(wanted))
    epochs = [max(1, int(round(e * total / sum(wanted)))) for e in wanted]
    while sum(epochs) > total:  # rounding overshoot: trim the longest stage
        epochs[epochs.index(max(epochs))] -= 1
    while sum(epochs) < total:
        epochs[epochs.index(max(epochs))] += 1
    return epochs


def stage_at(epochs: list[int], epoch: int) -> tuple[int, int]:
    """(stage index, first global epoch of that stage) for a global epoch, given each stage's epochs;
    past the end, the last stage."""
    start = 0
    for i, n in enumerate(epochs):
        if epoch < start + n:
            return i, start
        start += n
    return len(epochs) - 1, start - epochs[-1]


def plan_remaining(wanted: list[int], planned: list[int], done: int, total: int, may_close: bool = False) -> list[int]:
    """Epochs per stage for `total` epochs in all when `done` of the `planned` ones have run.

    Finished stages keep their epochs. The stage under way keeps the epochs it has run plus one, or
    only those it has run when `may_close` (it can end now: it is not the last stage and averages no
    weights); it and the stages after it share the rest in the proportions of `wanted`, at least one
    each. When even that does not fit, the result holds more than `total` (the budget's guard cuts).
    """
    if done >= sum(planned):
        return list(planned)
    k, start = stage_at(planned, done)
    rest = plan_epochs(wanted[k:], total - start)
    ran = done - start
    rest[0] = max(rest[0], ran if may_close and ran > 0 and k < len(planned) - 1 else ran + 1)
    while sum(rest) > total - start and max(rest[1:], default=1) > 1:  # the current stage's minimum took it
        later = rest[1:]
        rest[1 + later.index(max(later))] -= 1
    return list(planned[:k]) + rest


def scaled_swa_start(swa_start: int | None, old_epochs: int, new_epochs: int) -> int | None:
    """swa_start for a stage that goes from old_epochs to new_epochs: the same averaged share of it."""
    if swa_start is None:
        return None
    return min(new_epochs, max(1, int(round(swa_start * new_epochs / old_epochs))))
