"""The gated training export: reviewed decisions -> few-shot, fine-tuning and preference data.

:func:`export_training_data` writes, into one folder that appears complete or not at all:
``fewshot_examples.txt``, ``finetuning_dataset.json``, ``finetuning_chat.jsonl``,
``dpo_pairs.jsonl`` (each optional, see :data:`~policy_desktop.export.options.FORMAT_FILES`),
``provenance.jsonl`` (with the chat or DPO file), ``analysis_report.json`` and
``manifest.json``. :func:`preview_export` computes the same selection and counts without
writing anything. The record formats are described in :mod:`policy_desktop.export.formats`.

Rules:

* **Gate.** The export needs ``min_corrections`` (at least 50) corrections *in the
  database*, the number ``policy-desktop stats`` shows, counted before any exclusion.
  Below it, :class:`TrainingGateError` is raised before anything is created.
* **Exclusions** (training files only; the analysis covers every correction): decisions
  whose situation is a scenario of the evaluation suite (unless ``allow_suite_examples``),
  so the suite keeps measuring generalisation; decisions whose final decision is not one
  of the four or whose situation is empty; and decisions whose final reasoning is empty,
  which would teach the model to answer without one. Few-shot candidates must also have
  a risk level the prompt format accepts (one of the four, or none).
* **Order.** Lines follow ``iter_corrections``: newest decision first.
* **Which decisions go where.** Few-shot candidates and DPO pairs come from corrections
  only. With ``include_accepted``, decisions accepted as correct are added to the two
  supervised files (seed JSON and chat); they have no rejected answer for DPO.
* **Streaming.** Corrections are read once with ``iter_corrections`` and each line file is
  written as they come; only the few-shot candidates (id, decision, text) stay in memory,
  and the selection embeds at most a bounded sample of them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from policy_desktop.engine.prompts import FewShotExample, format_examples
from policy_desktop.engine.scenarios import load_suite
from policy_desktop.export.atomic import FileInfo, HashingWriter, StagingFolder, check_target
from policy_desktop.export.fewshot_selection import Candidate, EmbedFn, Selection, select_diverse
from policy_desktop.export.formats import (
    LineEncoder,
    PromptContext,
    Rendered,
    chat_record,
    dpo_record,
    fewshot_candidate,
    fewshot_example,
    fewshot_ready,
    has_reasoning,
    json_line,
    provenance_record,
    seed_record,
    usable,
)
from policy_desktop.export.manifest import build_manifest
from policy_desktop.export.options import (
    CHAT_FILE,
    DPO_FILE,
    FEWSHOT_FILE,
    MANIFEST_FILE,
    PROVENANCE_FILE,
    REPORT_FILE,
    SEED_JSON_FILE,
    ExportCancelled,
    ExportOptions,
)
from policy_desktop.export.report import CorrectionAnalysis
from policy_desktop.store.decision import CORRECTION_ACTIONS, PolicyDecision
from policy_desktop.store.errors import TrainingGateError
from policy_desktop.store.export_queries import count_accepted, review_counts
from policy_desktop.store.log import PolicyDecisionLog
from policy_desktop.vocabulary import situation_fingerprint

__all__ = [
    "ExportCancelled",
    "ExportOptions",
    "ExportPreview",
    "ExportResult",
    "default_embed",
    "export_training_data",
    "preview_export",
]

_TICK = 500
"""Records between two progress reports and cancellation checks while reading."""
_READ_START, _READ_END = 0.02, 0.70


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


def default_embed() -> EmbedFn:
    """The app's embedding function: packaged all-MiniLM-L6-v2, loaded on first use."""
    from policy_desktop.engine.embeddings import Embedder

    return Embedder().encode


class _Progress:
    """Reports stages to ``on_progress`` and polls ``should_stop``."""

    def __init__(self, options: ExportOptions) -> None:
        self._report = options.on_progress
        self._stop = options.should_stop
        self._fraction = 0.0

    def check(self) -> None:
        if self._stop is not None and self._stop():
            raise ExportCancelled("the export was cancelled")

    def stage(self, text: str, fraction: float, *, cancellable: bool = True) -> None:
        if cancellable:
            self.check()
        self._fraction = max(self._fraction, min(1.0, fraction))
        if self._report is not None:
            self._report(text, self._fraction)

    def reading(self, done: int, total: int) -> None:
        if done % _TICK == 0:
            share = done / total if total else 1.0
            self.stage(f"Reading reviewed decisions ({done:,} of {total:,})",
                       _READ_START + (_READ_END - _READ_START) * min(1.0, share))


