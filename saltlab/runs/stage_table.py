"""The Train page's stage table as data: one row per stage with the settings a user edits there, and
back to stage dicts that keep every hidden setting of the preset's stage of the same name."""

from __future__ import annotations

import json
import math

from saltlab.runs.config import ConfigError, StageConfig

TABLE_COLUMNS = (
    "name",
    "epochs",
    "loss",
    "optimizer",
    "lr",
    "schedule",
    "max_lr",
    "cycle_epochs",
    "snapshots",
    "swa_start",
)


def stage_table(stages: list[StageConfig]) -> list[dict]:
    """The Train page's stage table: one row per stage, the settings a user edits there."""
    return [
        {
            "name": s.name,
            "epochs": s.epochs,
            "loss": s.loss,
            "optimizer": s.optimizer,
            "lr": s.lr,
            "schedule": s.schedule.kind,
            "max_lr": s.schedule.max_lr,
            "cycle_epochs": s.schedule.cycle_epochs,
            "snapshots": s.snapshot_every_cycle,
            "swa_start": s.swa_start,
        }
        for s in stages
    ]


def stages_from_table(preset_stages: list[dict], rows: list[dict]) -> list[dict]:
    """Stage dicts from edited table rows. Settings the table does not show (momentum, weight decay,
    min_lr, warm-up) come from the preset's stage of the same name, never from the one at the same
    position: deleting or reordering rows keeps every stage's hidden settings. A new row (a name the
    preset does not have) starts from the defaults."""
    by_name = {stage.get("name"): stage for stage in preset_stages}

    def blank(value) -> bool:
        return value is None or (isinstance(value, float) and math.isnan(value))

    stages = []
    for row in rows:
        if blank(row.get("loss")):
            continue  # an empty row the editor added
        empty = [c for c in ("epochs", "optimizer", "lr", "schedule") if blank(row.get(c))]
        if empty:
            raise ConfigError(
                f"stage row {len(stages) + 1} ({row.get('name') or 'unnamed'}): fill in {', '.join(empty)}"
            )
        stage = json.loads(json.dumps(by_name.get(row.get("name"), {})))
        name = row.get("name") or f"stage{len(stages) + 1}"
        if stage.get("loss") == name and row["loss"] != name:
            name = row["loss"]  # a stage named after its loss follows a changed loss (a name the user chose stays)
        stage.update(
            name=name,
            epochs=int(row["epochs"]),
            loss=row["loss"],
            optimizer=row["optimizer"],
            lr=float(row["lr"]),
            snapshot_every_cycle=bool(row.get("snapshots")),
            swa_start=None if blank(row.get("swa_start")) else int(row["swa_start"]),
        )
        schedule = stage.setdefault("schedule", {})
        schedule.update(kind=row["schedule"], max_lr=None if blank(row.get("max_lr")) else float(row["max_lr"]))
        if not blank(row.get("cycle_epochs")):
            schedule["cycle_epochs"] = float(row["cycle_epochs"])
        stages.append(stage)
    return stages
