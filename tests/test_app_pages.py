"""The Streamlit pages through streamlit.testing (no browser): they run without exceptions and their widgets work."""

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from saltlab.jobs.launcher import cancel
from saltlab.runs.run_folder import list_runs

PROJECT = Path(__file__).resolve().parents[1]
APP = str(PROJECT / "app.py")


@pytest.fixture
def app(demo_root, monkeypatch, tmp_path):
    monkeypatch.setenv("SALTLAB_DATA", str(demo_root))
    monkeypatch.setenv("SALTLAB_CHECKPOINTS", str(tmp_path / "runs"))
    monkeypatch.chdir(PROJECT)
    return AppTest.from_file(APP, default_timeout=120).run()


def metrics(at) -> dict:
    return {m.label: m.value for m in at.metric}


def runs_copied_from(trained_run, demo_root, monkeypatch, tmp_path, *names: str):
    """The session's trained run copied under these names (without its evaluations) into a fresh
    checkpoints folder, and the app pointed at it and at the demo set; returns that folder."""
    runs = tmp_path / "runs"
    for name in names:
        shutil.copytree(trained_run.path, runs / name, ignore=shutil.ignore_patterns("eval"))
    monkeypatch.setenv("SALTLAB_DATA", str(demo_root))
    monkeypatch.setenv("SALTLAB_CHECKPOINTS", str(runs))
    return runs


def test_dataset_page_shows_demo_numbers(app, demo_ds):
    assert not app.exception
    assert metrics(app)["Train images"] == str(demo_ds.n_train)
    assert metrics(app)["Test images"] == str(demo_ds.n_test)
    assert "Health report: clean" in [e.label for e in app.expander][0]
    app.session_state["dataset_section"] = "Anomalies"
    app.run()
    assert not app.exception
    assert [t.label.split(" (")[0] for t in app.tabs] == ["empty mask", "constant image", "vertical mask", "full mask"]


def test_browser_filters_change_what_is_shown(app, demo_ds):
    app.session_state["dataset_section"] = "Image browser"
    app.run()
    page_label = app.number_input(key="browse_page").label
    assert f"{demo_ds.n_train} images match" in page_label
    app.selectbox(key="browse_anomaly").set_value("vertical mask").run()
    assert not app.exception
    label = app.number_input(key="browse_page").label
    count = int(label.split("; ")[1].split(" ")[0])
    assert 0 < count < demo_ds.n_train
    assert len(app.selectbox(key="browse_open").options) == count
    app.multiselect(key="browse_classes").set_value([10]).run()
    assert not app.exception


def test_switching_to_a_bad_path_shows_an_error_and_back(app, demo_root, tmp_path):
    app.sidebar.text_input(key="data_path_input").set_value(str(tmp_path / "missing")).run()
    assert not app.exception
    assert any("data set folder not found" in e.value for e in app.error)
    # (AppTest drops the sidebar from its tree after this rerun; the browser test checks it stays.)
    app.session_state["data_path"] = str(demo_root)
    app.run()
    assert not app.error
    assert metrics(app)["Train images"] == "200"


def test_data_set_choice_survives_a_reload_and_a_new_tab(app, demo_root, tmp_path):

    other = tmp_path / "other-set"
    shutil.copytree(demo_root, other)
    app.sidebar.text_input(key="data_path_input").set_value(str(other)).run()
    assert app.session_state["data_path"] == str(other.absolute())
    fresh = AppTest.from_file(APP, default_timeout=120).run()  # a reload or a new tab: a new session
    assert not fresh.exception
    assert fresh.session_state["data_path"] == str(other.absolute())
    # A saved choice whose folder is gone falls back to the default (SALTLAB_DATA here).
    shutil.rmtree(other)
    again = AppTest.from_file(APP, default_timeout=120).run()
    assert again.session_state["data_path"] == str(Path(demo_root).absolute())


def test_start_refuses_a_data_set_that_does_not_exist(app, tmp_path):
    app.session_state["data_path"] = str(tmp_path / "gone")
    app.switch_page("pages/train.py").run()
    app.selectbox(key="train_preset").set_value("smoke").run()
    app.button[0].click().run()  # Start
    assert any("Cannot start: data set folder not found" in e.value for e in app.error)
    assert list_runs(tmp_path / "runs") == []  # no run folder made


