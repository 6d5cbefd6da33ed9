"""A Lambda cold start without the garbage collector walking init's objects again and again.

A handler's init makes about a hundred thousand objects that live as long as its execution environment (modules,
clients, validators, models). While they are being made, a collection runs every few hundred allocations, walks them
all and frees next to nothing: about a sixth of post_message's cold start as deployed (measured with python3.13 on
the zip: 746 -> 624 ms median of 9). So on Lambda each handler pauses collection for its init, then freezes what init
made (gc.freeze: moved out of every generation, never walked again) and collects as usual from its first request on.

Only on Lambda (LAMBDA_TASK_ROOT is set there, and by `make bench`): the local runtime initialises many environments
in one long-lived process, where a freeze would put every object alive at that moment, whatever becomes of it, out of
the collector's reach for good.
"""

from __future__ import annotations

import gc
import os

__all__ = ["pause_collection", "resume_collection"]


def pause_collection() -> None:
    """First thing in a handler module, before its imports: no collection during init."""
    if os.environ.get("LAMBDA_TASK_ROOT"):
        gc.disable()


def resume_collection() -> None:
    """Last thing in a handler module: freeze init's objects, and collect again."""
    if os.environ.get("LAMBDA_TASK_ROOT") and not gc.isenabled():
        gc.freeze()
        gc.enable()
