"""The one place that finds files shipped in ``resources/``.

In a source checkout they live in the repository's top-level ``resources/``;
in an installed wheel they are packaged as ``policy_desktop/resources``.
Never resolved relative to the working directory.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


@cache
def resources_root() -> Path:
    """The folder holding the shipped resources."""
    for candidate in (_PACKAGE_DIR / "resources", _PACKAGE_DIR.parent / "resources"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"Policy Desktop resources not found next to {_PACKAGE_DIR}")


def resource_path(*parts: str) -> Path:
    """Path of a shipped resource, e.g. ``resource_path("scenarios", "default.toml")``."""
    return resources_root().joinpath(*parts)


def read_text(*parts: str) -> str:
    """Text of a shipped resource (UTF-8)."""
    return resource_path(*parts).read_text(encoding="utf-8")
