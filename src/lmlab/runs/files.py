"""Files of a run written whole or not at all, with the permissions any other new file gets."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(path: Path, text: str) -> None:
    """Write through a temporary file in the same folder, then rename over the target; the file gets
    the permissions of any other new file (the temporary one is created private)."""
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, prefix=f".{path.name}.") as tmp:
        tmp.write(text)
    give_default_mode(Path(tmp.name))
    os.replace(tmp.name, path)


NEW_FILE_MODE = 0o666  # what open() asks for; the umask takes away from it


def current_umask() -> int:
    """The process's umask, read without changing it where the system shows it (Linux)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)  # elsewhere: read by setting, and put straight back
    os.umask(mask)
    return mask


def give_default_mode(path: Path) -> None:
    """The mode open() would have given `path` (temporary and safetensors files are created private)."""
    os.chmod(path, NEW_FILE_MODE & ~current_umask())
