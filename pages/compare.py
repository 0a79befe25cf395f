"""Compare page: two models side by side on the same validation images, and where each one wins."""

import plotly.express as px
import streamlit as st

from pages._ui import ensure_entry, run_picker
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
a, b = ex.names
view = ex.view(options)  # computed once per (runs, options); a click that changes neither reuses it
preds, summaries, table = view.preds, view.summaries, view.table
c1, c2, c3 = st.columns(3)
c1.metric(f"A: {a[:40]}", f"{summaries[0].score:.4f}")
c2.metric(f"B: {b[:40]}", f"{summaries[1].score:.4f}", f"{summaries[1].score - summaries[0].score:+.4f} vs A")
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
fig = px.scatter(
    table,
    x=f"score {a}",
    y=f"score {b}",
    hover_data=["id", "coverage"],
    opacity=0.5,
    title="Per-image score, A vs B (above the diagonal: B is better)",
)
fig.add_shape(type="line", x0=0, y0=0, x1=1, y1=1, line=dict(dash="dot"))
left.plotly_chart(fig.update_layout(height=380, margin=dict(t=40, b=10)), width="stretch")
transitions = analysis.bucket_transitions(table[f"score {a}"], table[f"score {b}"])
fig = px.imshow(
    transitions,
    text_auto=True,
    color_continuous_scale="Blues",
    labels=dict(x="bucket under B", y="bucket under A"),
    title="Bucket transitions (A rows, B columns)",
)
right.plotly_chart(fig.update_layout(height=380, margin=dict(t=40, b=10)), width="stretch")

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
        labels += [f"A {table[f'score {a}'].iloc[k]:.1f}", f"B {table[f'score {b}'].iloc[k]:.1f}"]
    st.image(mosaic(tiles, 8, labels), caption="pairs: A then B, largest score gain first", width="stretch")
    st.dataframe(rows[["id", "coverage", f"score {a}", f"score {b}", "delta"]], hide_index=True, width="stretch")
