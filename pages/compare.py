"""Compare page: two models side by side on the same validation images, and where each one wins."""

import plotly.express as px
import streamlit as st

from pages._ui import ensure_entry, id_opener, run_picker
from saltlab.analysis import summaries as analysis
from saltlab.analysis.render import mosaic, outcome_overlay

ensure_entry()
st.title("Compare")
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
view = ex.view(options)  # computed once per (runs, options); a click that changes neither reuses it
preds, summaries, table = view.preds, view.summaries, view.table
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

left, right = st.columns(2)
# Scores take 11 values (0, 0.1, ..., 1): a scatter piles images onto one point, so count them.
pairs = table.assign(A=table[f"score {a}"].round(1), B=table[f"score {b}"].round(1)).groupby(["A", "B"]).size()
counts = pairs.unstack(fill_value=0).reindex(
    index=[round(0.1 * i, 1) for i in range(11)], columns=[round(0.1 * i, 1) for i in range(11)], fill_value=0
)
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
    "Download the transitions (CSV)", transitions.to_csv().encode(), "transitions.csv", "text/csv", key="compare_tr_csv"
)
st.download_button(
    "Download the per-image table (CSV)",
    table.to_csv(index=False).encode(),
    "compare_per_image.csv",
    "text/csv",
    key="compare_csv",
)

pos = {id_: k for k, id_ in enumerate(ex.ids)}
for x, y, label in ((a, b, "B beats A"), (b, a, "A beats B")):
    rows = analysis.where_beats(table, x, y, limit=12)
    wins = int((table[f"score {y}"] > table[f"score {x}"]).sum())
    st.subheader(f"Where {label}: {wins} images")
    if rows.empty:
        st.caption("none")
        continue
    tiles, labels = [], []
    for id_ in rows["id"]:
        k = pos[id_]
        tiles += [
            outcome_overlay(ex.images[k], preds[a][k], ex.truth[k]),
            outcome_overlay(ex.images[k], preds[b][k], ex.truth[k]),
        ]
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
