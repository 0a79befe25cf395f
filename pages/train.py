"""Train page: configure a run, start it in the background, follow it live, cancel, resume; the run registry."""

import pandas as pd
import streamlit as st

from pages._ui import active_path, ensure_entry, reported
from saltlab.analysis import run_views
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
    from_dict,
    load_config,
    preset_description,
    preset_names,
)
from saltlab.runs.records import RunStatus
from saltlab.runs.registry import registry_rows
from saltlab.runs.request import TrainRequest, build_config, pseudo_paths, shared_epochs
from saltlab.runs.run_folder import RunBusy, RunFolder, checkpoints_root, list_runs, remove_run
from saltlab.runs.stage_table import stage_table, stages_from_table

ensure_entry()
st.title("Train")


@st.cache_resource
def _gpu_name() -> str | None:
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


def device_caption(gpu: str | None) -> None:
    if gpu:
        st.caption(f"GPU found: {gpu}. Runs go to the GPU one at a time; others wait in the queue.")
    else:
        st.caption(
            f"No GPU on this machine: runs train on the CPU, one at a time. The default preset, `{DEFAULT_PRESET}`, "
            "plans its epochs to fit its time budget (Minutes); the case-study presets take hours on a CPU."
        )


def preset_choice():
    """The preset (the default first), its settings and what it is."""
    presets = preset_names()
    preset = st.selectbox(
        "Preset",
        presets,
        index=presets.index(DEFAULT_PRESET) if DEFAULT_PRESET in presets else 0,
        key="train_preset",
        help="The presets: " + ", ".join(presets) + ". What the chosen one is, its time and its measured score: below.",
    )
    st.info(preset_description(preset) or f"{preset}: no description")
    return preset, from_dict(load_config(preset))


def form_model_and_data(preset: str, base, gpu: str | None) -> dict:
    """Encoder, fold, batch, input size, device, augmentation, image limit."""
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
    return dict(
        encoder=encoder, fold=fold, batch=batch, input_size=input_size, device=device, augment=augment, limit=limit
    )


def form_budget(preset: str, base) -> dict:
    """Epochs (a total, shared out over the stages), a time budget, torch.compile."""
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
    return dict(epochs_total=epochs_total, minutes=minutes, compile_model=compile_model)


def form_stages(preset: str, base):
    """The stage table: loss, optimiser, schedule and SWA of each stage; rows can be added or deleted."""
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
    return edited


def form_extra_data(preset: str) -> dict:
    """Pseudo-labels from finished runs, leaving the suspect labels out."""
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
    return dict(pseudo_from=pseudo_from, exclude=exclude)


def start_form(preset: str, base, gpu: str | None) -> None:
    """The form; on Start, one TrainRequest (saltlab.runs.request) submitted to the queue."""
    with st.form(f"train_form_{preset}"):
        chosen = form_model_and_data(preset, base, gpu)
        chosen |= form_budget(preset, base)
        edited = form_stages(preset, base)
        chosen |= form_extra_data(preset)
        label = st.text_input(
            "Name (optional)",
            key=f"train_label_new_{preset}",
            placeholder="e.g. BCE only, no augmentation",
            help="a name of your own for the registry (editable later); the folder stays PRESET-fFOLD-TIME",
        )
        start = st.form_submit_button("Start", type="primary")
    if start:
        submit_request(preset, chosen, edited, label)


def submit_request(preset: str, chosen: dict, edited, label: str) -> None:
    with reported("Cannot start"):
        stages_wanted = stages_from_table(load_config(preset).get("stages", []), edited.to_dict("records"))
        total = int(chosen["epochs_total"])
        request = TrainRequest(
            preset=preset,
            values=dict(
                data=active_path(),
                fold=int(chosen["fold"]),
                batch_size=int(chosen["batch"]),
                device=chosen["device"],
                augment=bool(chosen["augment"]),
                max_train_images=int(chosen["limit"]) or None,
                compile=bool(chosen["compile_model"]),
                model={"encoder": chosen["encoder"], "input_size": int(chosen["input_size"])},
            ),
            stages=stages_wanted,
            stage_epochs=shared_epochs(stages_wanted, total) if total and stages_wanted else None,
            minutes=float(chosen["minutes"]),
            exclude_suspects=bool(chosen["exclude"]),
            pseudo_runs=pseudo_paths(checkpoints_root(), chosen["pseudo_from"]),
        )
        run = submit(build_config(request))
        if label.strip():
            run.write_label(label)
        st.session_state["_train_chosen"] = run.path.name  # the live view shows the new run
        st.success(f"Run {run.path.name} submitted.")


