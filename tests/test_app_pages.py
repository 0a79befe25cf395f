"""The Streamlit app through streamlit.testing (no browser): pages run without exceptions."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[1] / "app.py")


@pytest.fixture
def app(demo_root, monkeypatch):
    monkeypatch.setenv("SALTLAB_DATA", str(demo_root))
    at = AppTest.from_file(APP, default_timeout=120)
    return at.run()


def test_overview_shows_demo_numbers(app, demo_ds):
    assert not app.exception
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Train images"] == str(demo_ds.n_train)
    assert metrics["Test images"] == str(demo_ds.n_test)
    assert "Health report: clean" in [e.label for e in app.expander][0]


def test_switching_to_a_bad_path_shows_an_error_and_back(app, demo_root, tmp_path):
    app.sidebar.text_input(key="data_path_input").set_value(str(tmp_path / "missing")).run()
    assert not app.exception
    assert any("data set folder not found" in e.value for e in app.error)
    # (AppTest drops the sidebar from its tree after this rerun; the browser test checks it stays.)
    app.session_state["data_path"] = str(demo_root)
    app.run()
    assert not app.error
    assert {m.label: m.value for m in app.metric}["Train images"] == "200"


@pytest.mark.real_data
def test_overview_on_real_data(real_root, monkeypatch):
    monkeypatch.setenv("SALTLAB_DATA", str(real_root))
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Train images"] == "3499" and metrics["Empty masks"] == "1363" and metrics["Vertical masks"] == "102"
