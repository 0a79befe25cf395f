"""One base class for the errors a user can act on.

Every such error's message names the item and the reason in one line. The CLI prints it as
`error: MESSAGE` and exits with its `exit_code` (2: the input cannot be used); the pages show it as
one line. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class SaltLabError(Exception):
    """A one-line, user-facing error (a data set, config, checkpoint, request or folder that cannot be used)."""

    exit_code = 2
