"""Suspects page: labelled images ranked by how confidently out-of-fold predictions disagree with
their label, with the reason in words; mark the ones you judge wrong, and train without them."""

from functools import partial

import streamlit as st

from pages._ui import clickable_gallery, ensure_entry, no_runs_yet, open_in_explorer, reported, set_widget_value
from saltlab.analysis.render import mask_overlay, probability_heat
from saltlab.core.suspect_marks import MarksError, marked, set_marked

ensure_entry()
st.title("Suspect labels")
st.caption(
    "Each labelled image is scored by a run that held it out (its validation fold), so no model vouches for a "
    "label it trained on. Rank: the share of the tile where the model confidently disagrees with the label "
    "(confident as in confident learning: at least the model's mean probability on that label's pixels), with "
    "Cleanlab's label quality score beside it (lower is more suspicious) as the tie-break; masks cut off by a "
    "straight line mid-tile rank first. Pick one run per fold to cover the whole set."
)


@st.cache_resource(show_spinner=False, max_entries=4)
def _ranking(runs: tuple[str, ...], stamps: tuple, tta: bool):
    from saltlab.analysis.suspects import out_of_fold, rank_labels

    bar = st.progress(0.0, text="Out-of-fold predictions (cached on disk afterwards)...")
    try:
        oof = out_of_fold(list(runs), tta=tta, progress=lambda what, done, total: bar.progress(done / max(total, 1)))
        return oof, rank_labels(oof)
    finally:
        bar.empty()


def model_stamp(run) -> int:
    """When the run's model (or an imported entry's predictions) last changed: part of the ranking's cache key."""
    from saltlab.analysis.explore import model_file

    return model_file(run).stat().st_mtime_ns


def chosen_runs() -> tuple[dict, list[str], bool]:
    """The finished runs by name, the ones chosen (by default the newest of each fold), hflip TTA."""
    from saltlab.runs.imported import is_import
    from saltlab.runs.run_folder import list_runs

    runs = [r for r in list_runs() if r.best_path.is_file() or is_import(r.path)]
    if not runs:
        no_runs_yet("(one per fold covers every labelled image: `train --all-folds`)")
        st.stop()
    by_fold: dict[int, str] = {}
    for run in runs:  # newest first: the default is the newest run of each fold
        try:
            by_fold.setdefault(int(run.read_config().get("fold", -1)), run.path.name)
        except (OSError, ValueError):
            continue
    c1, c2 = st.columns([5, 1])
    chosen = c1.multiselect(
        "Runs (one per fold covers every labelled image) or imported out-of-fold predictions",
        [r.path.name for r in runs],
        default=list(by_fold.values()),
        key="suspects_runs",
    )
    tta = c2.checkbox("hflip TTA", key="suspects_tta")
    if not chosen:
        st.info("Pick at least one run.")
        st.stop()
    return {r.path.name: r.path for r in runs}, chosen, tta


def current_marks(ds) -> dict:
    try:
        return marked(ds)
    except MarksError as exc:
        st.error(str(exc))
        return {}


def ranking_gallery(oof, table, marks: dict):
    """The most suspicious images as pairs (label, model probability) to click; the ranking as CSV."""
    top = st.slider("Show the most suspicious", 8, 64, 16, 8, key="suspects_top")
    shown = table.head(top)
    where = {id_: k for k, id_ in enumerate(oof.ids)}
    tiles, labels = [], []
    for rank, id_ in enumerate(shown["id"], 1):
        k = where[id_]
        tiles += [mask_overlay(oof.images[k], oof.truth[k], "fill"), probability_heat(oof.images[k], oof.probs[k])]
        labels += [f"#{rank} label" + (" *" if id_ in marks else ""), f"#{rank} model"]
    pairs = [id_ for id_ in shown["id"] for _ in range(2)]
    clickable_gallery(tiles, pairs, 8, "suspects_gallery", partial(set_widget_value, "suspects_pick"), labels)
    st.caption("pairs: the label (salt in yellow) and the model's probability; * marked; click a pair to choose it")
    st.dataframe(shown, width="stretch", hide_index=True)
    st.download_button(
        "Download the whole ranking (CSV)",
        table.to_csv(index=False).encode(),
        "suspect_labels.csv",
        "text/csv",
        key="suspects_csv",
    )
    return shown


def mark_one(ds, table, shown, marks: dict) -> None:
    """Choose an image, mark or unmark it, open it in the Explorer."""
    c1, c2, c3 = st.columns([3, 1, 1])
    pick = c1.selectbox(
        "Image",
        shown["id"].tolist(),
        format_func=lambda i: f"{shown['id'].tolist().index(i) + 1}: {i}" + (" (marked)" if i in marks else ""),
        key="suspects_pick",
    )
    reason = table.set_index("id").loc[pick, "reason"]
    if c2.button("Mark as suspect label", key="suspects_mark", disabled=pick in marks):
        set_marked(ds, pick, reason=reason)
        st.rerun()
    if c3.button("Unmark", key="suspects_unmark", disabled=pick not in marks):
        set_marked(ds, pick, mark=False)
        st.rerun()
    st.caption(f"{pick}: {reason}")
    open_in_explorer(pick, key="suspects_explorer")
    if marks:
        st.markdown(
            f"Marked: {', '.join(sorted(marks))}. Train without them: tick *Leave out the images marked as suspect "
            "labels* on the Train page, or `python -m saltlab train ... --exclude-suspects`."
        )


paths, chosen, tta = chosen_runs()
stamps = tuple(model_stamp(paths[n]) for n in chosen)
with reported("Cannot rank", stop=True):  # a run of another data set, an unreadable checkpoint
    oof, table = _ranking(tuple(str(paths[n]) for n in chosen), stamps, tta)
for note in oof.notes:
    st.warning(note)
marks = current_marks(oof.dataset)
st.markdown(
    f"**{len(table)}** labelled images ranked; **{len(marks)}** marked as suspect labels in `{oof.dataset.root}`."
)
mark_one(oof.dataset, table, ranking_gallery(oof, table, marks), marks)
