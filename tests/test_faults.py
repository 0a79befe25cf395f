"""Every case of the fault scoreboard (tests/faults.py) as its own test: made for real, checked."""

import pytest

from tests.faults import CASES, run_case


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_fault(case):
    got, ok = run_case(case)
    assert ok, f"expected: {case.expected}\ngot: {got}"
