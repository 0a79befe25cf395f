"""An smp model trained elsewhere, imported: a plain smp.Unet loop (no SaltLab code) trains one epoch on the
demo images and `save_pretrained`s it; SaltLab imports the folder with its input convention, and scores and
predicts exactly what the model computes when run by hand; folders that do not fit are refused in one line
and nothing is written."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import segmentation_models_pytorch as smp
import torch
from torch.nn import functional as F

from saltlab.core import rle
from saltlab.inference.embed import EmbeddingUnavailable, evaluation_embeddings
from saltlab.inference.evaluate import evaluate_run
from saltlab.inference.predict import predict_images
from saltlab.models.imported_smp import InputConvention, ModelImportError
from saltlab.runs.imported import ImportRefused, import_model, import_predictions


def plain_metric(pred: np.ndarray, true: np.ndarray) -> float:
    """The competition metric, written out here: mean over images of the share of IoU thresholds passed."""
    out = []
    for p, t in zip(pred, true):
        if not p.any() and not t.any():
            out.append(1.0)
            continue
        iou = (p & t).sum() / (p | t).sum()
        out.append(np.mean([iou > th for th in np.arange(0.5, 1.0, 0.05)]))
    return float(np.mean(out))


def by_hand(net: torch.nn.Module, images: np.ndarray) -> np.ndarray:
    """The notebook's own inference: [0, 1], reflect-pad 101 -> 128 (13 / 14), sigmoid, crop back."""
    x = torch.from_numpy(images).float().div(255).unsqueeze(1)
    with torch.inference_mode():
        logits = net.eval()(F.pad(x, (13, 14, 13, 14), mode="reflect"))
    return torch.sigmoid(logits[:, 0, 13:114, 13:114]).numpy()


@pytest.fixture(scope="module")
def notebook_model(demo_ds, tmp_path_factory):
    """One epoch of a bare smp.Unet loop on 64 demo images, saved as smp saves it."""
    torch.manual_seed(0)
    net = smp.Unet("resnet18", encoder_weights=None, in_channels=1, classes=1, decoder_channels=(64, 32, 16, 8, 8))
    x = F.pad(
        torch.from_numpy(demo_ds.train_images[:64]).float().div(255).unsqueeze(1), (13, 14, 13, 14), mode="reflect"
    )
    y = F.pad(torch.from_numpy(demo_ds.train_masks[:64]).float().unsqueeze(1), (13, 14, 13, 14), mode="reflect")
    optimiser = torch.optim.Adam(net.parameters(), 1e-3)
    net.train()
    for k in range(0, 64, 16):
        optimiser.zero_grad()
        F.binary_cross_entropy_with_logits(net(x[k : k + 16]), y[k : k + 16]).backward()
        optimiser.step()
    folder = tmp_path_factory.mktemp("notebook") / "unet"
    net.save_pretrained(str(folder))
    return folder, net