def test_train_page_submits_a_run(app, tmp_path):
    app.switch_page("pages/train.py").run()
    assert not app.exception
    assert any("No GPU on this machine" in c.value for c in app.caption) or any(
        "GPU found" in c.value for c in app.caption
    )
    assert app.selectbox(key="train_preset").value == "cpu_hour_compact"  # the default: the one-hour recipe
    assert any("one hour" in i.value and "Expected" in i.value for i in app.info)  # the preset says what it is
    assert any("No runs yet" in c.value for c in app.caption)
    assert app.number_input(key="train_minutes_cpu_hour_compact").value == 60
    app.number_input(key="train_batch_cpu_hour_compact").set_value(2)
    app.number_input(key="train_fold_cpu_hour_compact").set_value(9)
    app.number_input(key="train_minutes_cpu_hour_compact").set_value(0.0)
    app.number_input(key="train_epochs_cpu_hour_compact").set_value(10)
    assert not app.checkbox(key="train_compile_cpu_hour_compact").value
    app.checkbox(key="train_compile_cpu_hour_compact").check()
    app.button[0].click().run()  # Start
    assert not app.exception
    assert any("submitted" in s.value for s in app.success)
    [run] = list_runs(tmp_path / "runs")
    config = run.read_config()
    assert config["batch_size"] == 2 and config["fold"] == 9 and config["compile"] is True
    assert config["minutes"] is None and [s["epochs"] for s in config["stages"]] == [5, 5]
    cancel(run)  # a real background process was started: stop it
    deadline = time.monotonic() + 60
    while run.read_status()["state"] == "running":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert run.read_status()["state"] == "cancelled"


@pytest.mark.real_data
def test_dataset_page_on_real_data(real_root, monkeypatch, tmp_path):
    monkeypatch.setenv("SALTLAB_DATA", str(real_root))
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception
    m = metrics(at)
    assert m["Train images"] == "3499" and m["Empty masks"] == "1363" and m["Vertical masks"] == "102"
    at.session_state["dataset_section"] = "Anomalies"
    at.run()
    assert [t.label for t in at.tabs][2] == "vertical mask (102)"
    at.switch_page("pages/mosaic.py").run()  # the real sections: the numbers the CLI prints
    assert not at.exception
    from saltlab.core.dataset import load_dataset
    from saltlab.core.mosaic import load_mosaic

    mosaic, _ = load_mosaic(load_dataset(real_root))
    assert metrics(at)["Tiles placed"] == f"{mosaic.n_placed} of 5499" and mosaic.n_placed > 500
    largest = mosaic.sections().iloc[0]
    assert metrics(at)["Largest section"] == f"{largest.tiles} tiles ({largest.rows}x{largest.cols})"
    at.segmented_control(key="mosaic_layer").set_value("truth").run()
    assert not at.exception


def test_explorer_and_compare_without_runs_explain_what_to_do(app):
    for page in ("pages/explorer.py", "pages/compare.py", "pages/predict.py"):
        app.switch_page(page).run()
        assert not app.exception
        assert any("No trained run yet" in i.value and "`tiny` preset" in i.value for i in app.info)


