"""Compare page: two models side by side on the same validation images, and where each one wins."""

import plotly.express as px
import streamlit as st

from pages._ui import ensure_entry, id_opener, run_picker
from saltlab.analysis import summaries as analysis
from saltlab.analysis.render import mosaic, outcome_overlay


def chosen_pair():
    """The two runs (None and a message when not two), their view, and which is A (the swap toggle)."""
    picked = run_picker("compare", default_count=2)
    if picked is None:
        st.stop()
    ex, options = picked
    if len(ex.names) != 2:
        st.info("Pick exactly two runs to compare.")
        st.stop()
    first, second = ex.names
    swap = st.toggle(f"Swap A and B (now A: {first}, B: {second})", key="compare_swap")
    a, b = (second, first) if swap else (first, second)
    return ex, ex.view(options), a, b  # the view: computed once per (runs, options)


def headline(summaries, a: str, b: str) -> None:
    """A's and B's scores beside the all-empty score of the same images."""
    c1, c2, c3 = st.columns(3)
    by_name = {s.name: s for s in summaries}
    c1.metric(f"A: {a[:40]}", f"{by_name[a].score:.4f}")
    c2.metric(f"B: {b[:40]}", f"{by_name[b].score:.4f}", f"{by_name[b].score - by_name[a].score:+.4f} vs A")
    c3.metric(
        "all-empty prediction", f"{summaries[0].empty_score:.4f}", help="every mask predicted empty, on the same images"
    )
    for s in summaries:
        if s.below_empty:
            st.error(
                f"{s.name}: {s.score:.4f} is not above the all-empty score {s.empty_score:.4f}: "
                "worse than predicting nothing."
            )


def pair_charts(table, a: str, b: str) -> None:
    """Images per pair of scores, the bucket transitions, and the tables as CSV."""
    left, right = st.columns(2)
    counts = analysis.score_pair_counts(table[f"score {a}"], table[f"score {b}"])
    fig = px.imshow(
        counts,
        text_auto=True,
        origin="lower",
        color_continuous_scale="Greens",
        labels=dict(x="score under B", y="score under A", color="images"),
        title="Images per pair of scores (right of the diagonal: B is better)",
    )
    left.plotly_chart(fig.update_layout(height=380, margin=dict(t=40, b=10)), width="stretch")
    moved = int((table[f"score {a}"] != table[f"score {b}"]).sum())
    left.caption(f"{moved} of {len(table)} images score differently under A and B.")
    transitions = analysis.bucket_transitions(table[f"score {a}"], table[f"score {b}"])
    fig = px.imshow(
        transitions,
        text_auto=True,
        color_continuous_scale="Blues",
        labels=dict(x="bucket under B", y="bucket under A"),
        title="Bucket transitions (A rows, B columns)",
    )
    right.plotly_chart(fig.update_layout(height=380, margin=dict(t=40, b=10)), width="stretch")
    right.download_button(
        "Download the transitions (CSV)",
        transitions.to_csv().encode(),
        "transitions.csv",
        "text/csv",
        key="compare_tr_csv",
    )
    st.download_button(
        "Download the per-image table (CSV)",
        table.to_csv(index=False).encode(),
        "compare_per_image.csv",
        "text/csv",
        key="compare_csv",
    )


def wins(ex, preds, table, a: str, b: str) -> None:
    """Where B beats A and where A beats B: the pairs of outcome overlays, the rows, open one, CSV."""
    pos = {id_: k for k, id_ in enumerate(ex.ids)}
    for x, y, label in ((a, b, "B beats A"), (b, a, "A beats B")):
        rows = analysis.where_beats(table, x, y, limit=12)
        st.subheader(f"Where {label}: {int((table[f'score {y}'] > table[f'score {x}']).sum())} images")
        if rows.empty:
            st.caption("none")
            continue
        tiles, labels = [], []
        for id_ in rows["id"]:
            k = pos[id_]
            tiles += [outcome_overlay(ex.images[k], preds[m][k], ex.truth[k]) for m in (a, b)]
            labels += [f"A · {table[f'score {a}'].iloc[k]:.2f}", f"B · {table[f'score {b}'].iloc[k]:.2f}"]
        st.image(mosaic(tiles, 8, labels), caption="pairs: A then B, largest score gain first", width="stretch")
        st.dataframe(rows[["id", "coverage", f"score {a}", f"score {b}", "delta"]], hide_index=True, width="stretch")
        id_opener(rows["id"].tolist(), f"compare_open_{label}")
        st.download_button(
            f"Download where {label} (CSV)",
            analysis.where_beats(table, x, y, limit=len(table)).to_csv(index=False).encode(),
            f"where_{label.replace(' ', '_')}.csv",
            "text/csv",
            key=f"compare_{label}",
        )


ensure_entry()
st.title("Compare")
ex, view, a, b = chosen_pair()
headline(view.summaries, a, b)
pair_charts(view.table, a, b)
wins(ex, view.preds, view.table, a, b)
