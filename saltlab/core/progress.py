"""One progress protocol for long work (loading, predicting, evaluating): `progress(what, done, total)`.

`what` names the part in progress ("train/images", "run 1/2", "predict"); done and total count items.
The CLI prints it, the pages draw a progress bar, background jobs write it to their status.
"""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[str, int, int], None]
