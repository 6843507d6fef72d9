"""Passwords out of every message: database URLs and libpq keywords, masked."""

from __future__ import annotations

import re

_URL_PASSWORD = re.compile(r"(?P<head>\b[a-z][a-z0-9+.\-]*://[^:/@\s]*):(?P<password>[^@\s]*)@",
                           re.IGNORECASE)
_KEYWORD_PASSWORD = re.compile(r"(?P<head>\bpassword\s*=\s*)(?P<password>'[^']*'|\S+)",
                               re.IGNORECASE)


def mask_passwords(text: str) -> str:
    """``text`` with every password of a database URL (``user:secret@``) or a libpq
    keyword (``password=secret``) replaced by ``***``: for any message, title or log line
    that may quote a location. Keep passwords out of URLs altogether with ``~/.pgpass``
    or a ``service=`` entry in ``~/.pg_service.conf``."""
    text = _URL_PASSWORD.sub(lambda m: f"{m['head']}:***@", text)
    return _KEYWORD_PASSWORD.sub(lambda m: f"{m['head']}***", text)
