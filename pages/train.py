"""Train page: configure a run, start it in the background, follow it live, cancel, resume; the run registry."""

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from pages._ui import active_path, ensure_entry
from saltlab.core.sources import DataSetError
from saltlab.core.suspect_marks import MarksError, marked
from saltlab.jobs.launcher import cancel, queue_position, request_resume, submit
from saltlab.models import encoder_names
from saltlab.runs.config import (
    DEFAULT_PRESET,
    INPUT_SIZES,
    LOSSES,
    OPTIMIZERS,
    SCHEDULES,
    ConfigError,
    from_dict,
    load_config,
    plan_epochs,
    preset_description,
    preset_names,
    scaled_swa_start,
    stage_table,
    stages_from_table,
)
from saltlab.runs.registry import registry_rows
from saltlab.runs.run_folder import RunBusy, RunFolder, checkpoints_root, list_runs, remove_run

ensure_entry()
st.title("Train")


@st.cache_resource
def _gpu_name() -> str | None:
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


gpu = _gpu_name()
if gpu:
    st.caption(f"GPU found: {gpu}. Runs go to the GPU one at a time; others wait in the queue.")
else:
    st.caption(
        "No GPU on this machine: runs train on the CPU, one at a time. The default preset, `cpu_hour`, plans "
        "its epochs to fit its time budget (Minutes); the case-study presets take hours on a CPU."
    )

# --- the form -------------------------------------------------------------------------------
presets = preset_names()
preset = st.selectbox(
    "Preset",
    presets,
    index=presets.index(DEFAULT_PRESET) if DEFAULT_PRESET in presets else 0,
    key="train_preset",
    help="The presets: " + ", ".join(presets) + ". What the chosen one is, its time and its measured score: below.",
)
base = from_dict(load_config(preset))
st.info(preset_description(preset) or f"{preset}: no description")
with st.form(f"train_form_{preset}"):
    c2, c3, c4 = st.columns(3)
    encoders = encoder_names()
    encoder = c2.selectbox("Encoder", encoders, index=encoders.index(base.model.encoder), key=f"train_encoder_{preset}")
    fold = c3.number_input("Fold", 0, 9, base.fold, key=f"train_fold_{preset}")
    batch = c4.number_input("Batch size", 2, 256, base.batch_size, key=f"train_batch_{preset}")
    c5, c6, c7, c8 = st.columns(4)
    input_size = c5.selectbox(
        "Input size",
        list(INPUT_SIZES),
        index=list(INPUT_SIZES).index(base.model.input_size),
        key=f"train_input_{preset}",
        help="101: as it is (fastest); 128: 101 edge-padded; 256: resized to 202, then padded",
    )
    devices = ["auto", "cpu"] + (["cuda"] if gpu else [])
    device = c6.selectbox(
        "Device", devices, key=f"train_device_{preset}", help="auto = the GPU when there is one, else the CPU"
    )
    augment = c7.checkbox("Augmentation", base.augment, key=f"train_augment_{preset}")
    limit = c8.number_input(
        "Max train images (0 = all)", 0, 100000, base.max_train_images or 0, key=f"train_limit_{preset}"
    )
    e1, e2, e3, _ = st.columns([1, 1, 1, 1])
    epochs_total = e1.number_input(
        "Epochs (0 = the table's)",
        0,
        10000,
        0,
        key=f"train_epochs_{preset}",
        help="the total over all stages, shared out in the table's proportions",
    )
    minutes = e2.number_input(
        "Minutes (0 = no budget)",
        0.0,
        100000.0,
        float(base.minutes or 0),
        step=5.0,
        key=f"train_minutes_{preset}",
        help="a time budget: the run times a few steps, then scales the epochs to end within "
        "it (validation included); it overrides Epochs",
    )
    compile_model = e3.checkbox(
        "torch.compile",
        base.compile,
        key=f"train_compile_{preset}",
        help="compile the model: faster steps on a GPU after a compile of a minute or more "
        "(logged apart from the epoch times); on the CPU it rarely pays",
    )
    st.markdown("**Stages** (one row each: loss, optimiser, LR schedule)")
    stages = pd.DataFrame(stage_table(base.stages))
    edited = st.data_editor(
        stages,
        num_rows="dynamic",
        width="stretch",
        key=f"train_stages_{preset}",
        column_config={
            "loss": st.column_config.SelectboxColumn(options=list(LOSSES), required=True),
            "optimizer": st.column_config.SelectboxColumn(options=list(OPTIMIZERS), required=True),
            "schedule": st.column_config.SelectboxColumn(options=list(SCHEDULES), required=True),
            "epochs": st.column_config.NumberColumn(min_value=1, step=1),
            "lr": st.column_config.NumberColumn(format="%.0e"),
            "max_lr": st.column_config.NumberColumn(format="%.0e"),
            "snapshots": st.column_config.CheckboxColumn(help="save snapshot-eNNN.pt at the end of every LR cycle"),
            "swa_start": st.column_config.NumberColumn(
                min_value=1,
                step=1,
                help="SWA: average this stage's weights from this epoch (1-based) on into swa.pt; empty: no SWA",
            ),
        },
    )
    finished = [r.path.name for r in list_runs() if r.best_path.is_file()]
    pseudo_from = st.multiselect(
        "Pseudo-labels from runs (optional)",
        finished,
        key=f"train_pseudo_{preset}",
        help="Their averaged test-set predictions (hflip TTA) become extra training data: pixels with p <= 0.2 or "
        "p >= 0.8 count, the rest is ignored by the loss; an image is used when 90% of its pixels are confident.",
    )
    try:
        suspects = sorted(marked(active_path()))
    except MarksError as exc:
        st.warning(str(exc))
        suspects = []
    exclude = st.checkbox(
        f"Leave out the {len(suspects)} images marked as suspect labels",
        value=False,
        disabled=not suspects,
        key=f"train_exclude_{preset}",
        help="Marked on the Suspects page; left out of training only (the validation fold keeps them), their ids "
        "recorded in the run's config.",
    )
    label = st.text_input(
        "Name (optional)",
        key=f"train_label_new_{preset}",
        placeholder="e.g. BCE only, no augmentation",
        help="a name of your own for the registry (editable later); the folder stays PRESET-fFOLD-TIME",
    )
    start = st.form_submit_button("Start", type="primary")

