"""Models: what a model is (spec, light), the zoo that builds one (zoo: imports torch and smp), its
blocks, geometry and losses.

The package itself imports nothing heavy, so `saltlab.models.spec` (which every config reads) costs
no torch import: the CLI's light commands start in well under a second. The zoo's names
(`build_model`, `FAMILY`, `encoder_names`, ...) are still importable from here; they load it on first use.
"""

from __future__ import annotations

import os
from typing import Any

if not os.environ.get("SALTLAB_ALLOW_DOWNLOAD"):
    # Read by huggingface_hub at import (smp imports it): without it, an offline 'imagenet' retries for
    # ~25 s. Here, so that it is set before any module of this package imports smp.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)
    import importlib

    zoo = importlib.import_module("saltlab.models.zoo")  # not `from saltlab.models import zoo`: that asks here
    try:
        return getattr(zoo, name)
    except AttributeError:
        raise AttributeError(f"module 'saltlab.models' has no attribute {name!r}") from None
