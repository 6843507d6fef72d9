"""Typed settings of the desktop app, stored with QSettings (INI) in the user's config folder.

Every setting is a property with a type and a default, so the rest of the app
never handles QSettings' untyped values (Picard's ``config.py`` does the same).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSettings

from policy_desktop.paths import config_dir

SETTINGS_FILE = "policy-desktop.ini"
THEMES: tuple[str, ...] = ("light", "dark")
DEFAULT_COVERAGE_THRESHOLD = 0.5
DEFAULT_GPU_LAYERS = -1  # llama.cpp: -1 offloads every layer when a GPU is present
DEFAULT_CONTEXT_SIZE = 4096  # llama.cpp's n_ctx of the runs (EngineSettings.n_ctx)
CONTEXT_SIZES: tuple[int, int] = (512, 131_072)
CONTEXT_SIZE_KEY = "model/context_size"


class Settings:
    """The app's settings; values are written through immediately.

    Args:
        path: the INI file (default: ``policy-desktop.ini`` in the XDG config folder).
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or config_dir() / SETTINGS_FILE
        self._qsettings = QSettings(str(self.path), QSettings.Format.IniFormat)

    # --- typed access -----------------------------------------------------------------

    def _get(self, key: str, default: Any, kind: type) -> Any:
        value = self._qsettings.value(key, default)
        if value is None:
            return default
        try:
            if kind is bool:
                if isinstance(value, str):
                    return value.strip().lower() in ("1", "true", "yes", "on")
                return bool(value)
            return kind(value)
        except (TypeError, ValueError):
            return default

    def _set(self, key: str, value: Any) -> None:
        if value is None:
            self._qsettings.remove(key)
        else:
            self._qsettings.setValue(key, value)

    def sync(self) -> None:
        """Write pending changes to disk."""
        self._qsettings.sync()

    # --- review -----------------------------------------------------------------------

    @property
    def reviewer(self) -> str:
        """The name recorded with each review ("" until the reviewer gives it)."""
        return str(self._get("review/reviewer", "", str)).strip()

    @reviewer.setter
    def reviewer(self, value: str) -> None:
        self._set("review/reviewer", value.strip() or None)

    @property
    def blind_review(self) -> bool:
        """Hide the model's decision until the reviewer has chosen one."""
        return bool(self._get("review/blind", False, bool))

    @blind_review.setter
    def blind_review(self, value: bool) -> None:
        self._set("review/blind", bool(value))

    # --- database and model -----------------------------------------------------------

    @property
    def database(self) -> str | None:
        """The database opened at start (None: the store's default)."""
        value = str(self._get("database/location", "", str)).strip()
        return value or None

    @database.setter
    def database(self, value: str | None) -> None:
        self._set("database/location", (value or "").strip() or None)

    @property
    def model_path(self) -> str | None:
        """The GGUF model file for runs (None: the bundled model)."""
        value = str(self._get("model/path", "", str)).strip()
        return value or None

    @model_path.setter
    def model_path(self, value: str | None) -> None:
        self._set("model/path", (value or "").strip() or None)

    @property
    def threads(self) -> int:
        """CPU threads for llama.cpp (0: let llama.cpp choose)."""
        return max(0, int(self._get("model/threads", 0, int)))

    @threads.setter
    def threads(self, value: int) -> None:
        self._set("model/threads", max(0, int(value)))

    @property
    def gpu_layers(self) -> int:
        """Layers offloaded to the GPU (-1: all, 0: none)."""
        return max(-1, int(self._get("model/gpu_layers", DEFAULT_GPU_LAYERS, int)))

    @gpu_layers.setter
    def gpu_layers(self, value: int) -> None:
        self._set("model/gpu_layers", max(-1, int(value)))

    @property
    def context_size(self) -> int:
        """The model's context in tokens (``n_ctx``): runs use it, the few-shot export fits it."""
        value = int(self._get(CONTEXT_SIZE_KEY, DEFAULT_CONTEXT_SIZE, int))
        low, high = CONTEXT_SIZES
        return value if low <= value <= high else DEFAULT_CONTEXT_SIZE

    @context_size.setter
    def context_size(self, value: int) -> None:
        low, high = CONTEXT_SIZES
        if not low <= int(value) <= high:
            raise ValueError(f"context size must be between {low} and {high}, not {value}")
        self._set(CONTEXT_SIZE_KEY, int(value))

    @property
    def coverage_threshold(self) -> float:
        """Reasoning coverage (0..1) a scenario needs to pass."""
        value = float(self._get("model/coverage_threshold", DEFAULT_COVERAGE_THRESHOLD, float))
        return value if 0.0 <= value <= 1.0 else DEFAULT_COVERAGE_THRESHOLD

    @coverage_threshold.setter
    def coverage_threshold(self, value: float) -> None:
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"coverage threshold must be between 0 and 1, not {value}")
        self._set("model/coverage_threshold", float(value))

    # --- look -------------------------------------------------------------------------

    @property
    def theme(self) -> str:
        """``light`` or ``dark``."""
        value = str(self._get("view/theme", "light", str))
        return value if value in THEMES else "light"

    @theme.setter
    def theme(self, value: str) -> None:
        if value not in THEMES:
            raise ValueError(f"unknown theme {value!r}; choose one of {', '.join(THEMES)}")
        self._set("view/theme", value)

    # --- export -----------------------------------------------------------------------

    @property
    def export_folder(self) -> str | None:
        """The folder the export wizard wrote to last (its next default)."""
        value = str(self._get("export/folder", "", str)).strip()
        return value or None

    @export_folder.setter
    def export_folder(self, value: str | None) -> None:
        self._set("export/folder", (value or "").strip() or None)

    # --- window state (opaque Qt blobs) ----------------------------------------------

    def window_state(self, name: str) -> QByteArray | None:
        """A saved geometry/splitter/header state, or None."""
        value = self._qsettings.value(f"window/{name}")
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    def set_window_state(self, name: str, state: QByteArray) -> None:
        """Remember a geometry/splitter/header state."""
        self._qsettings.setValue(f"window/{name}", state)
