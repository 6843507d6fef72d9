"""Adding Policy Desktop to the user's application menu (freedesktop.org), Qt-free.

:func:`install` copies the shipped ``.desktop`` file (its ``Exec=`` pointed at the
running ``policy-desktop``), the hicolor icons and the AppStream metainfo into
``$XDG_DATA_HOME`` (default ``~/.local/share``); :func:`uninstall` removes exactly
those files. No root needed; both are idempotent.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

APP_ID = "io.github.policy_desktop.PolicyDesktop"
"""The reverse-DNS id: desktop file name, icon name, AppStream id, Wayland app id
(``QGuiApplication.setDesktopFileName(APP_ID)``)."""

WM_CLASS = "policy-desktop"
"""``StartupWMClass``: the X11 WM_CLASS of the app's windows, i.e. its
``QCoreApplication.applicationName()`` (and the instance name, the executable's name)."""

ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
EXECUTABLE = "policy-desktop"

_PACKAGE_DIR = Path(__file__).resolve().parent
_DESKTOP_FILE = Path("linux") / f"{APP_ID}.desktop"


@cache
def packaging_root() -> Path:
    """The folder holding ``linux/`` and ``icons/``.

    In an installed wheel it is ``policy_desktop/packaging``; in a source checkout the
    repository's top-level ``packaging/``.
    """
    for candidate in (_PACKAGE_DIR / "packaging", _PACKAGE_DIR.parent / "packaging"):
        if (candidate / _DESKTOP_FILE).is_file():
            return candidate
    raise FileNotFoundError(f"Policy Desktop packaging files not found next to {_PACKAGE_DIR}")


def data_home() -> Path:
    """``$XDG_DATA_HOME`` when set to an absolute path, else ``~/.local/share``."""
    value = os.environ.get("XDG_DATA_HOME", "")
    if value and os.path.isabs(value):
        return Path(value)
    return Path.home() / ".local" / "share"


def launcher_command() -> list[str]:
    """How the menu entry starts this installation of Policy Desktop (absolute paths).

    The running ``policy-desktop`` script when started through it, else the one next to
    this Python (a venv's ``bin/``), else the one on ``PATH``, else ``python -m``.
    """
    started_as = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    candidates = [started_as] if started_as and started_as.name == EXECUTABLE else []
    candidates.append(Path(sys.executable).parent / EXECUTABLE)
    on_path = shutil.which(EXECUTABLE)
    if on_path:
        candidates.append(Path(on_path))
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return [str(candidate.absolute())]
    return [str(Path(sys.executable).absolute()), "-m", "policy_desktop"]


_RESERVED = re.compile(r"""[\s"'\\><~|&;$*?#()`]""")


def exec_quote(argument: str) -> str:
    """One ``Exec=`` argument quoted as the Desktop Entry spec asks."""
    argument = argument.replace("%", "%%")
    if not argument or _RESERVED.search(argument):
        escaped = re.sub(r'(["`$\\])', r"\\\1", argument)
        argument = f'"{escaped}"'
    # the key's value is a string: its own escapes apply on top
    for raw, escaped in (("\\", "\\\\"), ("\n", "\\n"), ("\t", "\\t"), ("\r", "\\r")):
        argument = argument.replace(raw, escaped)
    return argument


def render_desktop_entry(template: str, command: list[str]) -> str:
    """The shipped entry with ``Exec=`` (and ``TryExec=``) for ``command``."""
    exec_line = "Exec=" + " ".join(exec_quote(part) for part in command)
    lines = []
    for line in template.splitlines():
        if line.startswith("Exec="):
            lines.append(exec_line)
            if len(command) == 1:  # menus hide the entry once the program is gone
                lines.append("TryExec=" + exec_quote(command[0]))
        elif not line.startswith("TryExec="):
            lines.append(line)
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class InstalledFile:
    """One file the desktop integration puts in the data folder."""

    source: Path
    target: Path


def _layout() -> list[tuple[Path, Path]]:
    """(path under :func:`packaging_root`, path under the data folder) of each installed file."""
    pairs = [(_DESKTOP_FILE, Path("applications") / f"{APP_ID}.desktop"),
             (Path("linux") / f"{APP_ID}.metainfo.xml",
              Path("metainfo") / f"{APP_ID}.metainfo.xml")]
    icons = [Path(f"{n}x{n}") / "apps" / f"{APP_ID}.png" for n in ICON_SIZES]
    icons.append(Path("scalable") / "apps" / f"{APP_ID}.svg")
    pairs += [(Path("icons") / "hicolor" / icon, Path("icons") / "hicolor" / icon)
              for icon in icons]
    return pairs


def installed_files(home: Path | None = None) -> list[InstalledFile]:
    """Every file :func:`install` writes (and :func:`uninstall` removes), with its source."""
    home = home or data_home()
    root = packaging_root()
    return [InstalledFile(root / source, home / target) for source, target in _layout()]


@dataclass
class Report:
    """What :func:`install` or :func:`uninstall` did, line by line."""

    lines: list[str] = field(default_factory=list)

    def add(self, text: str) -> None:
        self.lines.append(text)


def _write_atomically(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _refresh_caches(home: Path, report: Report) -> None:
    """Let menus and icon themes notice the change (tools missing: nothing to do)."""
    applications = home / "applications"
    tool = shutil.which("update-desktop-database")
    if tool and applications.is_dir():
        subprocess.run([tool, "-q", str(applications)], check=False, capture_output=True)
        report.add(f"ran update-desktop-database {applications}")
    hicolor = home / "icons" / "hicolor"
    if hicolor.is_dir():
        os.utime(hicolor)  # icon themes without a cache look at the folder's time
        tool = shutil.which("gtk-update-icon-cache")
        # Refresh an existing cache only: a cache created here would go stale and hide
        # icons other programs install later.
        if tool and (hicolor / "icon-theme.cache").is_file():
            subprocess.run([tool, "-q", "-t", "-f", str(hicolor)], check=False,
                           capture_output=True)
            report.add(f"ran gtk-update-icon-cache {hicolor}")


def install(home: Path | None = None, command: list[str] | None = None,
            *, refresh: bool = True) -> Report:
    """Install the menu entry, icons and metainfo for ``command`` (default: this program)."""
    home = home or data_home()
    command = command or launcher_command()
    report = Report()
    for item in installed_files(home):
        data = item.source.read_bytes()
        if item.source.suffix == ".desktop":
            data = render_desktop_entry(data.decode("utf-8"), command).encode("utf-8")
        if item.target.is_file() and item.target.read_bytes() == data:
            report.add(f"unchanged {item.target}")
            continue
        verb = "updated" if item.target.exists() else "installed"
        _write_atomically(item.target, data)
        report.add(f"{verb} {item.target}")
    report.add(f"menu entry starts: {' '.join(command)}")
    if refresh:
        _refresh_caches(home, report)
    return report


def uninstall(home: Path | None = None, *, refresh: bool = True) -> Report:
    """Remove exactly the files :func:`install` writes (folders are left in place)."""
    home = home or data_home()
    report = Report()
    for _source, relative in _layout():
        target = home / relative
        if target.is_file() or target.is_symlink():
            target.unlink()
            report.add(f"removed {target}")
    if not report.lines:
        report.add(f"nothing to remove: Policy Desktop is not installed in {home}")
    elif refresh:
        _refresh_caches(home, report)
    return report