def test_explorer_and_compare_on_real_runs(demo_root, trained_run, monkeypatch, tmp_path):
    runs = runs_copied_from(trained_run, demo_root, monkeypatch, tmp_path, "a", "b")
    at = AppTest.from_file(APP, default_timeout=180).run()
    at.switch_page("pages/explorer.py").run()
    assert not at.exception
    n_val = len(trained_run.read_split()["val_ids"])
    assert any(f"{n_val} validation images" in c.value for c in at.caption)
    # The all-empty reference beside the score, the same number the library computes.
    from saltlab.core.dataset import load_dataset
    from saltlab.core.scoring import empty_score

    ds = load_dataset(demo_root)
    val_ids = trained_run.read_split()["val_ids"]  # the run's held-out fold, as it recorded it
    expected = empty_score(ds.train_masks[ds.train_index(val_ids)])
    assert any(f"Predicting every mask empty scores {expected:.4f}" in c.value for c in at.caption)
    score = float(at.metric[0].value)
    assert (score <= expected) == any("worse than predicting nothing" in e.value for e in at.error)
    at.checkbox(key="explorer_rules").check().run()  # the mosaic's neighbour rules, before and after
    assert not at.exception
    assert any("Neighbour rules on" in m.value for m in at.markdown)
    for section in ("Images", "Map", "Error anatomy"):
        at.session_state["explorer_section"] = section
        at.run()
        assert not at.exception
        if section == "Images":
            at.multiselect(key="explorer_runs").set_value(["a", "b"]).run()
            at.session_state["explorer_side"] = True
            at.run()
            assert not at.exception
            headers = [m.value for m in at.markdown]
            assert "**a**" in headers and "**b**" in headers  # one column per model, headed by its name
            assert any("the first 16 shown" in c.value for c in at.caption)
    at.switch_page("pages/compare.py").run()
    assert not at.exception
    assert any(s.value.startswith("Where B beats A") for s in at.subheader)
    first_a = at.metric[0].label
    at.toggle(key="compare_swap").set_value(True).run()  # A and B chosen, not fixed by the selection order
    assert not at.exception
    assert at.metric[1].label == "B: " + first_a[len("A: ") :]
    labels = [b.label for b in at.get("download_button")]
    assert "Download the per-image table (CSV)" in labels and "Download the transitions (CSV)" in labels
    assert any("images score differently under A and B" in c.value for c in at.caption)
    # Other checkpoints of a run (swa.pt, snapshots) are models too.
    shutil.copy(runs / "a" / "last.pt", runs / "a" / "swa.pt")
    at.switch_page("pages/explorer.py").run()
    assert "a/swa.pt" in at.multiselect(key="explorer_runs").options
    at.multiselect(key="explorer_runs").set_value(["a", "a/swa.pt"]).run()
    assert not at.exception


def test_predict_page_on_test_images_and_a_pseudo_labelled_run(demo_root, trained_run, monkeypatch, tmp_path):
    runs = runs_copied_from(trained_run, demo_root, monkeypatch, tmp_path, "a")
    monkeypatch.chdir(PROJECT)
    at = AppTest.from_file(APP, default_timeout=180).run()
    at.switch_page("pages/predict.py").run()
    assert not at.exception
    assert at.multiselect(key="predict_models").value == ["a/best.pt"]
    at.session_state["predict_source"] = "Test images of the data set"
    at.run()
    assert not at.exception
    assert any("24 image(s)" in m.value for m in at.markdown)
    [table] = at.dataframe
    assert len(table.value) == 24 and "predicted coverage %" in table.value.columns
    assert not any("was trained on" in w.value for w in at.warning)  # the model's own data set
    other = tmp_path / "other-set"
    shutil.copytree(demo_root, other)
    at.session_state["data_path"] = str(other.absolute())
    at.run()
    assert any("a/best.pt was trained on" in w.value and str(other.absolute()) in w.value for w in at.warning)
    at.session_state["data_path"] = str(Path(demo_root).absolute())
    at.run()

    at.switch_page("pages/train.py").run()
    at.multiselect(key="train_pseudo_cpu_hour_compact").set_value(["a"])
    at.button[0].click().run()  # Start
    assert not at.exception
    new = [r for r in list_runs(runs) if r.path.name != "a"]
    assert len(new) == 1 and new[0].read_config()["pseudo"]["runs"] == [str((runs / "a").absolute())]
    cancel(new[0])
    deadline = time.monotonic() + 60
    while new[0].read_status()["state"] in ("running", "queued"):
        assert time.monotonic() < deadline
        time.sleep(0.2)


def test_train_page_keeps_preset_settings_the_table_does_not_show(app, tmp_path):
    app.switch_page("pages/train.py").run()
    app.selectbox(key="train_preset").set_value("snapshot_cosine").run()
    app.button[0].click().run()  # Start
    assert not app.exception
    [run] = list_runs(tmp_path / "runs")
    cancel(run)
    stages = run.read_config()["stages"]
    assert stages[1]["weight_decay"] == 1e-4 and stages[1]["schedule"]["min_lr"] == 1e-4
    assert stages[1]["snapshot_every_cycle"] and not stages[0]["snapshot_every_cycle"]
    deadline = time.monotonic() + 60
    while run.read_status()["state"] in ("running", "queued"):
        assert time.monotonic() < deadline
        time.sleep(0.2)


