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
* **Token budget.** With ``context_size``, the examples must fit the target model's
  context together with the policy, the instructions, one situation and the answer
  (:class:`~policy_desktop.export.token_budget.TokenBudget`). Candidates far longer than
  a typical one (``OUTLIER_FACTOR`` times the median) are left out, the selection takes
  only what still fits, and the chosen examples are counted again exactly (with
  ``count_tokens``, the model's tokenizer in the app); any that overflow are dropped.
  Decision ids in ``excluded_examples`` are never chosen.
* **Streaming.** Corrections are read once with ``iter_corrections`` and each line file is
  written as they come; only the few-shot candidates (id, decision, text) stay in memory,
  and the selection embeds at most a bounded sample of them.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from policy_desktop.engine.prompts import FewShotExample, format_example, format_examples
from policy_desktop.export.atomic import FileInfo, StagingFolder, check_target
from policy_desktop.export.fewshot_selection import Candidate, EmbedFn, Selection, select_diverse
from policy_desktop.export.formats import fewshot_example
from policy_desktop.export.manifest import build_manifest
from policy_desktop.export.options import (
    FEWSHOT_FILE,
    MANIFEST_FILE,
    REPORT_FILE,
    ExportCancelled,
    ExportOptions,
)
from policy_desktop.export.progress import READ_END, Progress
from policy_desktop.export.results import ExportPreview, ExportResult
from policy_desktop.export.scan import LineFiles, Scan, load_inputs, run_scan
from policy_desktop.export.token_budget import (
    ANSWER_RESERVE,
    EXAMPLE_OVERHEAD,
    OUTLIER_FACTOR,
    SITUATION_RESERVE,
    TokenBudget,
    approximate_counter,
    approximate_tokens,
)
from policy_desktop.store.errors import TrainingGateError
from policy_desktop.store.log import PolicyDecisionLog
from policy_desktop.store.review_tallies import review_counts

__all__ = [
    "ExportCancelled",
    "ExportOptions",
    "ExportPreview",
    "ExportResult",
    "default_embed",
    "export_training_data",
    "preview_export",
    "preview_with_budget",
]


def default_embed() -> EmbedFn:
    """The app's embedding function: packaged all-MiniLM-L6-v2, loaded on first use."""
    from policy_desktop.engine.embeddings import Embedder

    return Embedder().encode


def _choose_examples(log: PolicyDecisionLog, scan: Scan, options: ExportOptions,
                     progress: Progress
                     ) -> tuple[Selection, tuple[FewShotExample, ...], TokenBudget | None]:
    progress.stage("Choosing few-shot examples", READ_END)
    candidates: Sequence[Candidate] = [c for c in scan.candidates
                                       if c.key not in options.excluded_examples]
    budget: TokenBudget | None = None
    costs: dict[str, int] | None = None
    if options.context_size is not None and candidates:
        counter = options.count_tokens or approximate_counter
        fixed = counter([f"{scan.context.chat_system}\n\n## Examples\n\n"])[0]
        budget = TokenBudget(options.context_size, fixed, SITUATION_RESERVE + ANSWER_RESERVE,
                             measured_with=getattr(counter, "measured_with",
                                                   "an approximation"))
        # The candidates are estimated (cheap for 50,000); the chosen ones are counted.
        costs = {c.key: approximate_tokens(c.text) + EXAMPLE_OVERHEAD for c in candidates}
        typical = statistics.median(costs.values())
        limit = max(OUTLIER_FACTOR * typical, 1)
        kept = [c for c in candidates if costs[c.key] <= limit]
        budget = replace(budget, outliers_skipped=len(candidates) - len(kept))
        candidates = kept
    embed = options.embed
    if embed is None and candidates:
        embed = default_embed()

    def checked_embed(texts: Sequence[str]) -> np.ndarray:
        progress.check()
        assert embed is not None
        vectors = embed(texts)
        progress.check()
        return vectors

    limit_tokens = budget.available if budget is not None else None
    selection = select_diverse(candidates, options.fewshot_count, checked_embed,
                               costs=costs, budget=limit_tokens)
    found = log.get_decisions(c.key for c in selection.chosen)
    examples = tuple(fewshot_example(found[c.key]) for c in selection.chosen)
    if budget is None:
        return selection, examples, None
    counter = options.count_tokens or approximate_counter
    tokens = counter([format_example(example) for example in examples]) if examples else []
    chosen = list(selection.chosen)
    kept_examples = list(examples)
    while tokens and sum(tokens) + len(tokens) - 1 > budget.available:
        drop = tokens.index(max(tokens))  # the estimate was too low: the longest goes
        del tokens[drop], chosen[drop], kept_examples[drop]
    if len(chosen) != len(selection.chosen):
        per_type = dict.fromkeys(selection.per_type, 0)
        for candidate in chosen:
            per_type[candidate.decision] = per_type.get(candidate.decision, 0) + 1
        selection = replace(selection, chosen=tuple(chosen), per_type=per_type)
    return selection, tuple(kept_examples), replace(budget, example_tokens=tuple(tokens))


def _gate(log: PolicyDecisionLog, options: ExportOptions, progress: Progress) -> int:
    progress.stage("Counting corrections", 0.0)
    return log.count_corrections()


def preview_export(log: PolicyDecisionLog, options: ExportOptions | None = None) -> ExportPreview:
    """Selection and counts of an export, without writing; never raises for the gate.

    Check :attr:`ExportPreview.ready` to see whether :func:`export_training_data` would run.
    """
    return preview_with_budget(log, options)[0]


def preview_with_budget(log: PolicyDecisionLog, options: ExportOptions | None = None
                        ) -> tuple[ExportPreview, TokenBudget | None]:
    """:func:`preview_export` and the examples' token budget (None without ``context_size``)."""
    options = options or ExportOptions()
    progress = Progress(options)
    corrections = _gate(log, options, progress)
    scan = run_scan(log, options, corrections, load_inputs(options), None, progress)
    selection, budget = None, None
    examples: tuple[FewShotExample, ...] = ()
    if options.wants("fewshot"):
        selection, examples, budget = _choose_examples(log, scan, options, progress)
    progress.stage("Preview ready", 1.0)
    return scan.preview(corrections, selection, examples), budget


def export_for_training(log: PolicyDecisionLog, output_dir: Path | str,
                        min_corrections: int = 50) -> ExportResult:
    """The seed's ``log.export_for_training(output_dir, min_corrections)``, as a function of
    the export layer (the store imports nothing above it).

    Raises :class:`TrainingGateError` below ``min_corrections`` (which is never below 50).
    """
    return export_training_data(log, output_dir, ExportOptions(min_corrections=min_corrections))


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
    progress = Progress(options)
    corrections = _gate(log, options, progress)
    if corrections < options.min_corrections:
        raise TrainingGateError(corrections, options.min_corrections)
    target = Path(output_dir)
    check_target(target, force=options.force)
    inputs = load_inputs(options)
    with StagingFolder(target, force=options.force) as staging:
        line_files = LineFiles(staging, options, inputs[0])
        scan = run_scan(log, options, corrections, inputs, line_files, progress)
        files = line_files.close()
        selection, budget = None, None
        examples: tuple[FewShotExample, ...] = ()
        if options.wants("fewshot"):
            selection, examples, budget = _choose_examples(log, scan, options, progress)
            files[FEWSHOT_FILE] = staging.write_text(
                FEWSHOT_FILE, format_examples(examples), records=len(examples))
        preview = scan.preview(corrections, selection, examples)
        progress.stage("Writing the analysis report", 0.92)
        report = _report(log, scan, preview, files, budget)
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


def _report(log: PolicyDecisionLog, scan: Scan, preview: ExportPreview,
            files: dict[str, FileInfo], budget: TokenBudget | None = None) -> dict[str, Any]:
    quality: dict[str, Any] = {
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
    if budget is not None:
        quality["fewshot_tokens"] = {
            "context_size": budget.context_size, "policy_and_instructions": budget.fixed,
            "reserved_for_situation_and_answer": budget.reserved,
            "available": budget.available, "used": budget.used,
            "per_example": list(budget.example_tokens),
            "outliers_skipped": budget.outliers_skipped, "measured_with": budget.measured_with,
        }
    return scan.analysis.to_dict(
        by_model=review_counts(log, "model"), by_prompt=review_counts(log, "prompt_version"),
        quality=quality, exported={name: info.records for name, info in sorted(files.items())})


def _pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"