if start:
    values = load_config(preset)
    values.update(
        data=active_path(),
        fold=int(fold),
        batch_size=int(batch),
        device=device,
        augment=bool(augment),
        max_train_images=int(limit) or None,
        compile=bool(compile_model),
    )
    values.setdefault("model", {}).update(encoder=encoder, input_size=int(input_size))
    try:
        values["stages"] = stages_from_table(values.get("stages", []), edited.to_dict("records"))
    except ConfigError as exc:
        st.error(f"Cannot start: {exc}")
        st.stop()
    if epochs_total and values["stages"]:
        for stage, n in zip(
            values["stages"], plan_epochs([row["epochs"] for row in values["stages"]], int(epochs_total))
        ):
            stage["swa_start"] = scaled_swa_start(stage.get("swa_start"), stage["epochs"], n)
            stage["epochs"] = n
    values["minutes"] = float(minutes) or None
    if exclude:
        values["exclude_ids"] = suspects
    if pseudo_from:
        values["pseudo"] = {"runs": [str(checkpoints_root().absolute() / name) for name in pseudo_from]}
    try:
        run = submit(from_dict(values))
        if label.strip():
            run.write_label(label)
        st.session_state["_train_chosen"] = run.path.name  # the live view shows the new run
        st.success(f"Run {run.path.name} submitted.")
    except (ConfigError, DataSetError) as exc:
        st.error(f"Cannot start: {exc}")


# --- registry and live view -----------------------------------------------------------------
def _duration(status: dict) -> str:
    start, end = status.get("started"), status.get("finished") or status.get("updated")
    if not start or not end:
        return ""
    minutes = (end - start) / 60
    return f"{minutes:.1f} min"


def registry() -> pd.DataFrame:
    return pd.DataFrame(registry_rows())


def curves(run: RunFolder) -> go.Figure:
    metrics = run.read_metrics()
    steps = [m for m in metrics if isinstance(m, dict) and m.get("kind") == "step"]
    epochs = [m for m in metrics if isinstance(m, dict) and m.get("kind") == "epoch"]
    fig = go.Figure()
    spe = max((run.read_status() or {}).get("steps_per_epoch") or 1, 1)
    fig.add_scatter(
        x=[m["step"] / spe for m in steps], y=[m["loss"] for m in steps], name="train loss (step)", mode="lines"
    )
    fig.add_scatter(
        x=[m["epoch"] for m in epochs], y=[m["val_loss"] for m in epochs], name="val loss", mode="lines+markers"
    )
    fig.add_scatter(
        x=[m["epoch"] for m in epochs],
        y=[m["val_score"] for m in epochs],
        name="val score",
        mode="lines+markers",
        yaxis="y2",
    )
    if epochs and epochs[-1].get("val_score_empty") is not None:
        empty = epochs[-1]["val_score_empty"]
        fig.add_scatter(
            x=[epochs[0]["epoch"], epochs[-1]["epoch"]],
            y=[empty, empty],
            name=f"all-empty prediction ({empty:.3f})",
            mode="lines",
            yaxis="y2",
            line=dict(dash="dash", color="gray"),
        )
    if epochs and "val_score_oracle" in epochs[0]:
        fig.add_scatter(
            x=[m["epoch"] for m in epochs],
            y=[m["val_score_oracle"] for m in epochs],
            name="val score (oracle gate)",
            mode="lines+markers",
            yaxis="y2",
            line=dict(dash="dot"),
        )
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