def test_archive_and_delete_a_run_from_the_train_page(demo_root, trained_run, monkeypatch, tmp_path):

    runs = tmp_path / "runs"
    for name in ("keep", "old"):
        shutil.copytree(trained_run.path, runs / name, ignore=shutil.ignore_patterns("eval", ".lock"))
    (runs / "broken").mkdir()  # a folder that is not a run: listed, and deletable
    monkeypatch.setenv("SALTLAB_DATA", str(demo_root))
    monkeypatch.setenv("SALTLAB_CHECKPOINTS", str(runs))
    monkeypatch.chdir(PROJECT)
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page("pages/train.py").run()
    assert not at.exception
    at.selectbox(key="train_selected").set_value("old").run()
    assert any("data set" in c.value and "fingerprint" in c.value for c in at.caption)  # the run names its data set
    at.button(key="train_archive").click().run()
    at.button(key="train_confirm_yes").click().run()
    assert not at.exception
    assert (runs / ".archive" / "old" / "best.pt").is_file() and not (runs / "old").exists()
    at.selectbox(key="train_selected").set_value("broken").run()
    assert any("cannot be read as a run: no config.json" in e.value for e in at.error)
    at.button(key="train_delete").click().run()
    at.button(key="train_confirm_yes").click().run()
    assert not (runs / "broken").exists() and (runs / "keep").is_dir()


def test_suspects_page_ranks_marks_and_the_train_page_offers_to_leave_them_out(
    demo_root, trained_run, monkeypatch, tmp_path
):
    runs_copied_from(trained_run, demo_root, monkeypatch, tmp_path, "a")
    monkeypatch.setenv("SALTLAB_CACHE", str(tmp_path / "cache"))
    at = AppTest.from_file(APP, default_timeout=180).run()
    at.switch_page("pages/suspects.py").run()
    assert not at.exception
    n_val = len(trained_run.read_split()["val_ids"])
    assert any(f"**{n_val}** labelled images ranked" in m.value for m in at.markdown)
    first = at.selectbox(key="suspects_pick").value
    at.button(key="suspects_mark").click().run()
    assert not at.exception
    from saltlab.core.suspect_marks import marked

    assert list(marked(demo_root)) == [first]
    at.switch_page("pages/train.py").run()
    assert not at.exception
    assert any(c.label.startswith("Leave out the 1 images marked") for c in at.checkbox)
    at.switch_page("pages/mosaic.py").run()  # the demo set's images are drawn one by one: nothing links
    assert not at.exception
    assert any("No two tiles of this data set share an edge" in i.value for i in at.info)


def test_explorer_next_previous_jump_best_threshold_and_readable_numbers(demo_root, trained_run, monkeypatch, tmp_path):
    runs = runs_copied_from(trained_run, demo_root, monkeypatch, tmp_path, "a")
    at = AppTest.from_file(APP, default_timeout=180).run()
    at.switch_page("pages/explorer.py").run()
    at.session_state["explorer_section"] = "Images"
    at.session_state["explorer_order"] = "id"
    at.run()
    assert not at.exception
    val = sorted(trained_run.read_split()["val_ids"])
    assert at.selectbox(key="explorer_open").value == val[0]
    assert at.button(key="explorer_prev").disabled
    at.button(key="explorer_next").click().run()
    assert at.selectbox(key="explorer_open").value == val[1]
    at.button(key="explorer_prev").click().run()
    assert at.selectbox(key="explorer_open").value == val[0]
    at.text_input(key="explorer_jump").set_value(val[-1]).run()
    assert at.selectbox(key="explorer_open").value == val[-1]
    assert at.button(key="explorer_next").disabled
    at.text_input(key="explorer_jump").set_value("ghost").run()
    assert any("ghost: not one of these" in w.value for w in at.warning)
    at.select_slider(key="explorer_zoom").set_value(8).run()  # the opened image at 8x, one panel a row
    assert not at.exception and at.selectbox(key="explorer_open").value == val[-1]
    # the single-image table: numbers rounded to what they mean
    values = [v for df in at.dataframe for v in df.value.get("value", [])]
    assert values and not any(len(v.split(".")[-1]) > 4 for v in values if v.replace(".", "").isdigit())
    # the sweep's best threshold, one click away (labelled as tuned on these images)
    best = at.button(key="explorer_best_threshold")
    assert "tuned on these same images" in best.label
    best.click().run()
    assert not at.exception
    from saltlab.inference.evaluate import evaluate_run

    sweep_best = evaluate_run(runs / "a").scores["sweep_threshold"]
    assert at.slider(key="explorer_threshold").value == pytest.approx(sweep_best)