def test_an_smp_model_scores_and_predicts_as_run_by_hand(demo_root, demo_ds, notebook_model, tmp_path):
    folder, net = notebook_model
    held = demo_ds.train_ids[100:160]  # never trained on
    entry, record = import_model(folder, demo_root, "notebook", InputConvention(1, 128, "reflect"), tmp_path, held)
    assert record.kind == "smp-model" and record.n_ids == 60 and record.score is None
    evaluation = evaluate_run(entry)
    assert evaluation.ids == held
    probs = by_hand(net, demo_ds.train_images[100:160])
    truth = demo_ds.train_masks[100:160]
    # SaltLab keeps probabilities as uint8 (p * 255): the same masks as the model's own, pixel for pixel.
    stored = np.rint(probs * 255).astype(np.uint8).astype(np.float32) / 255
    assert evaluation.scores["score"] == pytest.approx(plain_metric(stored > 0.5, truth), abs=1e-12)
    assert evaluation.scores["score"] == pytest.approx(plain_metric(probs > 0.5, truth), abs=0.02)
    np.testing.assert_allclose(evaluation.probs, probs, atol=0.5 / 255 + 1e-6)
    assert json.loads((entry / "import.json").read_text())["score"] == evaluation.scores["score"]
    # "More like this" by its own encoder, fed as the notebook feeds it.
    vectors = evaluation_embeddings(evaluation, held, demo_ds.train_images[100:160])
    x = F.pad(
        torch.from_numpy(demo_ds.train_images[100:160]).float().div(255).unsqueeze(1), (13, 14, 13, 14), "reflect"
    )
    with torch.inference_mode():
        expected = net.encoder(x)[-1].mean(dim=(2, 3)).numpy()
    np.testing.assert_allclose(vectors, expected, atol=1e-5)
    # Its predictions made by hand and imported as 8-bit PNGs and as a CSV: the three entries agree.
    pngs = tmp_path / "pngs"
    pngs.mkdir()
    for id_, p in zip(held, probs):
        cv2.imwrite(str(pngs / f"{id_}.png"), np.rint(p * 255).astype(np.uint8))
    lines = [f"{i},{rle.encode(m)}" for i, m in zip(held, stored > 0.5)]
    (tmp_path / "p.csv").write_text("id,rle_mask\n" + "\n".join(lines) + "\n")
    for source in (pngs, tmp_path / "p.csv"):
        imported, _ = import_predictions(source, demo_root, f"as-{source.suffix or 'png'}", tmp_path, held)
        imported_evaluation = evaluate_run(imported)
        assert imported_evaluation.scores["score"] == evaluation.scores["score"]
    with pytest.raises(EmbeddingUnavailable, match="holds imported predictions, not a model"):
        evaluation_embeddings(imported_evaluation, held, demo_ds.train_images[100:160])
    predicted, _ = predict_images([entry], demo_ds.test_images[:8])
    np.testing.assert_allclose(predicted, by_hand(net, demo_ds.test_images[:8]), atol=1e-5)
    flipped, _ = predict_images([entry], demo_ds.test_images[:8], tta=True)  # TTA works for an imported model
    assert not np.allclose(flipped, predicted)


def test_models_that_do_not_fit_are_refused_in_one_line(demo_root, demo_ds, notebook_model, tmp_path):
    folder, _ = notebook_model
    root = tmp_path / "runs"
    with pytest.raises(ModelImportError, match="does not run on 3-channel 128px input"):
        import_model(folder, demo_root, "x", InputConvention(3, 128), root)
    with pytest.raises(ModelImportError, match="not an smp model folder"):
        import_model(tmp_path, demo_root, "x", InputConvention(), root)
    two = tmp_path / "two-classes"
    smp.Unet("resnet18", encoder_weights=None, in_channels=1, classes=2).save_pretrained(str(two))
    with pytest.raises(ModelImportError, match=r"output has shape \(1, 2, 101, 101\)"):
        import_model(two, demo_root, "x", InputConvention(), root)
    torn = tmp_path / "torn"
    torn.mkdir()
    (torn / "config.json").write_text((folder / "config.json").read_text())
    (torn / "model.safetensors").write_bytes((folder / "model.safetensors").read_bytes()[:1000])
    with pytest.raises(ModelImportError, match="cannot be loaded by smp"):
        import_model(torn, demo_root, "x", InputConvention(), root)
    with pytest.raises(ModelImportError, match="size must be 101 or a multiple of 32"):
        import_model(folder, demo_root, "x", InputConvention(1, 100), root)
    assert not root.exists() or list(root.iterdir()) == []
    ids = demo_ds.train_ids[:2]
    (tmp_path / "p.csv").write_text("id,rle_mask\n" + "".join(f"{i},1 5\n" for i in ids))
    predictions, _ = import_predictions(tmp_path / "p.csv", demo_root, "masks", root)
    with pytest.raises(ImportRefused, match="holds imported predictions, not a model"):
        predict_images([predictions], demo_ds.test_images[:2])
