"""Atomic file writes: readers see the old file or the new one, never half of one."""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from worldmodel.runtime.errors import InputError

_FULL = (errno.ENOSPC, errno.EDQUOT)


class DiskFullError(InputError):
    """The disk (or the user's quota) filled up while a file was written; nothing half-written
    was kept, and the previous version of the file, if any, is unchanged."""


def disk_full(error: BaseException, path: str | Path) -> DiskFullError | None:
    """A :class:`DiskFullError` naming ``path`` when ``error`` is a full disk or quota, else None."""
    if not (isinstance(error, OSError) and error.errno in _FULL):
        return None
    path = Path(path)
    return DiskFullError(
        f"{path}: no space left on the disk of {path.parent} ({error.strerror}); nothing "
        f"half-written was kept: free some space (or write elsewhere) and run the command again"
    )


def umask() -> int:
    """The process umask (read without changing it for good)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_path(path: str | Path, keep_suffix: bool = False) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; renamed onto ``path`` once the block succeeds.

    The file is fsynced before the rename and removed if the block fails. Its name is
    ``.<name>.<random>.tmp`` (or ``.<stem>.<random>.tmp<suffix>`` with ``keep_suffix``, for
    writers that pick a format from the suffix). Permissions follow the umask, not mkstemp's 0600.
    A full disk or quota raises :class:`DiskFullError`, one line naming ``path``.
    """
    path = Path(path)
    prefix, suffix = (
        (f".{path.stem}.", f".tmp{path.suffix}") if keep_suffix else (f".{path.name}.", ".tmp")
    )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=suffix)
    except OSError as e:
        raise disk_full(e, path) or e from None
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~umask())
        os.replace(tmp, path)
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        full = disk_full(e, path)
        if full is not None:
            raise full from None
        raise
