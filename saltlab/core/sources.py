"""Finding the files of a data set in the Kaggle layout, as folders or as the downloaded zips.

A data set folder may hold `train/images`, `train/masks`, `test/images` (or `train.zip` and
`test.zip` in their place) and the CSVs `train.csv`, `depths.csv`, `sample_submission.csv`.
Any subset is valid as long as there are images somewhere. Nothing is read here but names and
file sizes; `DataLayout.read` gives a member's bytes.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from saltlab.core.errors import SaltLabError

PARTS = ("train/images", "train/masks", "test/images")
CSV_NAMES = ("train.csv", "depths.csv", "sample_submission.csv")
# Bumped whenever the decoding or the checks change, so old caches are not reused.
LOADER_VERSION = "3"  # 2: duplicate ids, duplicate CSV rows, unreadable zips reported; 3: bounded reads (issue 26)


# A 101x101 PNG is a few KB (16-bit RGBA at no compression: about 83 KB); a file or zip member
# over this is refused from its size, before it is read.
MAX_PNG_BYTES = 2**20
# zipfile reads these compression methods (stored, deflate, bzip2, lzma); others raise NotImplementedError.
ZIP_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA)


class MemberRefused(SaltLabError, ValueError):
    """A file or zip member refused before its bytes are read (too large, encrypted, unreadable method)."""


def printable(name: str) -> str:
    """A file name as it can be shown and hashed: bytes that are not UTF-8, and control characters, as
    backslash-x escapes."""
    text = name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)


def _too_large(size: int) -> MemberRefused:
    return MemberRefused(f"{size:,} bytes: too large for a 101x101 PNG (at most {MAX_PNG_BYTES:,} bytes accepted)")


class DataSetError(SaltLabError):
    """The path is not a usable data set (missing, not a folder, nothing in the Kaggle layout)."""


@dataclass(frozen=True)
class Member:
    """One file of a part: its id, the name shown in reports, and where to read it."""

    id: str
    part: str
    label: str
    path: str | None = None  # a plain file
    zip_name: str | None = None  # or a member of the part's zip


@dataclass
class DataLayout:
    """What a data set folder holds: the members of each part, stray files, and the CSVs."""

    root: Path
    parts: dict[str, list[Member]] = field(default_factory=dict)
    stray: list[tuple[str, str, str]] = field(default_factory=list)  # (part, id, label): not PNG
    # (part, id, label, reason): files left out before any reading, e.g. two files with one id, an unreadable zip
    rejected: list[tuple[str, str, str, str]] = field(default_factory=list)
    csvs: dict[str, Path] = field(default_factory=dict)
    zips: dict[str, Path] = field(default_factory=dict)  # part -> zip path
    _stamp: list[str] = field(default_factory=list)
    _open: dict[Path, zipfile.ZipFile] = field(default_factory=dict)

    def has(self, part: str) -> bool:
        return part in self.parts

    def read(self, member: Member) -> bytes:
        """A member's bytes, at most MAX_PNG_BYTES of them: MemberRefused before reading when it is larger
        (or an encrypted zip member, or one compressed by a method zipfile cannot read)."""
        if member.path is not None:
            with open(member.path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                if size > MAX_PNG_BYTES:
                    raise _too_large(size)
                data = f.read(MAX_PNG_BYTES + 1)
        else:
            zip_path = self.zips[member.part]
            zf = self._open.get(zip_path)
            if zf is None:
                zf = self._open[zip_path] = zipfile.ZipFile(zip_path)
            info = zf.getinfo(member.zip_name)
            if info.flag_bits & 0x1:
                raise MemberRefused("encrypted zip member (SaltLab reads no passwords)")
            if info.compress_type not in ZIP_METHODS:
                raise MemberRefused(f"zip member compressed with method {info.compress_type}, which cannot be read")
            if info.file_size > MAX_PNG_BYTES:
                raise _too_large(info.file_size)
            with zf.open(info) as f:
                data = f.read(MAX_PNG_BYTES + 1)  # the header's size may lie
        if len(data) > MAX_PNG_BYTES:
            raise _too_large(len(data))
        return data

    def close(self) -> None:
        for zf in self._open.values():
            zf.close()
        self._open.clear()

    def fingerprint(self) -> str:
        """A hash of every file's name, size and modification time, the root and the loader version."""
        h = hashlib.sha256()
        h.update(f"v{LOADER_VERSION}\0{self.root.resolve()}\0".encode("utf-8", "surrogateescape"))
        h.update("\0".join(self._stamp).encode("utf-8", "surrogateescape"))
        return h.hexdigest()[:20]


def _stamp(name: str, stat: os.stat_result) -> str:
    return f"{name}\t{stat.st_size}\t{stat.st_mtime_ns}"