class _LineFiles:
    """The streamed files of one export: seed JSON, chat, DPO and provenance."""

    def __init__(self, staging: StagingFolder, options: ExportOptions,
                 context: PromptContext) -> None:
        self.encoder = LineEncoder([context.chat_system, context.completion_system])

        def open_if(wanted: bool, name: str) -> HashingWriter | None:
            return staging.open(name) if wanted else None

        self.seed = open_if(options.wants("seed_json"), SEED_JSON_FILE)
        self.chat = open_if(options.wants("chat_jsonl"), CHAT_FILE)
        self.dpo = open_if(options.wants("dpo"), DPO_FILE)
        self.provenance = open_if(options.writes_provenance, PROVENANCE_FILE)
        if self.seed is not None:
            self.seed.write("[")

    def supervised(self, item: Rendered, context: PromptContext) -> None:
        if self.seed is not None:
            separator = "\n" if self.seed.records == 0 else ",\n"
            line = self.encoder.line(seed_record(item, context))
            self.seed.write_record(separator + line[:-1])
        if self.chat is not None:
            self.chat.write_record(self.encoder.line(chat_record(item, context)))
            self._provenance(item.decision, self.chat)

    def preference(self, item: Rendered, context: PromptContext) -> None:
        record = dpo_record(item, context)
        if self.dpo is not None and record is not None:
            self.dpo.write_record(self.encoder.line(record))
            self._provenance(item.decision, self.dpo)

    def _provenance(self, decision: PolicyDecision, writer: HashingWriter) -> None:
        assert self.provenance is not None
        self.provenance.write_record(
            json_line(provenance_record(decision, writer.path.name, writer.records)))

    def close(self) -> dict[str, FileInfo]:
        if self.seed is not None:
            self.seed.write("\n]\n")
        writers = (self.seed, self.chat, self.dpo, self.provenance)
        return {info.name: info for info in (w.close() for w in writers if w is not None)}


class _Scan:
    """One pass over the reviewed decisions: analysis, exclusions, candidates, line files."""

    def __init__(self, options: ExportOptions, context: PromptContext,
                 suite: frozenset[str], files: _LineFiles | None) -> None:
        self.options = options
        self.context = context
        self.suite = suite
        self.files = files
        self.analysis = CorrectionAnalysis()
        self.candidates: list[Candidate] = []
        self.supervised = 0
        self.preferences = 0
        self.accepted = 0
        self.suite_excluded = 0
        self.suite_kept = 0
        self.empty_excluded = 0
        self.unusable_excluded = 0
        self.dpo_skipped = 0

    def feed(self, decision: PolicyDecision) -> None:
        correction = decision.review_action in CORRECTION_ACTIONS
        if correction:
            self.analysis.add(decision)
        if situation_fingerprint(decision.situation) in self.suite:
            if not self.options.allow_suite_examples:
                self.suite_excluded += 1
                return
            self.suite_kept += 1
        if not usable(decision):
            self.unusable_excluded += 1
            return
        if not has_reasoning(decision):
            self.empty_excluded += 1
            return
        item = Rendered.of(decision)
        self.supervised += 1
        if self.files is not None:
            self.files.supervised(item, self.context)
        if not correction:
            self.accepted += 1
            return
        if self.options.wants("fewshot") and fewshot_ready(decision):
            self.candidates.append(fewshot_candidate(item))
        if item.dpo_answers is None:
            self.dpo_skipped += 1
            return
        self.preferences += 1
        if self.files is not None:
            self.files.preference(item, self.context)

    def lines(self, fewshot: int) -> dict[str, int]:
        counts = {FEWSHOT_FILE: ("fewshot", fewshot),
                  SEED_JSON_FILE: ("seed_json", self.supervised),
                  CHAT_FILE: ("chat_jsonl", self.supervised),
                  DPO_FILE: ("dpo", self.preferences)}
        return {name: n for name, (fmt, n) in counts.items() if self.options.wants(fmt)}

    def preview(self, corrections: int, selection: Selection | None,
                examples: tuple[FewShotExample, ...]) -> ExportPreview:
        return ExportPreview(
            corrections=corrections, required=self.options.min_corrections,
            lines=self.lines(len(examples)), fewshot=examples,
            fewshot_ids=tuple(c.key for c in selection.chosen) if selection else (),
            fewshot_per_type=dict(selection.per_type) if selection else {},
            near_duplicates_skipped=selection.near_duplicates_skipped if selection else None,
            fewshot_candidates=len(self.candidates), accepted_included=self.accepted,
            suite_examples_excluded=self.suite_excluded, suite_examples_kept=self.suite_kept,
            empty_reasonings_excluded=self.empty_excluded,
            unusable_excluded=self.unusable_excluded, dpo_pairs_skipped=self.dpo_skipped)


def _inputs(options: ExportOptions) -> tuple[PromptContext, frozenset[str]]:
    """The prompt parts and the suite's situation fingerprints (read before any writing)."""
    context = PromptContext.load(options.prompt_version, options.policy_path)
    return context, load_suite(options.scenarios_path).fingerprints()


