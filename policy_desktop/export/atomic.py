"""Write a folder so that it appears complete or not at all.

Files are written into a hidden temporary sibling of the target folder, each fsynced when
closed; :meth:`StagingFolder.commit` fsyncs the folder and renames it into place. An
existing non-empty target is replaced only when ``force`` is given and it holds a previous
export and nothing else (the files its ``manifest.json`` lists): it is renamed aside, the
new folder is renamed in, and the old one is deleted. A folder with anything else in it
(a database, notes, other folders) is never replaced. The new folder gets the old one's
permissions (or the umask's for a new folder). Anything that goes wrong before
the commit removes the temporary folder, so no partial output is ever left behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from policy_desktop.atomic_files import fsync_dir, replace_folder, staging_folder
from policy_desktop.export.options import MANIFEST_FILE

_BUFFER = 1 << 20


class OutputExistsError(Exception):
    """The output folder exists and is not empty (and replacing it was not asked for)."""


@dataclass(frozen=True)
class FileInfo:
    """A written file: its name, record count, size and sha256."""

    name: str
    records: int
    bytes: int
    sha256: str


def check_target(target: Path, *, force: bool) -> None:
    """Raise :class:`OutputExistsError` unless ``target`` may be written (or replaced)."""
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise OutputExistsError(f"{target} exists and is not a folder")
    if not target.is_dir() or not any(target.iterdir()):
        return
    if not force:
        raise OutputExistsError(f"{target} is not empty; use --force to replace it")
    foreign = _not_exported(target)
    if foreign:
        shown = ", ".join(sorted(foreign)[:5]) + (", …" if len(foreign) > 5 else "")
        raise OutputExistsError(
            f"{target} holds more than a previous export ({shown}); --force replaces only "
            "a folder with a previous export in it: choose another folder")


def _not_exported(folder: Path) -> list[str]:
    """Entries of ``folder`` that its manifest does not list (all of them without one)."""
    entries = {entry.name: entry for entry in folder.iterdir()}
    manifest = entries.get(MANIFEST_FILE)
    listed: set[str] = set()
    if manifest is not None and manifest.is_file() and not manifest.is_symlink():
        try:
            files = json.loads(manifest.read_text(encoding="utf-8")).get("files", {})
            listed = {name for name in files if isinstance(name, str)} | {MANIFEST_FILE}
        except (OSError, ValueError, AttributeError):
            listed = set()
    return [name for name, entry in entries.items()
            if name not in listed or entry.is_symlink() or not entry.is_file()]


class HashingWriter:
    """A UTF-8 text file that counts records and bytes and hashes what it writes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.records = 0
        self._bytes = 0
        self._hash = hashlib.sha256()
        self._file = open(path, "wb", buffering=_BUFFER)  # noqa: SIM115 - closed in close()

    def write(self, text: str) -> None:
        """Append ``text`` (counts no record)."""
        data = text.encode("utf-8")
        self._hash.update(data)
        self._bytes += len(data)
        self._file.write(data)

    def write_record(self, text: str) -> None:
        """Append ``text`` and count it as one record."""
        self.write(text)
        self.records += 1

    def close(self) -> FileInfo:
        """Flush, fsync and close; return what was written."""
        if not self._file.closed:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
        return FileInfo(self.path.name, self.records, self._bytes, self._hash.hexdigest())

    def abort(self) -> None:
        """Close without syncing (the staging folder is about to be deleted)."""
        self._file.close()


class StagingFolder:
    """A temporary sibling of ``target`` that :meth:`commit` moves into place.

    Use as a context manager; leaving the block without a commit (or with an exception)
    deletes the temporary folder and every file in it.
    """

    def __init__(self, target: Path, *, force: bool) -> None:
        self.target = Path(target)
        self.force = force
        self.path: Path | None = None
        self._writers: list[HashingWriter] = []
        self._created: list[Path] = []
        self._committed = False

    def __enter__(self) -> StagingFolder:
        check_target(self.target, force=self.force)
        parent = self.target.absolute().parent
        self._created = [p for p in (parent, *parent.parents) if not p.exists()]
        parent.mkdir(parents=True, exist_ok=True)
        self.path = staging_folder(self.target, suffix=".partial")
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if not self._committed:
            self.discard()

    def open(self, name: str) -> HashingWriter:
        """A new file in the staging folder."""
        assert self.path is not None, "use StagingFolder as a context manager"
        writer = HashingWriter(self.path / name)
        self._writers.append(writer)
        return writer

    def write_text(self, name: str, text: str, records: int = 1) -> FileInfo:
        """Write a whole file at once and close it."""
        writer = self.open(name)
        writer.write(text)
        writer.records = records
        return writer.close()

    def commit(self) -> Path:
        """Sync the folder and rename it to the target; return the target."""
        assert self.path is not None, "use StagingFolder as a context manager"
        for writer in self._writers:
            writer.close()
        fsync_dir(self.path)
        _move_into_place(self.path, self.target, force=self.force)
        self._committed = True
        fsync_dir(self.target.absolute().parent)
        return self.target

    def discard(self) -> None:
        """Delete the staging folder and everything in it."""
        for writer in self._writers:
            writer.abort()
        if self.path is not None:
            shutil.rmtree(self.path, ignore_errors=True)
        for folder in self._created:  # parents this export created, deepest first
            try:
                folder.rmdir()
            except OSError:
                break


def _move_into_place(staging: Path, target: Path, *, force: bool) -> None:
    check_target(target, force=force)  # again: something may have appeared meanwhile
    if target.is_dir():
        os.chmod(staging, target.stat().st_mode & 0o7777)
    else:
        os.chmod(staging, 0o777 & ~_umask())
    replace_folder(staging, target)


def _umask() -> int:
    """The process's umask, read without changing it (``os.umask`` would, for all threads)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022