def _remember_run() -> None:
    st.session_state["_train_chosen"] = st.session_state["train_selected"]


@st.fragment(run_every=2)
def live() -> None:  # reads only: the runs' own processes start the next queued run (jobs.launcher)
    table = registry()
    st.subheader("Runs")
    if table.empty:
        st.caption("No runs yet: pick a preset above and press Start.")
        return
    st.text_input(
        "Filter runs",
        key="train_filter",
        placeholder="any text: a state, a preset, a loss, a note...",
        help="Sort by clicking a column header.",
    )
    wanted = st.session_state.get("train_filter", "").strip().lower()
    if wanted:
        text = table.apply(lambda row: " ".join(str(v) for v in row).lower(), axis=1)
        table = table[text.str.contains(wanted, regex=False)]
        st.caption(f"{len(table)} runs match '{wanted}'")
        if table.empty:
            return
    st.dataframe(
        table,
        width="stretch",
        hide_index=True,
        column_config={
            "best score": st.column_config.NumberColumn(format="%.4f"),
            "SWA score": st.column_config.NumberColumn(format="%.4f"),
            "all-empty score": st.column_config.NumberColumn(
                format="%.4f",
                help="the score of predicting every mask empty on the same validation images: a model must beat it",
            ),
            "below all-empty": st.column_config.CheckboxColumn(help="the best score is not above the all-empty score"),
        },
    )
    names = table["run"].tolist()
    # The chosen run is kept apart from the widget: a filter that hides it (or every run, so that the widget is
    # not drawn and Streamlit forgets its value) must not lose it once the filter is cleared.
    chosen = st.session_state.get("_train_chosen")
    st.session_state["train_selected"] = chosen if chosen in names else names[0]
    name = st.selectbox("Run", names, key="train_selected", on_change=_remember_run)
    run = RunFolder(checkpoints_root() / name)
    status = run.read_status() or {}
    state = status.get("state")
    total = status.get("total_steps") or 0
    step = status.get("step") or 0
    epoch = int(status.get("epoch") or 0) + (1 if state == "running" else 0)  # the status counts finished epochs
    label = f"{state}: epoch {epoch} of {status.get('epochs', '?')}, step {step} of {total}"
    if state == "running" and status.get("eta_s") is not None:
        label += f", about {status['eta_s'] / 60:.1f} min left"
    if state == "queued":
        label += f" (position {queue_position(run)} in the queue for {status.get('slot')})"
    st.progress(min(step / total, 1.0) if total else 0.0, text=label)
    if state == "failed":
        st.error(f"Failed: {status.get('error')}")
    problem = run.problem()
    if problem:
        st.error(f"{name} cannot be read as a run: {problem}. Delete or archive it; the other runs are unaffected.")
    split = run.read_split()
    if split:
        st.caption(
            f"data set {split.get('data')} (fingerprint {str(split.get('fingerprint'))[:12]}); "
            f"{len(split.get('train_ids', []))} training, {len(split.get('val_ids', []))} held-out images, "
            f"fold {split.get('fold')} of {split.get('n_folds')}"
        )
    b1, b2, b3, b4, _ = st.columns([1, 1, 1, 1, 4])
    if b1.button("Cancel", disabled=state not in ("running", "queued"), key="train_cancel"):
        st.toast(cancel(run))
    if b2.button("Resume", disabled=state not in ("cancelled", "failed") or bool(problem), key="train_resume"):
        try:
            request_resume(run)
            st.toast(f"{name} queued to resume")
        except (DataSetError, ValueError, OSError) as exc:
            st.error(f"Cannot resume {name}: {exc}")
    for column, verb in ((b3, "Archive"), (b4, "Delete")):
        if column.button(
            verb,
            disabled=state == "running",
            key=f"train_{verb.lower()}",
            help=f"{verb} this run folder ({'moved to .archive/' if verb == 'Archive' else 'for good'})",
        ):
            st.session_state["train_confirm"] = (verb, name)
    confirm = st.session_state.get("train_confirm")
    if confirm and confirm[1] == name:
        verb = confirm[0]
        st.warning(f"{verb} {name}?" + (" Its checkpoints are deleted for good." if verb == "Delete" else ""))
        yes, no, _ = st.columns([1, 1, 6])
        if yes.button(f"Yes, {verb.lower()}", key="train_confirm_yes"):
            st.session_state.pop("train_confirm")
            try:
                moved = remove_run(run, archive=verb == "Archive")
            except (RunBusy, OSError) as exc:
                st.error(f"Cannot {verb.lower()} {name}: {exc}")
            else:
                st.session_state.pop("train_selected", None)
                st.toast(f"archived {name} to {moved}" if moved else f"deleted {name}")
                st.rerun()
        if no.button("No", key="train_confirm_no"):
            st.session_state.pop("train_confirm")
            st.rerun()
    if status.get("best_score") is not None:
        scored = len((split or {}).get("monitor_ids", [])) or None
        st.caption(
            f"best validation score {status['best_score']:.4f} at epoch {status.get('best_epoch')}"
            + (
                f" (on {scored} of the {len(split.get('val_ids', []))} held-out images: the Explorer scores all "
                "of them, so its number can differ)"
                if scored and split and scored < len(split.get("val_ids", []))
                else (f" (on its {scored} held-out images)" if scored else "")
            )
            + (
                f"; SWA of {status['swa_epochs']} epochs (swa.pt) {status['swa_score']:.4f}"
                if status.get("swa_score") is not None
                else ""
            )
            + (
                f"; predicting every mask empty scores {status['empty_score']:.4f} on the same images"
                if status.get("empty_score") is not None
                else ""
            )
        )
        if status.get("empty_score") is not None and status["best_score"] <= status["empty_score"]:
            st.warning(
                f"This run is worse than predicting nothing: its best score {status['best_score']:.4f} is not above "
                f"the all-empty score {status['empty_score']:.4f} of its validation images."
            )
    if any(m.get("kind") in ("step", "epoch") for m in run.read_metrics() if isinstance(m, dict)):
        st.plotly_chart(curves(run), width="stretch")
    else:
        st.caption("The loss and score curves start with the first training steps.")
    try:
        lines = run.log_path.read_text().splitlines()[-12:]
    except OSError:
        lines = []
    st.code("\n".join(lines) or "(no log yet)", language=None, wrap_lines=True)