def test_dataset_page_lists_every_anomaly_id_and_prints_depths_as_integers(app, demo_ds):
    app.session_state["dataset_section"] = "Anomalies"
    app.run()
    assert not app.exception
    labels = [b.label for b in app.get("download_button")]
    n_vertical = sum(1 for m in demo_ds.train_masks if m.any() and (m == m[0]).all())
    assert f"Download all {n_vertical} vertical mask ids (CSV)" in labels
    assert not any("salt in yellow" in c.value for c in app.caption if "empty mask" in c.value)
    app.session_state["dataset_section"] = "Image browser"
    app.run()
    values = dict(zip(app.dataframe[-1].value.index, app.dataframe[-1].value["value"]))
    assert values["depth"].isdigit()  # 841, not 841.0000


def test_train_page_notes_and_config_differences(demo_root, trained_run, monkeypatch, tmp_path):
    import json

    runs = runs_copied_from(trained_run, demo_root, monkeypatch, tmp_path, "a", "b")
    config = json.loads((runs / "b" / "config.json").read_text())
    config["stages"][0]["loss"] = "bce_dice"
    (runs / "b" / "config.json").write_text(json.dumps(config))
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page("pages/train.py").run()
    other = next(n for n in ("a", "b") if n != at.selectbox(key="train_selected").value)  # not the default
    at.selectbox(key="train_selected").set_value(other).run()
    assert not at.exception
    at.text_input(key="train_filter").set_value("ghost").run()  # hides every run: no Run box drawn
    assert any(c.value == "0 runs match 'ghost'" for c in at.caption)
    at.text_input(key="train_filter").set_value("").run()
    assert at.selectbox(key="train_selected").value == other  # the choice survives the filter
    at.selectbox(key="train_selected").set_value("a").run()
    at.text_input(key="train_label_a").set_value("BCE  baseline\n").run()
    at.text_area(key="train_notes_a").set_value("the BCE baseline").run()
    at.button(key="train_notes_save").click().run()
    assert (runs / "a" / "notes.txt").read_text() == "the BCE baseline"
    assert (runs / "a" / "name.txt").read_text() == "BCE baseline"  # one line, spaces collapsed
    # The registry, drawn above the editor, shows the new name in the same redraw.
    registry = next(df.value for df in at.dataframe if {"run", "name"} <= set(df.value.columns))
    assert registry.set_index("run").loc["a", "name"] == "BCE baseline"
    at.selectbox(key="train_diff_with").set_value("b").run()
    assert not at.exception
    assert any(c.value == "1 setting differs" for c in at.caption)
    assert any("on " in c.value and "held-out images" in c.value for c in at.caption if "best validation" in c.value)


def test_sections_stay_selected_and_a_gallery_opens_the_browser_with_its_filter(app, demo_ds):
    control = app.segmented_control(key="dataset_section")
    assert control.value == "Coverage"
    control.set_value(None).run()  # a click on the selected button
    assert not app.exception and app.segmented_control(key="dataset_section").value == "Coverage"
    app.segmented_control(key="dataset_section").set_value("Anomalies").run()
    n_vertical = sum(1 for m in demo_ds.train_masks if m.any() and (m == m[0]).all())
    app.button(key="anomaly_browse_vertical mask").click().run()
    assert not app.exception
    assert app.segmented_control(key="dataset_section").value == "Image browser"
    assert f"{n_vertical} images match" in app.number_input(key="browse_page").label


