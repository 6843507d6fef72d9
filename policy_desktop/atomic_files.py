"""Folders that appear complete or not at all: stage beside the target, then rename.

Neutral (imports nothing of the app), so the engine's prompt catalog and the export layer
share one implementation: a folder is written under a hidden temporary sibling
(:func:`staging_folder`) and :func:`replace_folder` renames it into place, swapping out an
existing target so that a failure at any point leaves either the old folder or the new one.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path

__all__ = ["fsync_dir", "replace_folder", "staging_folder"]


def staging_folder(target: Path, *, suffix: str) -> Path:
    """A new, empty, hidden sibling of ``target`` (``.<name>.<random><suffix>``).

    The parent must exist; the caller deletes the folder if it never reaches
    :func:`replace_folder`.
    """
    target = Path(target)
    return Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=suffix,
                                 dir=target.absolute().parent))


def replace_folder(source: Path, target: Path) -> None:
    """Rename folder ``source`` to ``target``; an existing ``target`` is replaced.

    An empty ``target`` is replaced by one ``rename`` (POSIX allows it for folders). A
    non-empty one is renamed aside under a hidden name, ``source`` renamed in, and the old
    one deleted; if renaming ``source`` in fails, the old folder is put back and the error
    raised. ``source`` and ``target`` must be on one file system (siblings are).
    """
    source, target = Path(source), Path(target)
    if not target.exists():
        os.rename(source, target)
        return
    if target.is_dir() and not target.is_symlink() and not any(target.iterdir()):
        os.replace(source, target)
        return
    retired = target.with_name(f".{target.name}.{uuid.uuid4().hex}.old")
    os.rename(target, retired)
    try:
        os.rename(source, target)
    except BaseException:
        os.rename(retired, target)
        raise
    shutil.rmtree(retired, ignore_errors=True)


def fsync_dir(path: Path) -> None:
    """Make a folder's entries durable (a no-op where folders cannot be opened)."""
    try:
        descriptor = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows
        return
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
