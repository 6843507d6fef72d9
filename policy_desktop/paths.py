"""Where Policy Desktop keeps its files (XDG base directories, no Qt)."""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_cache_path, user_config_path, user_data_path

APP_NAME = "policy-desktop"
DB_ENV_VAR = "POLICY_DESKTOP_DB"
DEFAULT_DB_NAME = "policy_decisions.db"


def data_dir() -> Path:
    """The user's data folder (``$XDG_DATA_HOME/policy-desktop``); not created here."""
    return user_data_path(APP_NAME, appauthor=False)


def config_dir() -> Path:
    """The user's configuration folder (``$XDG_CONFIG_HOME/policy-desktop``)."""
    return user_config_path(APP_NAME, appauthor=False)


def cache_dir() -> Path:
    """The user's cache folder (``$XDG_CACHE_HOME/policy-desktop``)."""
    return user_cache_path(APP_NAME, appauthor=False)


def default_database() -> str:
    """The database used when none is given: ``$POLICY_DESKTOP_DB`` or the data folder's file."""
    from_env = os.environ.get(DB_ENV_VAR, "").strip()
    if from_env:
        return from_env
    return str(data_dir() / DEFAULT_DB_NAME)


def custom_prompts_dir() -> Path:
    """Folder of prompt versions the user created (e.g. from exported corrections)."""
    return data_dir() / "prompts"
