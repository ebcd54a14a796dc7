"""One process at a time in a run directory: an exclusive lock on RUN/.lock.

The operating system's advisory lock (flock) is released when the process ends, however it ends, so a
crash leaves no stale lock; the file keeps the holder's pid for the message. Where flock does not
exist (Windows), runs are not locked.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from lmlab.errors import LmlabError

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

LOCK_FILE = ".lock"


@contextlib.contextmanager
def locked(run_path: Path) -> Iterator[None]:
    """Hold RUN/.lock while the block runs, or refuse in one line if another process holds it.

    A folder this call had to create is removed again if the block leaves nothing but the lock in it.
    """
    created = not run_path.exists()
    run_path.mkdir(parents=True, exist_ok=True)
    path = run_path / LOCK_FILE
    handle = path.open("a+")
    try:
        if fcntl is not None:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "unknown"
                raise LmlabError(
                    f"{run_path} is in use by another lmlab process (pid {holder}); wait for it to end "
                    "or pick another --out"
                ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        try:
            yield
        finally:
            if created and [p.name for p in run_path.iterdir()] == [LOCK_FILE]:
                shutil.rmtree(run_path, ignore_errors=True)
    finally:
        handle.close()
