"""``manifest.json``: when, by what, from which database and with which options an export
was made, and the size and sha256 of every file in it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from policy_desktop import __version__
from policy_desktop.export.atomic import FileInfo
from policy_desktop.export.options import (
    CHAT_FILE,
    DPO_FILE,
    FEWSHOT_FILE,
    PROVENANCE_FILE,
    SEED_JSON_FILE,
    ExportOptions,
)

MANIFEST_VERSION = 1

GATE_RULE = ("corrections in the database (as `policy-desktop stats` counts them), "
             "before suite and empty-reasoning exclusions")

FILE_DESCRIPTIONS: dict[str, str] = {
    FEWSHOT_FILE: "few-shot examples in the prompt builder's format "
                  "(policy-desktop prompts create NAME --from this file)",
    SEED_JSON_FILE: "JSON list of {prompt, response, metadata}: the runner's full prompt and "
                    "the corrected answer",
    CHAT_FILE: "chat SFT lines {messages: system, user, assistant}; system = policy + "
               "instructions without few-shot examples",
    DPO_FILE: "TRL conversational preference lines {prompt, chosen, rejected}",
    PROVENANCE_FILE: "one line per chat/DPO line: file, line, decision_id, reviewer, "
                     "change_type, model_name, model_version, prompt_version",
}


def build_manifest(*, database: str, options: ExportOptions, prompt_version: str,
                   corrections: int, files: Mapping[str, FileInfo],
                   created: datetime | None = None) -> dict[str, Any]:
    """The manifest for an export whose files (report included) are ``files``."""
    moment = created or datetime.now(UTC)
    return {
        "manifest_version": MANIFEST_VERSION,
        "created": moment.isoformat(timespec="seconds"),
        "program": {"name": "policy-desktop", "version": __version__},
        "database": database,
        "options": options.to_dict(),
        "gate": {"corrections_in_database": corrections, "required": options.min_corrections,
                 "counted": GATE_RULE},
        "prompt_version": prompt_version,
        "files": {
            name: {"records": info.records, "bytes": info.bytes, "sha256": info.sha256,
                   **({"description": FILE_DESCRIPTIONS[name]}
                      if name in FILE_DESCRIPTIONS else {})}
            for name, info in sorted(files.items())
        },
        "provenance_file": PROVENANCE_FILE if PROVENANCE_FILE in files else None,
    }