live()


def _save_name_and_notes(run: RunFolder) -> None:
    name = run.path.name
    try:
        run.write_label(st.session_state.get(f"train_label_{name}", ""))
        run.write_notes(st.session_state.get(f"train_notes_{name}", ""))
        st.session_state["train_notes_saved"] = ("ok", f"name and notes of {name} saved")
    except OSError as exc:
        st.session_state["train_notes_saved"] = ("error", f"Cannot save the name and notes of {name}: {exc}")


def run_details() -> None:
    """Notes on the selected run, and its config beside another run's with the differences."""
    from saltlab.runs.registry import config_diff

    names = [r.path.name for r in list_runs()]
    name = st.session_state.get("train_selected")
    if name not in names:
        return
    run = RunFolder(checkpoints_root() / name)
    with st.expander(f"Notes and config of {name}"):
        st.text_input(
            "Name", value=run.read_label(), key=f"train_label_{name}", help="shown in the registry's name column"
        )
        st.text_area("Notes", value=run.read_notes(), key=f"train_notes_{name}", height=90)
        # A callback saves before the page redraws, so the registry above shows the new name at once.
        st.button("Save name and notes", key="train_notes_save", on_click=_save_name_and_notes, args=(run,))
        kind, message = st.session_state.pop("train_notes_saved", (None, None))
        if kind == "ok":
            st.toast(message)
        elif kind == "error":
            st.error(message)
        others = [n for n in names if n != name]
        other = st.selectbox("Compare its config with", ["(none)", *others], key="train_diff_with")
        try:
            config = run.read_config()
        except (OSError, ValueError) as exc:
            st.error(f"{name}: config unreadable ({exc})")
            return
        if other == "(none)":
            st.json(config, expanded=False)
            return
        try:
            rows = config_diff(config, RunFolder(checkpoints_root() / other).read_config())
        except (OSError, ValueError) as exc:
            st.error(f"{other}: config unreadable ({exc})")
            return
        st.caption(
            ("1 setting differs" if len(rows) == 1 else f"{len(rows)} settings differ")
            + ("" if rows else ": the same recipe")
        )
        if rows:
            st.dataframe(
                pd.DataFrame(rows, columns=["setting", name, other]).astype(str), hide_index=True, width="stretch"
            )


run_details()
