"""More like this: nearest neighbours, the 2-D map, and real embeddings of a trained run, cached."""

from __future__ import annotations

import numpy as np

from saltlab.analysis.explore import explore
from saltlab.analysis.similar import map_2d, nearest, unit_rows


def test_nearest_finds_the_most_alike_rows_and_never_the_row_itself():
    rng = np.random.default_rng(0)
    base = rng.standard_normal((50, 16)).astype(np.float32)
    vectors = np.concatenate([base, base[:5] * 3 + 0.01 * rng.standard_normal((5, 16))])  # near copies, rescaled
    unit = unit_rows(vectors)
    for i in range(5):
        found, similarity = nearest(unit, i, k=3)
        assert i not in found
        assert found[0] == 50 + i and similarity[0] > 0.99
        assert list(similarity) == sorted(similarity, reverse=True)
    assert len(nearest(unit[:1], 0, 8)[0]) == 0


def test_map_2d_separates_two_groups_on_its_first_axis():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((30, 8)) * 0.1 + np.eye(8)[0] * 5
    b = rng.standard_normal((30, 8)) * 0.1 + np.eye(8)[1] * 5
    coords, share = map_2d(np.concatenate([a, b]))
    assert coords.shape == (60, 2) and share[0] > 0.8
    assert (np.sign(coords[:30, 0]) != np.sign(coords[30:, 0])).all()


def test_embeddings_of_a_real_run_are_cached_beside_its_evaluation(trained_run):
    ex = explore([trained_run.path])
    name = ex.names[0]
    unit = ex.embeddings(name)
    assert unit.shape == (len(ex.ids), 512)  # ResNet18's deepest features, pooled
    assert np.allclose(np.linalg.norm(unit, axis=1), 1, atol=1e-5)
    cached = ex.evaluations[name].folder / "embeddings.npz"
    assert cached.is_file()
    stamp = cached.stat().st_mtime_ns
    again = explore([trained_run.path]).embeddings(name)
    assert np.allclose(again, unit, atol=1e-6) and cached.stat().st_mtime_ns == stamp
    found, similarity = nearest(unit, 0, 5)
    assert len(found) == 5 and 0 not in found and similarity[0] <= 1 + 1e-6


def test_the_similar_command_lists_the_nearest_images_and_refuses_an_unknown_one(trained_run, capsys):
    from saltlab.cli import main

    val = sorted(trained_run.read_split()["val_ids"])
    assert main(["similar", str(trained_run.path), "--id", val[0], "--k", "3"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if "similarity" in line]
    assert len(lines) == 3 and all(line.split()[0] in val and line.split()[0] != val[0] for line in lines)
    assert main(["similar", str(trained_run.path), "--id", "ghost"]) == 2
    assert "ghost: not a validation image" in capsys.readouterr().err