gpu = _gpu_name()
device_caption(gpu)
preset, base = preset_choice()
start_form(preset, base, gpu)


# --- registry and live view -----------------------------------------------------------------
def _remember_run() -> None:
    st.session_state["_train_chosen"] = st.session_state["train_selected"]


def _filtered(table: pd.DataFrame) -> pd.DataFrame:
    st.text_input(
        "Filter runs",
        key="train_filter",
        placeholder="any text: a state, a preset, a loss, a note...",
        help="Sort by clicking a column header.",
    )
    wanted = st.session_state.get("train_filter", "").strip().lower()
    if not wanted:
        return table
    text = table.apply(lambda row: " ".join(str(v) for v in row).lower(), axis=1)
    table = table[text.str.contains(wanted, regex=False)]
    st.caption(f"{len(table)} runs match '{wanted}'")
    return table


def _registry_table(table: pd.DataFrame) -> None:
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


def _chosen_run(names: list[str]) -> str:
    # The chosen run is kept apart from the widget: a filter that hides it (or every run, so that the widget is
    # not drawn and Streamlit forgets its value) must not lose it once the filter is cleared.
    chosen = st.session_state.get("_train_chosen")
    st.session_state["train_selected"] = chosen if chosen in names else names[0]
    return st.selectbox("Run", names, key="train_selected", on_change=_remember_run)


def _actions(run: RunFolder, state: str | None, problem: str | None) -> None:
    name = run.path.name
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
    _confirm_removal(run)


def _confirm_removal(run: RunFolder) -> None:
    name, confirm = run.path.name, st.session_state.get("train_confirm")
    if not confirm or confirm[1] != name:
        return
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


def _state_and_scores(run: RunFolder, status: dict, split: dict | None, problem: str | None) -> None:
    position = queue_position(run) if status.get("state") == "queued" else None
    fraction, label = run_views.progress(status, position)
    st.progress(fraction, text=label)
    if status.get("state") == "failed":
        st.error(f"Failed: {status.get('error')}")
    if problem:
        st.error(
            f"{run.path.name} cannot be read as a run: {problem}. Delete or archive it; the other runs are unaffected."
        )
    if split:
        st.caption(run_views.split_caption(split))


def _curves_and_log(run: RunFolder, status: dict) -> None:
    metrics = run.read_metrics()
    if run_views.has_curves(metrics):
        st.plotly_chart(run_views.curves(metrics, status.get("steps_per_epoch")), width="stretch")
    else:
        st.caption("The loss and score curves start with the first training steps.")
    try:
        lines = run.log_path.read_text().splitlines()[-12:]
    except OSError:
        lines = []
    st.code("\n".join(lines) or "(no log yet)", language=None, wrap_lines=True)


@st.fragment(run_every=2)
def live() -> None:  # reads only: the runs' own processes start the next queued run (jobs.launcher)
    table = pd.DataFrame(registry_rows())
    st.subheader("Runs")
    if table.empty:
        st.caption("No runs yet: pick a preset above and press Start.")
        return
    table = _filtered(table)
    if table.empty:
        return
    _registry_table(table)
    run = RunFolder(checkpoints_root() / _chosen_run(table["run"].tolist()))
    status, split, problem = run.status() or RunStatus(), run.split(), run.problem()
    _state_and_scores(run, status, split, problem)
    _actions(run, status.get("state"), problem)
    caption = run_views.score_caption(status, split)
    if caption:
        st.caption(caption)
    warning = run_views.below_empty_warning(status)
    if warning:
        st.warning(warning)
    _curves_and_log(run, status)


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
