"""What an export produced or would produce: :class:`ExportPreview`, :class:`ExportResult`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from policy_desktop.engine.prompts import FewShotExample
from policy_desktop.export.atomic import FileInfo


@dataclass(frozen=True)
class ExportPreview:
    """What an export would write, computed without writing (for the wizard).

    Attributes:
        corrections: corrections in the database (the gate's count).
        required: the gate (``min_corrections``).
        lines: records per chosen file (few-shot examples, seed entries, chat and DPO lines).
        fewshot: the selected few-shot examples, in selection order.
        fewshot_ids: their decision ids.
        fewshot_per_type: examples chosen per decision type (every type present).
        near_duplicates_skipped: candidates the selection skipped as (near-)duplicates;
            ``None`` when no few-shot file is asked for.
        fewshot_candidates: corrections eligible as few-shot examples.
        accepted_included: accepted decisions added to the supervised files.
        suite_examples_excluded: decisions left out because the suite has their situation.
        suite_examples_kept: such decisions kept (``allow_suite_examples``).
        empty_reasonings_excluded: decisions left out for an empty final reasoning.
        unusable_excluded: decisions left out because their final decision is not one of
            the four (a reasoning-only correction of an unparseable answer) or their
            situation is empty.
        dpo_pairs_skipped: corrections without a distinct rejected answer.
    """

    corrections: int
    required: int
    lines: dict[str, int]
    fewshot: tuple[FewShotExample, ...] = ()
    fewshot_ids: tuple[str, ...] = ()
    fewshot_per_type: dict[str, int] = field(default_factory=dict)
    near_duplicates_skipped: int | None = None
    fewshot_candidates: int = 0
    accepted_included: int = 0
    suite_examples_excluded: int = 0
    suite_examples_kept: int = 0
    empty_reasonings_excluded: int = 0
    unusable_excluded: int = 0
    dpo_pairs_skipped: int = 0

    @property
    def ready(self) -> bool:
        """Whether the gate is met."""
        return self.corrections >= self.required

    @property
    def more_needed(self) -> int:
        """Corrections still missing before the gate is met."""
        return max(0, self.required - self.corrections)


@dataclass(frozen=True)
class ExportResult:
    """A finished export: its folder, the counts, every file written, report and manifest."""

    output_dir: Path
    preview: ExportPreview
    files: dict[str, FileInfo]
    report: dict[str, Any]
    manifest: dict[str, Any]
