"""The single streaming pass over reviewed decisions: exclusions, analysis, few-shot
candidates and the line files (seed JSON, chat, DPO, provenance) written as it goes."""

from __future__ import annotations

from policy_desktop.engine.prompts import FewShotExample
from policy_desktop.engine.scenarios import load_suite
from policy_desktop.export.atomic import FileInfo, HashingWriter, StagingFolder
from policy_desktop.export.fewshot_selection import Candidate, Selection
from policy_desktop.export.formats import (
    LineEncoder,
    PromptContext,
    Rendered,
    chat_record,
    dpo_record,
    fewshot_candidate,
    fewshot_ready,
    has_reasoning,
    json_line,
    provenance_record,
    seed_record,
    usable,
)
from policy_desktop.export.options import (
    CHAT_FILE,
    DPO_FILE,
    FEWSHOT_FILE,
    PROVENANCE_FILE,
    SEED_JSON_FILE,
    ExportOptions,
)
from policy_desktop.export.progress import READ_START, Progress
from policy_desktop.export.report import CorrectionAnalysis
from policy_desktop.export.results import ExportPreview
from policy_desktop.store.decision import CORRECTION_ACTIONS, PolicyDecision
from policy_desktop.store.log import PolicyDecisionLog
from policy_desktop.store.review_tallies import count_accepted
from policy_desktop.store.team import ReviewTeam
from policy_desktop.vocabulary import situation_fingerprint

Inputs = tuple[PromptContext, frozenset[str]]
"""The prompt parts and the suite's situation fingerprints."""


class LineFiles:
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
        """Append a seed JSON entry and a chat line (with its provenance)."""
        if self.seed is not None:
            separator = "\n" if self.seed.records == 0 else ",\n"
            line = self.encoder.line(seed_record(item, context))
            self.seed.write_record(separator + line[:-1])
        if self.chat is not None:
            self.chat.write_record(self.encoder.line(chat_record(item, context)))
            self._provenance(item.decision, self.chat)

    def preference(self, item: Rendered, context: PromptContext) -> None:
        """Append a DPO line (with its provenance) when the decision has a pair."""
        record = dpo_record(item, context)
        if self.dpo is not None and record is not None:
            self.dpo.write_record(self.encoder.line(record))
            self._provenance(item.decision, self.dpo)

    def _provenance(self, decision: PolicyDecision, writer: HashingWriter) -> None:
        assert self.provenance is not None
        self.provenance.write_record(
            json_line(provenance_record(decision, writer.path.name, writer.records)))

    def close(self) -> dict[str, FileInfo]:
        """Finish and sync every file; return what each holds."""
        if self.seed is not None:
            self.seed.write("\n]\n")
        writers = (self.seed, self.chat, self.dpo, self.provenance)
        return {info.name: info for info in (w.close() for w in writers if w is not None)}


class Scan:
    """One pass over the reviewed decisions: analysis, exclusions, candidates, line files."""

    def __init__(self, options: ExportOptions, context: PromptContext,
                 suite: frozenset[str], files: LineFiles | None) -> None:
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
        """Analyse one reviewed decision and route it to the files it belongs in."""
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
        """Records per chosen file."""
        counts = {FEWSHOT_FILE: ("fewshot", fewshot),
                  SEED_JSON_FILE: ("seed_json", self.supervised),
                  CHAT_FILE: ("chat_jsonl", self.supervised),
                  DPO_FILE: ("dpo", self.preferences)}
        return {name: n for name, (fmt, n) in counts.items() if self.options.wants(fmt)}

    def preview(self, corrections: int, selection: Selection | None,
                examples: tuple[FewShotExample, ...]) -> ExportPreview:
        """The counts of this pass together with the few-shot selection."""
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


def load_inputs(options: ExportOptions) -> Inputs:
    """The prompt parts and the suite's situation fingerprints (read before any writing)."""
    context = PromptContext.load(options.prompt_version, options.policy_path)
    return context, load_suite(options.scenarios_path).fingerprints()


def run_scan(log: PolicyDecisionLog, options: ExportOptions, corrections: int,
             inputs: Inputs, files: LineFiles | None,
             progress: Progress) -> Scan:
    """Feed every reviewed decision to a :class:`Scan` (corrections, and accepts if asked)."""
    scan = Scan(options, *inputs, files)
    total = corrections + (count_accepted(log) if options.include_accepted else 0)
    progress.stage("Reading reviewed decisions", READ_START)
    # Where reviewers disagreed, the adjudicated answer; an open disagreement is left out.
    reviewed = ReviewTeam(log).resolved(
        log.iter_corrections(include_accepted=options.include_accepted))
    for done, decision in enumerate(reviewed, start=1):
        scan.feed(decision)
        progress.reading(done, total)
    return scan