def _scan(log: PolicyDecisionLog, options: ExportOptions, corrections: int,
          inputs: tuple[PromptContext, frozenset[str]], files: _LineFiles | None,
          progress: _Progress) -> _Scan:
    scan = _Scan(options, *inputs, files)
    total = corrections + (count_accepted(log) if options.include_accepted else 0)
    progress.stage("Reading reviewed decisions", _READ_START)
    reviewed = log.iter_corrections(include_accepted=options.include_accepted)
    for done, decision in enumerate(reviewed, start=1):
        scan.feed(decision)
        progress.reading(done, total)
    return scan


def _choose_examples(log: PolicyDecisionLog, candidates: Sequence[Candidate],
                     options: ExportOptions, progress: _Progress
                     ) -> tuple[Selection, tuple[FewShotExample, ...]]:
    progress.stage("Choosing few-shot examples", _READ_END)
    embed = options.embed
    if embed is None and candidates:
        embed = default_embed()

    def checked_embed(texts: Sequence[str]) -> np.ndarray:
        progress.check()
        assert embed is not None
        vectors = embed(texts)
        progress.check()
        return vectors

    selection = select_diverse(candidates, options.fewshot_count, checked_embed)
    found = log.get_decisions(c.key for c in selection.chosen)
    return selection, tuple(fewshot_example(found[c.key]) for c in selection.chosen)


def _gate(log: PolicyDecisionLog, options: ExportOptions, progress: _Progress) -> int:
    progress.stage("Counting corrections", 0.0)
    return log.count_corrections()


def preview_export(log: PolicyDecisionLog, options: ExportOptions | None = None) -> ExportPreview:
    """Selection and counts of an export, without writing; never raises for the gate.

    Check :attr:`ExportPreview.ready` to see whether :func:`export_training_data` would run.
    """
    options = options or ExportOptions()
    progress = _Progress(options)
    corrections = _gate(log, options, progress)
    scan = _scan(log, options, corrections, _inputs(options), None, progress)
    selection, examples = None, ()
    if options.wants("fewshot"):
        selection, examples = _choose_examples(log, scan.candidates, options, progress)
    progress.stage("Preview ready", 1.0)
    return scan.preview(corrections, selection, examples)


def export_training_data(log: PolicyDecisionLog, output_dir: Path | str,
                         options: ExportOptions | None = None) -> ExportResult:
    """Write the training export into ``output_dir`` (atomically); see the module docstring.

    Raises:
        TrainingGateError: fewer corrections than ``options.min_corrections``.
        OutputExistsError: ``output_dir`` is not empty and ``options.force`` is not set.
        ExportCancelled: ``options.should_stop`` returned True.
        PromptError, ScenarioFileError: the prompt version, policy or suite is broken.
    """
    options = options or ExportOptions()
    progress = _Progress(options)
    corrections = _gate(log, options, progress)
    if corrections < options.min_corrections:
        raise TrainingGateError(corrections, options.min_corrections)
    target = Path(output_dir)
    check_target(target, force=options.force)
    inputs = _inputs(options)
    with StagingFolder(target, force=options.force) as staging:
        line_files = _LineFiles(staging, options, inputs[0])
        scan = _scan(log, options, corrections, inputs, line_files, progress)
        files = line_files.close()
        selection, examples = None, ()
        if options.wants("fewshot"):
            selection, examples = _choose_examples(log, scan.candidates, options, progress)
            files[FEWSHOT_FILE] = staging.write_text(
                FEWSHOT_FILE, format_examples(examples), records=len(examples))
        preview = scan.preview(corrections, selection, examples)
        progress.stage("Writing the analysis report", 0.92)
        report = _report(log, scan, preview, files)
        files[REPORT_FILE] = staging.write_text(REPORT_FILE, _pretty_json(report))
        manifest = build_manifest(
            database=log.display_name, options=options, corrections=corrections,
            prompt_version=scan.context.prompt_version, files=files)
        staging.write_text(MANIFEST_FILE, _pretty_json(manifest))
        progress.stage("Moving the export into place", 0.97)
        staging.commit()
    progress.stage("Export complete", 1.0, cancellable=False)  # too late to cancel
    return ExportResult(output_dir=target, preview=preview, files=files, report=report,
                        manifest=manifest)


def _report(log: PolicyDecisionLog, scan: _Scan, preview: ExportPreview,
            files: dict[str, FileInfo]) -> dict[str, Any]:
    quality = {
        "near_duplicates_skipped": preview.near_duplicates_skipped,
        "fewshot_candidates": preview.fewshot_candidates,
        "fewshot_per_type": preview.fewshot_per_type,
        "suite_examples_excluded": preview.suite_examples_excluded,
        "suite_examples_kept": preview.suite_examples_kept,
        "empty_reasonings_excluded": preview.empty_reasonings_excluded,
        "unusable_excluded": preview.unusable_excluded,
        "dpo_pairs_skipped": preview.dpo_pairs_skipped,
        "accepted_included": preview.accepted_included,
    }
    return scan.analysis.to_dict(
        by_model=review_counts(log, "model"), by_prompt=review_counts(log, "prompt_version"),
        quality=quality, exported={name: info.records for name, info in sorted(files.items())})


def _pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"
