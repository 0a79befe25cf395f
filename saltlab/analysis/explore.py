"""Evaluated runs lined up on the same validation images, ready for the explorer and `compare`.

Each run is evaluated on the fold it held out (cached, see inference/evaluate.py). Runs compared
side by side must share images: the common ids are kept, and a run of another fold is said so.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from saltlab.analysis import summaries as analysis
from saltlab.analysis.confidence import uncertain_share
from saltlab.core.errors import SaltLabError
from saltlab.inference.evaluate import Evaluation, evaluate_run, plan_evaluation
from saltlab.runs.imported import entry_file, entry_folder, is_import
from saltlab.runs.run_folder import list_runs


class ExploreError(SaltLabError, ValueError):
    """Runs that cannot be compared (no validation images in common)."""


VIEWS = 8  # post-processing options whose results an Explored keeps


@dataclass
class ExplorerView:
    preds: dict[str, np.ndarray]  # bool masks per model
    summaries: list[analysis.ModelSummary]
    table: pd.DataFrame  # per image: ids, truth numbers, a score column per model


@dataclass
class Explored:
    names: list[str]
    ids: list[str]
    images: np.ndarray
    truth: np.ndarray
    depths: np.ndarray
    probs: dict[str, np.ndarray]
    judges: dict[str, np.ndarray | None]
    evaluations: dict[str, Evaluation]
    notes: list[str]
    dataset: object = None  # the Dataset the images come from (for the mosaic's neighbour rules)

    # Memos shared by every browser tab that holds this object (the app caches it as a resource): filled
    # under a lock each (a tab computing embeddings for minutes does not hold up another's view), and what
    # they hold is read-only, so no tab can change what another one sees.
    _views: dict = field(default_factory=dict, repr=False, compare=False)
    _embeddings: dict = field(default_factory=dict, repr=False, compare=False)
    _views_lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    _embeddings_lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def __post_init__(self) -> None:
        for array in (self.images, self.truth, self.depths, *self.probs.values(), *self.judges.values()):
            _freeze(array)

    def view(self, options: analysis.PostProcess = analysis.PostProcess()) -> ExplorerView:
        """Masks, summaries and the per-image table under these post-processing options, computed once
        per options (the last VIEWS of them are kept: a page redrawn for a click reuses them)."""
        with self._views_lock:
            found = self._views.get(options)
            if found is None:
                preds = {
                    n: _freeze(analysis.predicted_masks(self.probs[n], self.judges[n], options)) for n in self.names
                }
                summaries = [
                    analysis.summarize(n, self.probs[n], self.judges[n], self.truth, options) for n in self.names
                ]
                table = analysis.per_image_table(self.ids, self.truth, self.images, self.depths, preds)
                for n in self.names:  # the share of pixels the model is unsure of (saltlab.analysis.confidence)
                    table[f"uncertain {n}"] = uncertain_share(self.probs[n])
                while len(self._views) >= VIEWS:
                    self._views.pop(next(iter(self._views)))
                found = self._views[options] = ExplorerView(preds, summaries, table)
            return found

    def rules(self, name: str, options: analysis.PostProcess = analysis.PostProcess()) -> pd.DataFrame:
        """The mosaic's neighbour rules on model `name`'s masks: images changed, score before and after
        (saltlab.analysis.neighbour_rules; the run's held-out labels never used)."""
        from saltlab.analysis.neighbour_rules import rule_table
        from saltlab.core.mosaic import load_mosaic

        mosaic, _ = load_mosaic(self.dataset)
        masks = self.view(options).preds[name]
        return rule_table(self.ids, masks, self.truth, self.images, self.dataset, mosaic, set(self.ids))

    def embeddings(self, name: str, progress=None) -> np.ndarray:
        """Centred, unit-length embeddings of the images (self.ids order) by model `name` (the vectors are
        cached beside its evaluation)."""
        from saltlab.analysis.similar import centred_unit_rows
        from saltlab.inference.embed import evaluation_embeddings

        with self._embeddings_lock:
            found = self._embeddings.get(name)
            if found is None:
                vectors = evaluation_embeddings(self.evaluations[name], self.ids, self.images, progress=progress)
                found = self._embeddings[name] = _freeze(centred_unit_rows(vectors))
            return found


def _freeze(array):
    """The array made read-only (None passes): shared between tabs, it must not be changed in place."""
    if isinstance(array, np.ndarray):
        array.flags.writeable = False
    return array


def model_name(run: str | os.PathLike, checkpoint: str = "best") -> str:
    """How a model is called in tables: the run folder's name for its best.pt, RUN/FILE.pt for another
    checkpoint, an imported entry's folder name."""
    path = Path(run)
    if is_import(path):
        return entry_folder(path).name
    folder, file = (
        (path.parent, path.name)
        if path.suffix == ".pt"
        else (path, checkpoint if checkpoint.endswith(".pt") else f"{checkpoint}.pt")
    )
    return folder.name if file == "best.pt" else f"{folder.name}/{file}"


def model_file(run: str | os.PathLike) -> Path:
    """The file that stands for a run in the pickers: its best.pt, or an imported entry's file (entry_file)."""
    path = Path(run)
    return entry_file(path) if is_import(path) else path / "best.pt"


def explorable_models(root: str | os.PathLike | None = None) -> dict[str, Path]:
    """{model name: file} of everything the Explorer, Compare, Mosaic and Suspects take: each finished run's
    best.pt, swa.pt and snapshots (not last.pt), newest run first, and each imported entry's predictions or model."""
    models: dict[str, Path] = {}
    for run in list_runs(root):
        if is_import(run.path):
            models[model_name(run.path)] = entry_file(run.path)
            continue
        if not run.best_path.is_file():
            continue
        files = sorted(run.path.glob("*.pt"), key=lambda p: (p.name != "best.pt", p.name != "swa.pt", p.name))
        models.update({model_name(path): path for path in files if path.name != "last.pt"})
    return models


def explore(
    runs: list[str | os.PathLike], checkpoint: str = "best", tta: bool = False, data: str | None = None, progress=None
) -> Explored:
    """Runs (folders, with `checkpoint`) or checkpoint files (best.pt, swa.pt, snapshots) evaluated and lined up."""
    plans = {model_name(run, checkpoint): plan_evaluation(run, checkpoint, data) for run in runs}
    names = list(plans)
    common = set(plans[names[0]].ids)
    for plan in plans.values():
        common &= set(plan.ids)
    if not common:  # found before any inference
        sources = ", ".join(f"{n}: {p.subset} of {p.dataset.root}" for n, p in plans.items())
        raise ExploreError(
            f"the runs share no validation images ({sources}); compare runs of the same data set and fold"
        )
    notes = [f"{n}: {note}" for n, p in plans.items() for note in p.notes]
    if any(len(p.ids) != len(common) for p in plans.values()):
        notes.append(
            f"the runs were validated on different images; {len(common)} images are common to all and compared"
        )
    evaluations: dict[str, Evaluation] = {
        name: evaluate_run(
            plan.run_dir,
            checkpoint=plan.checkpoint_path.name,
            tta=tta,
            data=data,
            progress=None if progress is None else _named(progress, f"{name} ({k + 1} of {len(plans)})"),
            plan=plan,
        )
        for k, (name, plan) in enumerate(plans.items())
    }
    ids = [i for i in evaluations[names[0]].ids if i in common]
    ds = plans[names[0]].dataset
    positions = ds.train_index(ids)
    probs, judges = {}, {}
    for name, e in evaluations.items():
        where = {id_: k for k, id_ in enumerate(e.ids)}
        order = np.array([where[i] for i in ids], dtype=np.int64)
        probs[name] = e.probs[order]
        judges[name] = e.judge[order] if e.judge is not None else None
    return Explored(
        names,
        ids,
        ds.train_images[positions],
        ds.train_masks[positions],
        ds.train_depths[positions],
        probs,
        judges,
        evaluations,
        notes,
        ds,
    )


def _named(progress, name: str):
    """A progress callback that says which model it is for."""
    return lambda what, done, total: progress(name, done, total)


def report(ex: Explored, options: analysis.PostProcess = analysis.PostProcess()) -> str:
    """The compare tables as text (what `python -m saltlab compare` prints)."""
    view = ex.view(options)
    preds, summaries, table = view.preds, view.summaries, view.table
    lines = [f"{len(ex.ids)} validation images; threshold {options.threshold}, min component {options.min_size} px"]
    lines += [f"note: {n}" for n in ex.notes]
    if summaries:
        lines.append(f"all-empty prediction (every mask empty) on these images: score {summaries[0].empty_score:.4f}")
    for s in summaries:
        flag = (
            "  <- WORSE THAN PREDICTING NOTHING"
            if s.below_empty
            else f" ({s.score - s.empty_score:+.4f} over all-empty)"
        )
        lines.append(f"\n{s.name}: score {s.score:.4f}{flag}, mean IoU {s.mean_iou:.4f}")
        lines.append("  images: " + ", ".join(f"{k} {v}" for k, v in s.confusion.items()))
        if s.judge:
            j = s.judge
            lines.append(
                f"  judge accuracy {j['accuracy']:.4f}; honest (judge-gated) score {j['honest score']:.4f}, "
                f"oracle-gated score {j['oracle score']:.4f}: the oracle overstates by {j['gap']:+.4f}"
            )
        full, centre = analysis.central_crop_scores(preds[s.name], ex.truth)
        lines.append(
            f"  score on the central 90x90 crop {centre:.4f} (full image {full:.4f}; a diagnostic that leaves "
            "the edges out, not a competition score)"
        )
    lines.append("\nimages per IoU bucket:")
    lines.append(analysis.bucket_table(summaries).to_string())
    lines.append("\nscore by coverage class:")
    lines.append(table.groupby("coverage_class")[[f"score {n}" for n in ex.names]].mean().round(4).to_string())
    if len(ex.names) == 2:
        a, b = ex.names
        lines.append(f"\nbucket transitions (rows: {a}, columns: {b}):")
        lines.append(analysis.bucket_transitions(table[f"score {a}"], table[f"score {b}"]).to_string())
        for x, y in ((a, b), (b, a)):
            beats = analysis.where_beats(table, x, y, limit=10)
            lines.append(
                f"\nwhere {y} beats {x} ({int((table[f'score {y}'] > table[f'score {x}']).sum())} images), top 10:"
            )
            lines.append(
                beats[["id", "coverage", f"score {x}", f"score {y}", "delta"]].to_string(index=False)
                if len(beats)
                else "  none"
            )
    return "\n".join(lines)