def test_explorer_and_predict_speak_plainly(demo_root, trained_run, monkeypatch, tmp_path):
    runs_copied_from(trained_run, demo_root, monkeypatch, tmp_path, "a")
    at = AppTest.from_file(APP, default_timeout=180).run()
    at.switch_page("pages/explorer.py").run()
    at.session_state["explorer_section"] = "Images"
    at.run()
    index = list(at.dataframe[-2].value.index) + list(at.dataframe[-1].value.index)
    assert "vertical mask" in index and "vertical_mask" not in index  # one vocabulary with the Data set page
    at.switch_page("pages/predict.py").run()
    assert not at.exception
    best = trained_run.read_status()["best_score"]
    labels = at.multiselect(key="predict_models").options
    assert any(f"(best val {best:.3f}, all-empty " in label for label in labels), labels


def test_an_image_id_opens_in_the_explorer_from_the_data_set_page(demo_root, trained_run, monkeypatch, tmp_path):
    runs_copied_from(trained_run, demo_root, monkeypatch, tmp_path, "a")
    split = trained_run.read_split()
    at = AppTest.from_file(APP, default_timeout=180).run()
    at.session_state["dataset_section"] = "Depth and intensity"
    at.run()
    assert any("Each column sums to 100% of its depth band" in c.value for c in at.caption)  # the shares heat map
    at.session_state["dataset_section"] = "Image browser"
    at.run()
    on_page = [label.split(": ")[1] for label in at.selectbox(key="browse_open").options]
    held_out = next(i for i in on_page if i in split["val_ids"])
    trained_on = next(i for i in on_page if i in split["train_ids"])
    at.selectbox(key="browse_open").set_value(trained_on).run()
    assert any(f"{trained_on} is a validation image of no trained run" in c.value for c in at.caption)
    at.selectbox(key="browse_open").set_value(held_out).run()
    at.button(key="browse_explorer").click().run()
    assert not at.exception
    assert at.selectbox(key="explorer_open").value == held_out  # the Explorer, Images section, that image open
    at.session_state["explorer_focus"] = trained_on  # opened from elsewhere, but not a validation image
    at.run()
    assert any(f"{trained_on} is not one of the" in w.value for w in at.warning)


def test_predictions_imported_from_the_explorer_and_explored_beside_the_run(
    demo_root, trained_run, monkeypatch, tmp_path
):
    import cv2
    import numpy as np

    from saltlab.inference.evaluate import evaluate_run

    runs = runs_copied_from(trained_run, demo_root, monkeypatch, tmp_path, "a")
    evaluation = evaluate_run(trained_run.path)
    pngs = tmp_path / "elsewhere"
    pngs.mkdir()
    for id_, p in zip(evaluation.ids, evaluation.probs):
        cv2.imwrite(str(pngs / f"{id_}.png"), np.rint(p * 255).astype(np.uint8))
    at = AppTest.from_file(APP, default_timeout=180).run()
    at.switch_page("pages/explorer.py").run()
    at.text_input(key="explorer_png").input(str(tmp_path / "nothing-here")).run()
    at.button(key="explorer_import").click().run()
    assert any("Cannot import:" in e.value and "nothing-here" in e.value for e in at.error)
    at.text_input(key="explorer_png").input(str(pngs)).run()
    at.text_input(key="explorer_import_name").input("elsewhere").run()
    at.selectbox(key="explorer_held_out").set_value("the validation images of a").run()
    at.button(key="explorer_import").click().run()
    assert not at.exception
    assert any(f"Imported {len(evaluation.ids)} probabilities as elsewhere" in s.value for s in at.success)
    assert (runs / "elsewhere" / "import.json").is_file()
    at.multiselect(key="explorer_runs").set_value(["a", "elsewhere"]).run()
    assert not at.exception
    scores = {m.label: m.value for m in at.metric if m.label in ("a", "elsewhere")}
    assert scores["a"] == scores["elsewhere"]  # the same probabilities, the same score
    # An smp model folder: the page asks how the model was fed, then imports it.
    import segmentation_models_pytorch as smp

    smp.Unet("resnet18", encoder_weights=None, in_channels=3, classes=1).save_pretrained(str(tmp_path / "nb"))
    at.text_input(key="explorer_png").input(str(tmp_path / "nb")).run()
    assert at.selectbox(key="explorer_channels").value == 3  # read from its config.json
    at.selectbox(key="explorer_normalise").set_value("imagenet")
    at.text_input(key="explorer_import_name").input("notebook").run()
    at.button(key="explorer_import").click().run()
    assert not at.exception
    assert any("Imported an smp model as notebook" in s.value for s in at.success)
    assert json.loads((runs / "notebook" / "import.json").read_text())["convention"]["normalise"] == "imagenet"


