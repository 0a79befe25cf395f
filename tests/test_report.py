"""The report to share: one HTML file with the scores beside the all-empty line, buckets, coverage classes,
error slices and the worst images embedded as JPEG data, nothing fetched from anywhere; written by the
command (in this process) for one run and for two."""

from __future__ import annotations

import base64
import re
import shutil

import cv2
import numpy as np

from saltlab.analysis.explore import explore
from saltlab.analysis.report import html_report
from saltlab.cli import main


def test_the_report_holds_everything_and_fetches_nothing(trained_run):
    ex = explore([trained_run.path])
    page = html_report(ex)
    view = ex.view()
    empty = view.summaries[0].empty_score
    assert f"scores <b>{empty:.4f}</b> on them" in page and f"<td>{view.summaries[0].score:.4f}</td>" in page
    assert "Images per IoU bucket" in page and "Score by coverage class" in page and "Error slices" in page
    assert "tiny: the 16 worst images" in page
    assert not re.search(r"(src|href)=\"(https?:)?//", page) and "<script" not in page  # nothing from outside
    images = re.findall(r'src="data:image/jpeg;base64,([^"]+)"', page)
    assert images
    decoded = cv2.imdecode(np.frombuffer(base64.b64decode(images[0]), np.uint8), cv2.IMREAD_COLOR)
    assert decoded is not None and decoded.shape[2] == 3  # a real image, not a placeholder


def test_the_command_writes_a_report_of_two_runs(trained_run, tmp_path, capsys):
    other = tmp_path / "copy"
    shutil.copytree(trained_run.path, other, ignore=shutil.ignore_patterns("eval"))
    out = tmp_path / "report.html"
    assert main(["report", str(trained_run.path), str(other), "--out", str(out)]) == 0
    page = out.read_text()
    assert "Where tiny and copy disagree" in page and "wrote" in capsys.readouterr().out
