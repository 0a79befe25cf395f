"""Where things live: the active data set, the generated demo set, the decoded-array cache, the runs
folder and the app's saved settings (the data set chosen in the sidebar, so that it survives a
reload and a new tab).

The data set comes from an explicit path, else the SALTLAB_DATA environment variable, else
`data/tgs` if present, else the demo set under `data/demo` (generated on first use).
Relative defaults are taken from the current directory: the project root for `make run`.
"""

from __future__ import annotations

import os
from pathlib import Path

from saltlab.core.fileio import read_json

DEFAULT_REAL_DATA = Path("data/tgs")
DEFAULT_DEMO_DATA = Path("data/demo")


def cache_root() -> Path:
    """Folder of the decoded-array cache: SALTLAB_CACHE, else $XDG_CACHE_HOME/saltlab or ~/.cache/saltlab."""
    explicit = os.environ.get("SALTLAB_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "saltlab"


def checkpoints_root() -> Path:
    """Where runs live: SALTLAB_CHECKPOINTS, else checkpoints/ in the current folder."""
    return Path(os.environ.get("SALTLAB_CHECKPOINTS") or "checkpoints")


def settings_path() -> Path:
    """The app's settings file: SALTLAB_SETTINGS, else .settings.json in the runs folder (one per workspace)."""
    return Path(os.environ.get("SALTLAB_SETTINGS") or checkpoints_root() / ".settings.json")


def load_settings() -> dict:
    """The saved settings; {} when there are none or the file cannot be read."""
    try:
        values = read_json(settings_path())
    except (OSError, ValueError):
        return {}
    return values if isinstance(values, dict) else {}


def save_settings(**values) -> None:
    """Merge values into the settings file (written atomically; a failure to write only loses the setting)."""
    from saltlab.core.fileio import write_json_atomic

    try:
        write_json_atomic(settings_path(), {**load_settings(), **values})
    except OSError:
        pass


def demo_data_path() -> Path:
    """The generated demo set (SALTLAB_DEMO_DATA overrides the default `data/demo`)."""
    return Path(os.environ.get("SALTLAB_DEMO_DATA") or DEFAULT_DEMO_DATA)


def resolve_data_path(explicit: str | os.PathLike | None = None, *, make_demo: bool = True) -> Path:
    """The data set folder to use, by the precedence in this module's docstring.

    When it falls through to the demo set and that does not exist yet, it is generated
    (unless make_demo is False).
    """
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get("SALTLAB_DATA")
    if env:
        return Path(env).expanduser()
    if DEFAULT_REAL_DATA.exists():
        return DEFAULT_REAL_DATA
    demo = demo_data_path()
    if make_demo and not (demo / "train.csv").exists():
        from saltlab.core.demo import generate_demo_dataset

        generate_demo_dataset(demo)
    return demo