def test_an_imported_smp_model_predicts_beside_a_run_on_the_predict_page(demo_root, trained_run, monkeypatch, tmp_path):
    import segmentation_models_pytorch as smp

    from saltlab.models.imported_smp import InputConvention
    from saltlab.runs.imported import import_model

    runs = runs_copied_from(trained_run, demo_root, monkeypatch, tmp_path, "a")
    smp.Unet("resnet18", encoder_weights=None, in_channels=1, classes=1).save_pretrained(str(tmp_path / "nb"))
    import_model(tmp_path / "nb", demo_root, "notebook", InputConvention(), runs, held_out="all")
    at = AppTest.from_file(APP, default_timeout=180).run()
    at.switch_page("pages/predict.py").run()
    assert "notebook (imported smp model)" in at.multiselect(key="predict_models").options
    at.multiselect(key="predict_models").set_value(["a/best.pt", "notebook (imported smp model)"]).run()
    at.session_state["predict_source"] = "Test images of the data set"
    at.run()
    assert not at.exception
    [table] = at.dataframe
    assert len(table.value) == 24


def test_explorer_slices_say_where_a_run_fails_and_open_its_images(demo_root, trained_run, monkeypatch, tmp_path):
    runs_copied_from(trained_run, demo_root, monkeypatch, tmp_path, "a")
    at = AppTest.from_file(APP, default_timeout=180).run()
    at.switch_page("pages/explorer.py").run()
    at.session_state["explorer_section"] = "Slices"
    at.run()
    assert not at.exception
    assert any("Slices where it scores lowest" in c.value for c in at.caption)
    [table] = at.dataframe
    first, size = table.value["slice"].iloc[0], int(table.value["images"].iloc[0])
    button = next(b for b in at.button if b.key == "explorer_slice_0")
    assert button.label == f"Show the {size} images of: {first}"
    button.click().run()
    assert not at.exception
    assert any(f"Only the error slice **{first}** ({size} images)" in i.value for i in at.info)
    assert any(c.value.startswith(f"{size} images match") for c in at.caption)
    at.button(key="explorer_clear_slice").click().run()
    n_val = len(trained_run.read_split()["val_ids"])
    assert any(c.value.startswith(f"{n_val} images match") for c in at.caption)


def test_explorer_image_confidence_redraws_at_a_chosen_threshold(
    demo_root, demo_ds, trained_run, monkeypatch, tmp_path
):
    from saltlab.analysis.confidence import at_threshold, uncertain_share
    from saltlab.inference.evaluate import evaluate_run

    runs_copied_from(trained_run, demo_root, monkeypatch, tmp_path, "a")
    at = AppTest.from_file(APP, default_timeout=180).run()
    at.switch_page("pages/explorer.py").run()
    at.session_state["explorer_section"] = "Images"
    at.run()
    at.selectbox(key="explorer_order").set_value("most uncertain first").run()
    at.slider(key="explorer_pixel_t").set_value(0.9).run()
    assert not at.exception
    evaluation = evaluate_run(trained_run.path)
    shares = uncertain_share(evaluation.probs)
    k = int(np.argmax(shares))  # the first image of "most uncertain first" is the one opened
    opened = evaluation.ids[k]
    picker = at.selectbox(key="explorer_open")
    assert picker.options[0] == f"#1 · {opened}"  # the most uncertain image comes first
    picker.set_value(opened).run()
    assert not at.exception
    at_k = demo_ds.train_index([opened])[0]
    _, score = at_threshold(demo_ds.train_images[at_k], evaluation.probs[k], demo_ds.train_masks[at_k], 0.9)
    assert any(c.value.startswith(f"Outcome at 0.90: score {score:.2f}.") for c in at.caption)
    assert any(f"the {100 * shares[k]:.1f}% of pixels the model is unsure of" in c.value for c in at.caption)