def _scan_folder(layout: DataLayout, part: str, folder: Path) -> None:
    # Lean on purpose: a cached load of the real set is dominated by this listing (9000 files).
    members: list[Member] = []
    stamps = layout._stamp
    with os.scandir(folder) as it:
        entries = sorted((e for e in it if not e.name.startswith(".")), key=lambda e: e.name)
    for entry in entries:
        if not entry.is_file():
            if not entry.is_dir():  # a FIFO, a socket, a device, a dangling link: never opened (a FIFO would hang)
                layout.rejected.append((part, "", f"{part}/{printable(entry.name)}", "not a regular file; left out"))
            continue
        name = entry.name
        st = entry.stat()
        stamps.append(f"{part}/{name}\t{st.st_size}\t{st.st_mtime_ns}")
        stem, suffix = os.path.splitext(name)
        if printable(name) != name:  # bytes that are not UTF-8, control characters
            reason = "file name is not printable UTF-8; left out"
            layout.rejected.append((part, "", f"{part}/{printable(name)}", reason))
            continue
        if suffix.lower() != ".png":
            layout.stray.append((part, stem, f"{part}/{name}"))
            continue
        members.append(Member(stem, part, f"{part}/{name}", path=entry.path))
    layout.parts[part] = _unique(layout, members)


def _unique(layout: DataLayout, members: list[Member]) -> list[Member]:
    """Members whose id no other member shares; two files with one id (X.png beside X.PNG) are both left
    out and reported, since either could be the right one."""
    count: dict[str, list[Member]] = {}
    for m in members:
        count.setdefault(m.id, []).append(m)
    for same in count.values():
        if len(same) > 1:
            labels = " and ".join(m.label for m in same)
            for m in same:
                layout.rejected.append(
                    (m.part, m.id, m.label, f"duplicate id: {labels} name the same image; both left out")
                )
    return [m for m in members if len(count[m.id]) == 1]


def _scan_zip(layout: DataLayout, split: str, zip_path: Path) -> None:
    """Kaggle's train.zip holds images/ and masks/ (sometimes under train/); test.zip holds images/."""
    layout._stamp.append(_stamp(zip_path.name, zip_path.stat()))
    try:
        with zipfile.ZipFile(zip_path) as zf:
            names = [i.filename for i in zf.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, OSError) as exc:
        # Only this zip's images are lost: a corrupt test.zip leaves the train images usable.
        layout.rejected.append(
            (f"{split}/images", "", zip_path.name, f"not a readable zip file ({exc}); its images are left out")
        )
        return
    found: dict[str, list[Member]] = {}
    for name in sorted(names):
        p = PurePosixPath(name)
        if len(p.parts) < 2 or p.parts[0] == "__MACOSX" or p.name.startswith("."):
            continue
        kind = p.parts[-2]
        if kind not in ("images", "masks") or (split == "test" and kind == "masks"):
            continue
        part = f"{split}/{kind}"
        label = f"{zip_path.name}:{name}"
        if p.suffix.lower() != ".png":
            layout.stray.append((part, p.stem, label))
            continue
        found.setdefault(part, []).append(Member(p.stem, part, label, zip_name=name))
    for part, members in found.items():
        layout.parts[part] = _unique(layout, members)
        layout.zips[part] = zip_path


def scan(root: str | os.PathLike) -> DataLayout:
    """List a data set folder. Raises DataSetError with a clear message when it is not one."""
    root = Path(root).expanduser()
    if not root.exists():
        raise DataSetError(f"data set folder not found: {root}")
    if not root.is_dir():
        raise DataSetError(f"not a folder: {root}")
    layout = DataLayout(root=root)
    for part in PARTS:
        folder = root / part
        if folder.is_dir():
            _scan_folder(layout, part, folder)
    for split in ("train", "test"):
        zip_path = root / f"{split}.zip"
        if zip_path.is_file() and not any(p.startswith(split) for p in layout.parts):
            _scan_zip(layout, split, zip_path)
    for name in CSV_NAMES:
        path = root / name
        if path.is_file():
            layout.csvs[name] = path
            layout._stamp.append(_stamp(name, path.stat()))
    if "train/images" not in layout.parts and "test/images" not in layout.parts:
        if layout.rejected:
            raise DataSetError(
                f"no usable images at {root}: " + "; ".join(f"{r[2]}: {r[3]}" for r in layout.rejected[:3])
            )
        raise DataSetError(
            f"no data set in the Kaggle layout at {root}: expected train/images and train/masks "
            "(or train.zip), test/images (or test.zip), beside train.csv, depths.csv and "
            "sample_submission.csv"
        )
    return layout
