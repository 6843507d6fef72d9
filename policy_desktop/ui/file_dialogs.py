"""File dialogs that never read the files they list.

Qt's file dialog asks its icon provider for every listed file's icon and type
name, and the default provider finds them through ``QMimeDatabase``, which
opens and reads a file whose name alone does not tell its type (a ``.db``).
This process holds SQLite connections: closing *any* descriptor of a database
file releases every SQLite lock the process holds on it (SQLite's "How To
Corrupt An SQLite Database File", §2.2), and reviews written afterwards are
lost. So every file dialog of the app is built here: Qt's own dialog (a
platform dialog running in this process would sniff the same way) with an icon
provider that decides from the name only; filters match names (globs), never
MIME types.
"""

from __future__ import annotations

from PySide6.QtCore import QFileInfo
from PySide6.QtGui import QAbstractFileIconProvider, QIcon
from PySide6.QtWidgets import QApplication, QFileDialog, QStyle, QWidget


class NameOnlyIconProvider(QAbstractFileIconProvider):
    """Icons and type names from a file's name and kind; never opens the file.

    The file system model asks from its gatherer thread, so the icons are made
    here, on the GUI thread, once.
    """

    _FOLDER_TYPES = (QAbstractFileIconProvider.IconType.Folder,
                     QAbstractFileIconProvider.IconType.Drive,
                     QAbstractFileIconProvider.IconType.Computer,
                     QAbstractFileIconProvider.IconType.Network,
                     QAbstractFileIconProvider.IconType.Trashcan)

    def __init__(self) -> None:
        super().__init__()
        style = QApplication.style()
        self._folder = style.standardIcon(QStyle.StandardPixmap.SP_DirIcon)
        self._file = style.standardIcon(QStyle.StandardPixmap.SP_FileIcon)

    def icon(self, what: QFileInfo | QAbstractFileIconProvider.IconType) -> QIcon:
        if isinstance(what, QFileInfo):
            return self._folder if what.isDir() else self._file
        return self._folder if what in self._FOLDER_TYPES else self._file

    def type(self, info: QFileInfo) -> str:
        if info.isDir():
            return "Folder"
        suffix = info.suffix()
        return f"{suffix.upper()} file" if suffix else "File"


def safe_file_dialog(parent: QWidget | None, caption: str, folder: str = "",
                     name_filter: str = "") -> QFileDialog:
    """A Qt file dialog that lists files without reading them (see the module docstring)."""
    dialog = QFileDialog(parent, caption, folder, name_filter)
    dialog.setObjectName("safeFileDialog")
    dialog.setOption(QFileDialog.Option.DontUseNativeDialog, True)
    dialog.setOption(QFileDialog.Option.DontUseCustomDirectoryIcons, True)
    provider = NameOnlyIconProvider()
    dialog.setIconProvider(provider)
    dialog._name_only_provider = provider  # type: ignore[attr-defined]  # not owned by the dialog
    return dialog


def _run(dialog: QFileDialog) -> list[str]:
    try:
        if dialog.exec() != QFileDialog.DialogCode.Accepted:
            return []
        return list(dialog.selectedFiles())
    finally:
        dialog.deleteLater()


def open_file_name(parent: QWidget | None, caption: str, folder: str = "",
                   name_filter: str = "") -> str:
    """An existing file to open ("" when cancelled)."""
    dialog = safe_file_dialog(parent, caption, folder, name_filter)
    dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
    dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptOpen)
    chosen = _run(dialog)
    return chosen[0] if chosen else ""


def open_file_names(parent: QWidget | None, caption: str, folder: str = "",
                    name_filter: str = "") -> list[str]:
    """Existing files to open (empty when cancelled)."""
    dialog = safe_file_dialog(parent, caption, folder, name_filter)
    dialog.setFileMode(QFileDialog.FileMode.ExistingFiles)
    dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptOpen)
    return _run(dialog)


def save_file_name(parent: QWidget | None, caption: str, folder: str = "",
                   name_filter: str = "", *, confirm_overwrite: bool = True) -> str:
    """A file name to write to ("" when cancelled)."""
    dialog = safe_file_dialog(parent, caption, folder, name_filter)
    dialog.setFileMode(QFileDialog.FileMode.AnyFile)
    dialog.setAcceptMode(QFileDialog.AcceptMode.AcceptSave)
    dialog.setOption(QFileDialog.Option.DontConfirmOverwrite, not confirm_overwrite)
    chosen = _run(dialog)
    return chosen[0] if chosen else ""


def existing_directory(parent: QWidget | None, caption: str, folder: str = "") -> str:
    """An existing folder ("" when cancelled)."""
    dialog = safe_file_dialog(parent, caption, folder)
    dialog.setFileMode(QFileDialog.FileMode.Directory)
    dialog.setOption(QFileDialog.Option.ShowDirsOnly, True)
    chosen = _run(dialog)
    return chosen[0] if chosen else ""
