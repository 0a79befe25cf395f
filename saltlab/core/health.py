"""The health report of a data set: every bad or doubtful item, with its file and a reason.

Errors are items left out of the loaded data set (an unreadable PNG, a wrong size, a mask
without an image...); warnings are items kept with a caveat (an id missing from depths.csv).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True)
class Issue:
    """One problem found while loading: which item, which file, why, and whether it was left out."""

    split: str  # "train", "test", or "" for the data set as a whole
    id: str
    file: str
    reason: str
    severity: str = ERROR

    @property
    def left_out(self) -> bool:
        return self.severity == ERROR


@dataclass
class HealthReport:
    """All issues of one data set load, in the order they were found."""

    issues: list[Issue] = field(default_factory=list)

    def add(self, split: str, id: str, file: str, reason: str, severity: str = ERROR) -> None:
        self.issues.append(Issue(split, id, file, reason, severity))

    @property
    def clean(self) -> bool:
        return not self.issues

    @property
    def errors(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == ERROR]

    @property
    def warnings(self) -> list[Issue]:
        return [i for i in self.issues if i.severity == WARNING]

    def to_records(self) -> list[dict]:
        return [asdict(i) for i in self.issues]

    @classmethod
    def from_records(cls, records: list[dict]) -> HealthReport:
        return cls([Issue(**r) for r in records])

    def describe(self) -> str:
        """A short human summary, e.g. 'clean' or '3 errors (left out), 1 warning'."""
        if self.clean:
            return "clean"
        e, w = len(self.errors), len(self.warnings)
        parts = []
        if e:
            parts.append(f"{e} error{'s' * (e != 1)} (left out)")
        if w:
            parts.append(f"{w} warning{'s' * (w != 1)}")
        return ", ".join(parts)
