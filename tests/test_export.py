"""A model leaves SaltLab: the session's run exported as ONNX and run by ONNX Runtime in a separate Python
that never imports SaltLab gives SaltLab's own probabilities (within 1e-5); an imported smp model goes back
to smp's form and smp loads it; what cannot be exported is refused in one line."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import segmentation_models_pytorch as smp

from saltlab.inference.export import ExportError, export_onnx, export_smp
from saltlab.inference.predict import predict_images
from saltlab.models.imported_smp import InputConvention
from saltlab.runs.imported import import_model

OUTSIDE = """
import sys, numpy as np, onnxruntime as ort
assert not any(m.startswith("saltlab") for m in sys.modules)
session = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
images = np.load(sys.argv[2])
[salt] = session.run(["salt"], {"image": (images.astype(np.float32) / 255)[:, None]})
np.save(sys.argv[3], salt[:, 0])
print(session.get_modelmeta().custom_metadata_map["saltlab.input"])
"""


def test_onnx_export_runs_outside_saltlab_with_the_same_probabilities(trained_run, demo_ds, tmp_path):
    out = export_onnx(trained_run.path, tmp_path / "model.onnx")
    images = demo_ds.test_images[:5]  # a batch size other than the export's example (2)
    np.save(tmp_path / "images.npy", images)
    outside = subprocess.run(
        [sys.executable, "-c", OUTSIDE, str(out), str(tmp_path / "images.npy"), str(tmp_path / "salt.npy")],
        cwd=tmp_path,  # not the project: SaltLab cannot be imported there
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert outside.returncode == 0, outside.stderr
    assert "uint8 pixels / 255" in outside.stdout
    ours, _ = predict_images([trained_run.path], images)
    np.testing.assert_allclose(np.load(tmp_path / "salt.npy"), ours, atol=1e-5)


def test_smp_export_is_for_imported_smp_models_only(demo_root, trained_run, tmp_path):
    with pytest.raises(ExportError, match="not an smp class that save_pretrained can describe"):
        export_smp(trained_run.path, tmp_path / "out")
    smp.Unet("resnet18", encoder_weights=None, in_channels=1, classes=1).save_pretrained(str(tmp_path / "nb"))
    entry, _ = import_model(tmp_path / "nb", demo_root, "nb", InputConvention(1, 128, "reflect"), tmp_path / "runs")
    back = export_smp(entry, tmp_path / "back")
    assert smp.from_pretrained(str(back)).__class__.__name__ == "Unet"
    assert json.loads((back / "saltlab_input.json").read_text())["pad"] == "reflect"
    with pytest.raises(ExportError, match="exists already"):
        export_smp(entry, tmp_path / "back")


def test_cli_export_refuses_in_one_line(trained_run, tmp_path):
    from tests.helpers import PROJECT, env_for

    refused = subprocess.run(
        [sys.executable, "-m", "saltlab", "export", str(trained_run.path), "--format", "smp", "--out", str(tmp_path)],
        cwd=PROJECT,
        env=env_for(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode == 2 and len(refused.stderr.strip().splitlines()) == 1
    assert "export it as onnx instead" in refused.stderr
