"""Quiet native libraries unless `--verbose`.

Native code that edge-msa loads writes notes straight to file descriptor 2, past Python's
`sys.stderr` and `warnings`: ExecuTorch's cpuinfo probe ("Failed to open midr file ...", "CPU info
and manual query on # of cpus dont match."), its thread pool ("Resetting threadpool ..."), LiteRT
("INFO: Created TensorFlow Lite XNNPACK delegate for CPU."). On a user's terminal they read as
errors. `quiet_native_stderr()` points fd 2 at a temporary file while such a library loads; what
was written is replayed when the load fails (the note may explain why) and dropped otherwise.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager


def verbose_from_env() -> bool:
    return os.environ.get("EDGE_MSA_VERBOSE", "") not in ("", "0")


_state = {"verbose": verbose_from_env()}
# fd 2 is process-wide: two threads loading at once must not restore each other's descriptor.
_fd_lock = threading.RLock()


def set_verbose(on: bool) -> None:
    """`--verbose`: let native libraries' notes through (also EDGE_MSA_VERBOSE=1)."""
    _state["verbose"] = on


def is_verbose() -> bool:
    return _state["verbose"]


@contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Hold back what native code writes to fd 2 inside the block (replayed if the block raises)."""
    try:
        saved = -1 if _state["verbose"] else os.dup(2)
    except OSError:  # no fd 2 at all (started with 2>&-): nothing to hold back
        saved = -1
    if saved < 0:
        yield
        return
    with _fd_lock, tempfile.TemporaryFile() as held:
        _flush()
        os.dup2(held.fileno(), 2)
        try:
            yield
        except BaseException:
            _restore(saved)
            held.seek(0)
            sys.stderr.write(held.read().decode(errors="replace"))
            raise
        else:
            _restore(saved)


def _restore(saved: int) -> None:
    _flush()
    os.dup2(saved, 2)
    os.close(saved)


def _flush() -> None:
    if sys.stderr is not None:  # None under pythonw and some embedders
        sys.stderr.flush()
