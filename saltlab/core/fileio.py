"""Writing files so that a crash, a kill or a full disk never leaves a torn one: the one helper for it.

Every output goes to a uniquely named temporary file in the target's folder (two writers never
collide), is flushed and fsynced, then renamed over the target: a reader sees the old file or the
new one, never half of one. Files get the usual permissions (0666 less the umask; mkstemp's own
are 0600). A failed write raises WriteError, one line naming the file, the reason and the free space.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from saltlab.core.errors import SaltLabError


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


UMASK = _umask()


class WriteError(SaltLabError, OSError):
    """A file that could not be written (disk full, no permission...), with the reason and the free space."""


def _free_mb(folder: Path) -> str:
    try:
        return f"{shutil.disk_usage(folder).free / 1e6:.0f} MB free there"
    except OSError:
        return "free space unknown"


def first_line(exc: BaseException, limit: int = 200) -> str:
    """An exception's message cut to its first line (some have none at all)."""
    lines = str(exc).strip().splitlines()
    return lines[0][:limit] if lines else "no message"


def write_error(path: Path, exc: BaseException) -> WriteError:
    """The one-line error for a failed write of `path`."""
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else first_line(exc)
    if "unexpected pos" in reason or "file write failed" in reason:  # torch.save's wording for a full disk
        reason = f"the write stopped short, the disk is probably full ({reason})"
    return WriteError(f"cannot write {path}: {reason} ({_free_mb(path.parent)})")


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], None], fsync: bool = True) -> Path:
    """Call write(f) on a temporary file beside `path`, then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~UMASK)
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            if fsync:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, (OSError, RuntimeError)) and not isinstance(exc, WriteError):
            raise write_error(path, exc) from exc
        raise
    return path


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    return atomic_write(path, lambda f: f.write(text.encode()))


def write_json_atomic(path: str | os.PathLike, data) -> Path:
    return write_text_atomic(path, json.dumps(data, indent=2))


def usual_dir_permissions(folder: str | os.PathLike) -> None:
    """mkdtemp makes 0700 folders; give a folder that is renamed into place the usual 0777 less the umask."""
    os.chmod(folder, 0o777 & ~UMASK)


# The JSON files SaltLab writes are small (a run's split of 3,500 ids is about 60 KB); anything far
# larger was not written by it, and is refused before it is read whole.
JSON_LIMIT_BYTES = 64 * 2**20


class UnreadableJSON(SaltLabError, ValueError):
    """A JSON file that cannot be read back: too large, not UTF-8, invalid, or nested too deeply."""


def parse_json(text: str | bytes, what: str = "JSON") -> object:
    """json.loads with every failure a ValueError: deep nesting (100,000 brackets) would raise RecursionError."""
    try:
        return json.loads(text)
    except RecursionError:
        raise UnreadableJSON(f"{what} is nested too deeply to be a SaltLab file") from None


def read_bounded(path: str | os.PathLike, limit: int, tail: bool = False) -> bytes:
    """At most `limit` bytes of a file: its first ones, or with tail=True its last whole lines (a metrics
    log grows, and its end is what matters). OSError when it cannot be read."""
    with open(path, "rb") as f:
        if tail and os.fstat(f.fileno()).st_size > limit:
            f.seek(-limit, os.SEEK_END)
            f.readline()  # the first line is cut: dropped
        return f.read(limit)


def read_json(path: str | os.PathLike, limit: int = JSON_LIMIT_BYTES) -> object:
    """A JSON file read back, bounded: OSError when it cannot be opened, UnreadableJSON (a ValueError) when
    it is over `limit` bytes, not UTF-8, not JSON, or nested too deeply."""
    path = Path(path)
    data = read_bounded(path, limit + 1)
    if len(data) > limit:
        raise UnreadableJSON(f"{path.name} is over {limit // 2**20} MiB: not a file SaltLab wrote")
    try:
        return parse_json(data, path.name)
    except UnicodeDecodeError:
        raise UnreadableJSON(f"{path.name} is not UTF-8 text") from None
