"""The shareable HTML report of two real runs (issue 29: under 10 s for two runs, after evaluation): ours
(`html_report`: slices, worst images, PNG overlays embedded) against the per-image table written as plain
HTML by pandas (what a user would share otherwise: numbers, no images). Needs two runs evaluated on the
real data. Run: .venv/bin/python bench/bench_report.py RUN_A RUN_B
"""

import sys

from _common import paired, report, spread

from saltlab.analysis.explore import explore
from saltlab.analysis.report import html_report


def main(runs: list[str]) -> bool:
    ex = explore(runs)
    page = html_report(ex)
    print(f"{len(ex.ids)} images, {', '.join(ex.names)}: {len(page) / 1e6:.2f} MB of HTML")
    ours_t, base_t = paired(lambda: html_report(ex), lambda: ex.view().table.to_html(), repeat=3)
    report("the HTML report of two runs vs pandas to_html of the per-image table", ours_t, base_t, 0)
    print(f"ours: {spread(ours_t, 1, ' s')}; target under 10 s")
    return max(ours_t) < 10


if __name__ == "__main__":
    if len(sys.argv) < 3:
        print("skipped: give two runs evaluated on the real data (see the docstring)")
        raise SystemExit(0)
    raise SystemExit(0 if main(sys.argv[1:]) else 1)
