"""The gated training export: gate, exclusions, selection, atomic writing, hooks, preview."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from export_helpers import (
    Spec,
    accepted,
    build_log,
    corrections,
    fake_embed,
    listing,
    situation,
)

from policy_desktop.engine.prompts import (
    DEFAULT_PROMPT_VERSION,
    PromptCatalog,
    build_prompt,
    load_policy,
    parse_examples,
)
from policy_desktop.engine.scenarios import load_suite
from policy_desktop.export import scan, training
from policy_desktop.export.atomic import OutputExistsError
from policy_desktop.export.formats import corrected_answer, fewshot_example
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
from policy_desktop.export.training import ExportResult, export_training_data, preview_export
from policy_desktop.store import PolicyDecision, PolicyDecisionLog, TrainingGateError

ALL_FILES = [FEWSHOT_FILE, SEED_JSON_FILE, CHAT_FILE, DPO_FILE, PROVENANCE_FILE, REPORT_FILE,
             MANIFEST_FILE]
REPO_ROOT = Path(__file__).resolve().parents[2]


def options(**overrides: Any) -> ExportOptions:
    return ExportOptions(**{"embed": fake_embed, **overrides})


def read_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def export(log: PolicyDecisionLog, out: Path, **overrides: Any) -> ExportResult:
    return export_training_data(log, out, options(**overrides))


@pytest.fixture
def log50(tmp_path: Path) -> PolicyDecisionLog:
    """50 corrections (40 allow->deny, 5 allow->require_mfa, 5 deny->allow) and 10 accepts."""
    specs = (corrections(40) + corrections(5, "require_mfa") + corrections(5, "allow", "deny")
             + accepted(10))
    with build_log(tmp_path / "decisions.db", specs) as log:
        yield log


# --- the gate ---------------------------------------------------------------------------


def test_49_corrections_raise_and_write_nothing(tmp_path: Path) -> None:
    with build_log(tmp_path / "decisions.db", corrections(49) + accepted(5)) as log:
        before = listing(tmp_path)
        out = tmp_path / "deep" / "training_export"
        with pytest.raises(TrainingGateError) as caught:
            export(log, out)
    assert caught.value.corrections == 49
    assert caught.value.required == 50
    assert caught.value.more_needed == 1
    assert "49 corrections so far; 1 more needed" in str(caught.value)
    assert not (tmp_path / "deep").exists()
    assert listing(tmp_path) == before


def test_50_corrections_write_every_file(log50: PolicyDecisionLog, tmp_path: Path) -> None:
    result = export(log50, tmp_path / "out")
    assert listing(tmp_path / "out") == sorted(ALL_FILES)
    assert result.output_dir == tmp_path / "out"
    assert result.preview.corrections == 50
    assert set(result.files) == set(ALL_FILES) - {MANIFEST_FILE}


def test_gate_cannot_be_lowered(log50: PolicyDecisionLog, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot be lowered below 50"):
        export(log50, tmp_path / "out", min_corrections=40)
    assert not (tmp_path / "out").exists()


def test_gate_can_be_raised(log50: PolicyDecisionLog, tmp_path: Path) -> None:
    with pytest.raises(TrainingGateError, match="10 more needed"):
        export(log50, tmp_path / "out", min_corrections=60)
    assert not (tmp_path / "out").exists()


def test_gate_counts_database_corrections_before_exclusions(tmp_path: Path) -> None:
    suite_situation = load_suite().scenarios[0].situation
    specs = corrections(47) + [Spec(situation=dict(suite_situation)) for _ in range(3)]
    with build_log(tmp_path / "decisions.db", specs) as log:
        assert log.get_statistics()["corrections"] == 50
        result = export(log, tmp_path / "out")
    assert result.preview.suite_examples_excluded == 3
    assert result.files[CHAT_FILE].records == 47
    assert result.manifest["gate"]["corrections_in_database"] == 50


def test_the_seed_name_exports_through_the_export_layer(tmp_path: Path) -> None:
    from policy_desktop.export.training import export_for_training

    with build_log(tmp_path / "decisions.db", corrections(49)) as log:
        with pytest.raises(TrainingGateError):
            export_for_training(log, tmp_path / "out")
        with pytest.raises(ValueError, match="cannot be lowered"):
            export_for_training(log, tmp_path / "out", min_corrections=40)
    assert not (tmp_path / "out").exists()
    with build_log(tmp_path / "decisions.db", corrections(1), start=49) as log:
        result = export_for_training(log, tmp_path / "out")
    assert result.manifest["gate"]["corrections_in_database"] == 50
    assert (tmp_path / "out" / CHAT_FILE).is_file()


def test_store_does_not_import_the_export_package() -> None:
    code = ("import sys, policy_desktop.store, policy_desktop.store.log; "
            "print(any(m.startswith('policy_desktop.export') for m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, cwd=REPO_ROOT)
    assert done.stdout.strip() == "False"


# --- few-shot selection -----------------------------------------------------------------


def test_fewshot_covers_every_type_of_skewed_corrections(tmp_path: Path) -> None:
    specs = [*corrections(45, "deny"), *corrections(3, "allow", "deny"),
             *corrections(2, "require_mfa")]
    with build_log(tmp_path / "decisions.db", specs) as log:
        result = export(log, tmp_path / "out")
    examples = parse_examples((tmp_path / "out" / FEWSHOT_FILE).read_text(encoding="utf-8"))
    assert len(examples) == 8
    counts = Counter(example.decision for example in examples)
    assert set(counts) == {"allow", "deny", "require_mfa"}
    assert counts["allow"] >= 2 and counts["require_mfa"] == 2
    assert result.preview.fewshot_per_type == {"allow": counts["allow"], "deny": counts["deny"],
                                               "require_mfa": 2}


def test_fewshot_file_parses_back_to_the_selected_corrections(
        log50: PolicyDecisionLog, tmp_path: Path) -> None:
    result = export(log50, tmp_path / "out")
    parsed = parse_examples((tmp_path / "out" / FEWSHOT_FILE).read_text(encoding="utf-8"))
    chosen = log50.get_decisions(result.preview.fewshot_ids)
    expected = [fewshot_example(chosen[key]) for key in result.preview.fewshot_ids]
    assert parsed == expected == list(result.preview.fewshot)
    for key, example in zip(result.preview.fewshot_ids, parsed, strict=True):
        stored = chosen[key]
        assert stored.is_correction
        assert example.decision == stored.review_decision
        assert example.reasoning == stored.review_reasoning
        # A decision correction without labels from the reviewer: the model's do not stand.
        assert stored.decision_corrected and example.classification is None
        assert example.classification == stored.final_classification


def test_near_duplicates_are_not_chosen_twice(tmp_path: Path) -> None:
    same = situation(7)
    specs = [Spec(situation=dict(same), team_context="Same team.",
                  review_reasoning=f"Rule 6 denies it.~ variant {i}") for i in range(10)]
    specs += corrections(40, "require_mfa")
    with build_log(tmp_path / "decisions.db", specs) as log:
        result = export(log, tmp_path / "out")
    deny = [e for e in result.preview.fewshot if e.decision == "deny"]
    assert len(deny) == 1
    assert result.preview.fewshot_per_type == {"deny": 1, "require_mfa": 7}
    assert result.preview.near_duplicates_skipped == 9
    assert result.report["quality"]["near_duplicates_skipped"] == 9


def test_fewshot_count_is_honoured(log50: PolicyDecisionLog, tmp_path: Path) -> None:
    result = export(log50, tmp_path / "out", fewshot_count=3)
    assert result.files[FEWSHOT_FILE].records == 3
    assert len(parse_examples((tmp_path / "out" / FEWSHOT_FILE).read_text("utf-8"))) == 3


# --- exclusions -------------------------------------------------------------------------


def _suite_leak_log(tmp_path: Path) -> tuple[PolicyDecisionLog, dict[str, Any]]:
    suite_situation = dict(load_suite().scenarios[1].situation)
    specs = [Spec(model="allow", human="require_attestation", situation=suite_situation)]
    specs += corrections(50)
    return build_log(tmp_path / "decisions.db", specs), suite_situation


def _exported_ids(folder: Path) -> set[str]:
    seed = json.loads((folder / SEED_JSON_FILE).read_text(encoding="utf-8"))
    provenance = read_lines(folder / PROVENANCE_FILE)
    return {e["metadata"]["decision_id"] for e in seed} | {p["decision_id"] for p in provenance}


def _chat_users(folder: Path) -> list[str]:
    return [line["messages"][1]["content"] for line in read_lines(folder / CHAT_FILE)]


LEAK_ID = "dec_2026-02-02T0805_00000000"


def test_suite_situations_are_excluded_by_default(tmp_path: Path) -> None:
    log, leaked = _suite_leak_log(tmp_path)
    with log:
        result = export(log, tmp_path / "out")
        assert log.get_decision(LEAK_ID) is not None
    out = tmp_path / "out"
    assert len(_exported_ids(out)) == 50
    assert LEAK_ID not in _exported_ids(out)
    assert LEAK_ID not in result.preview.fewshot_ids
    assert not any(f"actor: {leaked['actor']}\n" in text for text in _chat_users(out))
    assert result.preview.suite_examples_excluded == 1
    assert result.report["quality"]["suite_examples_excluded"] == 1
    assert result.files[CHAT_FILE].records == result.files[DPO_FILE].records == 50
    assert result.report["total_corrections"] == 51  # the analysis still counts it


def test_suite_situations_kept_when_allowed(tmp_path: Path) -> None:
    log, leaked = _suite_leak_log(tmp_path)
    with log:
        result = export(log, tmp_path / "out", allow_suite_examples=True)
    assert result.preview.suite_examples_excluded == 0
    assert result.preview.suite_examples_kept == 1
    assert result.files[CHAT_FILE].records == result.files[DPO_FILE].records == 51
    assert result.files[SEED_JSON_FILE].records == 51
    assert result.report["quality"]["suite_examples_kept"] == 1
    assert LEAK_ID in _exported_ids(tmp_path / "out")
    assert any(f"actor: {leaked['actor']}\n" in text for text in _chat_users(tmp_path / "out"))


def test_other_suite_file_decides_what_is_excluded(tmp_path: Path) -> None:
    log, _ = _suite_leak_log(tmp_path)
    suite_file = tmp_path / "mine.toml"
    suite_file.write_text(
        'quick = ["X1"]\n[[scenario]]\nid = "X1"\ndifficulty = "easy"\n'
        'description = "d"\nexpected_decision = "deny"\nexpected_reasoning = ["r"]\n'
        '[scenario.situation]\nactor = "user0003"\nrole = "member"\naction = "read"\n'
        'target = "docs/page3.md"\nenvironment = "development"\ntrust_score = 0.8\n'
        'mfa_verified = true\ntime = "Tuesday 10:30"\n', encoding="utf-8")
    with log:
        result = export(log, tmp_path / "out", scenarios_path=suite_file)
    assert result.preview.suite_examples_excluded == 1  # user0003, not the default suite's
    assert "actor: user0003" not in (tmp_path / "out" / CHAT_FILE).read_text(encoding="utf-8")


def test_empty_reasonings_are_left_out(tmp_path: Path) -> None:
    specs = [*corrections(50), Spec(reasoning="", review_reasoning=None, human="deny")]
    with build_log(tmp_path / "decisions.db", specs) as log:
        empty = [d for d in log.iter_corrections() if not d.final_reasoning]
        result = export(log, tmp_path / "out")
    assert len(empty) == 1
    assert result.preview.empty_reasonings_excluded == 1
    assert result.report["quality"]["empty_reasonings"] == 1
    assert result.files[CHAT_FILE].records == 50


def test_unusable_decisions_are_left_out(tmp_path: Path) -> None:
    specs = [*corrections(50),
             Spec(model="unparseable", human=None, review_reasoning="Explains nothing."),
             Spec(situation={}, team_context=None)]
    with build_log(tmp_path / "decisions.db", specs) as log:
        result = export(log, tmp_path / "out")
    assert result.preview.unusable_excluded == 2
    assert result.report["quality"]["unusable_excluded"] == 2
    assert result.report["total_corrections"] == 52
    assert result.files[CHAT_FILE].records == result.files[DPO_FILE].records == 50
    assert result.files[SEED_JSON_FILE].records == 50


def test_unknown_risk_level_is_no_fewshot_candidate(tmp_path: Path) -> None:
    # A reasoning-only correction keeps the model's labels, "severe" included.
    specs = [*corrections(50), Spec(model="deny", human="deny", risk_level="severe",
                                    review_reasoning="Deny: the actor is not on the team.")]
    with build_log(tmp_path / "decisions.db", specs) as log:
        result = export(log, tmp_path / "out")
        odd = "dec_2026-02-02T0805_00000032"
        stored = log.get_decision(odd)
        assert stored is not None and stored.review_action == "correct_reasoning"
        assert stored.final_risk_level == "severe"
    assert result.preview.fewshot_candidates == 50
    assert odd not in result.preview.fewshot_ids
    assert result.preview.fewshot_per_type == {"deny": 8}
    assert result.files[CHAT_FILE].records == 51
    parse_examples((tmp_path / "out" / FEWSHOT_FILE).read_text(encoding="utf-8"))


def test_accepted_decisions_only_with_include_accepted(
        log50: PolicyDecisionLog, tmp_path: Path) -> None:
    without = export(log50, tmp_path / "a")
    with_accepted = export(log50, tmp_path / "b", include_accepted=True)
    assert without.files[CHAT_FILE].records == 50
    assert with_accepted.files[CHAT_FILE].records == 60
    assert with_accepted.files[SEED_JSON_FILE].records == 60
    assert with_accepted.files[DPO_FILE].records == 50  # accepts have no rejected answer
    assert with_accepted.preview.accepted_included == 10
    assert with_accepted.report["total_corrections"] == 50
    changes = Counter(p["change_type"] for p in read_lines(tmp_path / "b" / PROVENANCE_FILE)
                      if p["file"] == CHAT_FILE)
    assert changes["accept"] == 10
    chosen = log50.get_decisions(with_accepted.preview.fewshot_ids)
    assert all(d.is_correction for d in chosen.values())


# --- file contents ----------------------------------------------------------------------


def test_seed_json_prompt_is_the_runner_prompt(log50: PolicyDecisionLog, tmp_path: Path) -> None:
    export(log50, tmp_path / "out")
    entries = json.loads((tmp_path / "out" / SEED_JSON_FILE).read_text(encoding="utf-8"))
    assert isinstance(entries, list) and len(entries) == 50
    version = PromptCatalog().get(DEFAULT_PROMPT_VERSION)
    policy = load_policy()
    for entry in entries:
        stored = log50.get_decision(entry["metadata"]["decision_id"])
        assert stored is not None
        expected = build_prompt(version, policy, stored.situation, stored.team_context).text
        assert entry["prompt"] == expected
        assert entry["response"] == corrected_answer(stored)
        assert json.loads(entry["response"])["decision"] == stored.final_decision
        assert entry["metadata"] == {
            "decision_id": stored.decision_id, "model_name": stored.model_name,
            "model_version": stored.model_version, "prompt_version": stored.prompt_version,
            "change_type": stored.review_action, "reviewer": stored.reviewer}


def test_provenance_names_every_chat_and_dpo_line(
        log50: PolicyDecisionLog, tmp_path: Path) -> None:
    export(log50, tmp_path / "out")
    out = tmp_path / "out"
    provenance = read_lines(out / PROVENANCE_FILE)
    for name in (CHAT_FILE, DPO_FILE):
        lines = read_lines(out / name)
        entries = [p for p in provenance if p["file"] == name]
        assert [p["line"] for p in entries] == list(range(1, len(lines) + 1))
        for line, entry in zip(lines, entries, strict=True):
            stored = log50.get_decision(entry["decision_id"])
            assert stored is not None
            assistant = line["messages"][-1] if name == CHAT_FILE else line["chosen"][0]
            assert assistant["content"] == corrected_answer(stored)
            assert entry["reviewer"] == stored.reviewer
            assert entry["change_type"] == stored.review_action
            assert entry["model_name"] == stored.model_name
            assert entry["prompt_version"] == stored.prompt_version


def test_manifest_lists_counts_and_hashes(log50: PolicyDecisionLog, tmp_path: Path) -> None:
    from policy_desktop import __version__

    result = export(log50, tmp_path / "out", include_accepted=True)
    manifest = json.loads((tmp_path / "out" / MANIFEST_FILE).read_text(encoding="utf-8"))
    assert manifest == result.manifest
    assert manifest["program"]["version"] == __version__
    assert manifest["database"] == log50.display_name
    assert manifest["options"]["include_accepted"] is True
    assert manifest["provenance_file"] == PROVENANCE_FILE
    assert set(manifest["files"]) == set(ALL_FILES) - {MANIFEST_FILE}
    for name, info in manifest["files"].items():
        data = (tmp_path / "out" / name).read_bytes()
        assert info["sha256"] == hashlib.sha256(data).hexdigest()
        assert info["bytes"] == len(data)
    assert manifest["files"][CHAT_FILE]["records"] == 60
    assert manifest["files"][PROVENANCE_FILE]["records"] == 110


def test_formats_option_limits_the_files(log50: PolicyDecisionLog, tmp_path: Path) -> None:
    export(log50, tmp_path / "a", formats={"chat_jsonl"})
    assert listing(tmp_path / "a") == sorted([CHAT_FILE, PROVENANCE_FILE, REPORT_FILE,
                                              MANIFEST_FILE])
    export(log50, tmp_path / "b", formats=set())
    assert listing(tmp_path / "b") == [REPORT_FILE, MANIFEST_FILE]
    with pytest.raises(ValueError, match="unknown formats: csv"):
        options(formats={"csv"})


def test_export_without_fewshot_never_embeds(log50: PolicyDecisionLog, tmp_path: Path) -> None:
    def explode(texts: object) -> object:
        raise AssertionError("embedding not needed")

    result = export(log50, tmp_path / "out", formats={"dpo", "seed_json"}, embed=explode)
    assert result.preview.near_duplicates_skipped is None
    assert result.report["quality"]["near_duplicates_skipped"] is None


# --- atomic writing ---------------------------------------------------------------------


def test_failure_midway_leaves_no_folder(log50: PolicyDecisionLog, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    calls = 0
    real = scan.chat_record

    def failing(*args: Any) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        if calls == 20:
            raise RuntimeError("disk on fire")
        return real(*args)

    monkeypatch.setattr(scan, "chat_record", failing)
    before = listing(tmp_path)
    with pytest.raises(RuntimeError, match="disk on fire"):
        export(log50, tmp_path / "nested" / "out")
    assert calls == 20
    assert listing(tmp_path) == before  # no output, no temporary folder, no parent


def test_failure_while_replacing_keeps_the_old_export(
        log50: PolicyDecisionLog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    export(log50, out)  # a previous export: --force may replace it
    previous = {name: (out / name).read_bytes() for name in listing(out)}

    def broken_manifest(**kwargs: Any) -> dict[str, Any]:
        raise OSError("no space left on device")

    monkeypatch.setattr(training, "build_manifest", broken_manifest)
    before = listing(tmp_path)
    with pytest.raises(OSError, match="no space"):
        export(log50, out, force=True)
    assert listing(tmp_path) == before
    assert {name: (out / name).read_bytes() for name in listing(out)} == previous


def test_non_empty_folder_needs_force(log50: PolicyDecisionLog, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("keep me", encoding="utf-8")
    with pytest.raises(OutputExistsError, match="not empty; use --force"):
        export(log50, out)
    with pytest.raises(OutputExistsError, match="more than a previous export"):
        export(log50, out, force=True)  # --force never replaces someone's other files
    assert listing(out) == ["notes.txt"]
    (out / "notes.txt").unlink()
    export(log50, out)
    export(log50, out, force=True)  # a previous export is replaced
    assert listing(out) == sorted(ALL_FILES)
    assert [p for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_empty_folder_is_filled_without_force(log50: PolicyDecisionLog, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    export(log50, out)
    assert listing(out) == sorted(ALL_FILES)


def test_a_file_in_the_way_is_refused(log50: PolicyDecisionLog, tmp_path: Path) -> None:
    (tmp_path / "out").write_text("x", encoding="utf-8")
    with pytest.raises(OutputExistsError, match="not a folder"):
        export(log50, tmp_path / "out", force=True)


# --- progress, cancellation, preview ----------------------------------------------------


def test_progress_reports_rising_stages(log50: PolicyDecisionLog, tmp_path: Path) -> None:
    seen: list[tuple[str, float]] = []
    export(log50, tmp_path / "out", on_progress=lambda stage, f: seen.append((stage, f)))
    fractions = [f for _, f in seen]
    assert fractions == sorted(fractions)
    assert fractions[0] == 0.0 and fractions[-1] == 1.0
    stages = [stage for stage, _ in seen]
    assert "Choosing few-shot examples" in stages
    assert stages[-1] == "Export complete"


def test_cancellation_at_any_poll_leaves_nothing(log50: PolicyDecisionLog,
                                                 tmp_path: Path) -> None:
    polls = 0

    def count() -> bool:
        nonlocal polls
        polls += 1
        return False

    export(log50, tmp_path / "probe", should_stop=count)
    total = polls
    assert total >= 6
    before = listing(tmp_path)
    for stop_at in range(1, total + 1):
        polls = 0

        def should_stop(stop_at: int = stop_at) -> bool:
            nonlocal polls
            polls += 1
            return polls >= stop_at

        with pytest.raises(ExportCancelled):
            export(log50, tmp_path / "out", should_stop=should_stop)
        assert listing(tmp_path) == before, f"left over after poll {stop_at}"


def test_preview_matches_the_export_and_writes_nothing(
        log50: PolicyDecisionLog, tmp_path: Path) -> None:
    before = listing(tmp_path)
    preview = preview_export(log50, options(include_accepted=True))
    assert listing(tmp_path) == before
    result = export(log50, tmp_path / "out", include_accepted=True)
    assert preview == result.preview
    assert preview.lines == {name: result.files[name].records
                             for name in (FEWSHOT_FILE, SEED_JSON_FILE, CHAT_FILE, DPO_FILE)}
    assert preview.ready and preview.more_needed == 0


def test_preview_below_the_gate_reports_what_is_missing(tmp_path: Path) -> None:
    with build_log(tmp_path / "decisions.db", corrections(12)) as log:
        preview = preview_export(log, options())
    assert not preview.ready
    assert preview.more_needed == 38
    assert preview.lines[CHAT_FILE] == 12
    assert len(preview.fewshot) == 8


# --- the real embedding model -----------------------------------------------------------


@pytest.mark.slow
def test_export_with_the_real_embedding_model(tmp_path: Path) -> None:
    topics = [
        ("read", "docs/onboarding/guide.md", "allow",
         "Rule 10: members may read documentation during the day."),
        ("write", "services/api/handlers.py", "allow",
         "Rule 10: writing code in staging is within the maintainer role."),
        ("delete", "production/db/users", "deny",
         "Rule 5: only admins may run destructive actions such as dropping tables."),
        ("export", "secrets/payment_keys", "deny",
         "Rule 2: copying secrets out of the vault is never allowed, urgency or not."),
        ("deploy", "production/api", "require_attestation",
         "Rule 9: a production deploy needs an attestation before it runs."),
        ("run_migration", "production/db/orders", "require_attestation",
         "Rule 9: schema migrations change production and must be attested."),
        ("read", "secrets/deploy_token", "require_mfa",
         "Rule 7: reading a deploy token requires verified multi-factor login."),
        ("write", "staging/config.yaml", "require_mfa",
         "Rule 8: late-night writes without MFA must be verified first."),
    ]
    specs = []
    for i in range(56):
        action, target, human, why = topics[i % len(topics)]
        model = "allow" if human != "allow" else "deny"
        specs.append(Spec(model=model, human=human, review_reasoning=f"{why} (case {i})",
                          team_context="Platform team.",
                          situation=situation(i % len(topics), action=action, target=target,
                                              ticket=f"T-{i}")))
    with build_log(tmp_path / "decisions.db", specs) as log:
        result = export_training_data(log, tmp_path / "out", ExportOptions())
    examples = parse_examples((tmp_path / "out" / FEWSHOT_FILE).read_text(encoding="utf-8"))
    assert Counter(e.decision for e in examples) == Counter(
        {"allow": 2, "deny": 2, "require_attestation": 2, "require_mfa": 2})
    assert len({e.situation["target"] for e in examples}) == 8  # one per topic
    assert result.preview.near_duplicates_skipped == 56 - 8


# --- the token budget (issue 12 item 9) -------------------------------------------------

NOTE = "Ticket 4411 approved by the change board; see the attached runbook. " * 300


def budget_log(path: Path) -> PolicyDecisionLog:
    """60 corrections; the only require_attestation one carries a 20,000-character note."""
    specs = corrections(40) + corrections(19, "require_mfa")
    specs.append(Spec(model="allow", human="require_attestation",
                      situation=situation(999, note=NOTE[:20_000])))
    return build_log(path, specs)


def test_fewshot_examples_fit_the_context_and_leave_out_outliers(tmp_path: Path) -> None:
    from dataclasses import replace

    from policy_desktop.engine.prompts import build_system
    from policy_desktop.export.token_budget import (
        ANSWER_RESERVE,
        SITUATION_RESERVE,
        approximate_tokens,
    )

    outlier = "dec_2026-02-02T0805_" + f"{59:08x}"
    with budget_log(tmp_path / "decisions.db") as log:
        unbounded = preview_export(log, options())
        assert outlier in unbounded.fewshot_ids  # the only one of its type: chosen before
        result = export(log, tmp_path / "out", context_size=4096)
    assert outlier not in result.preview.fewshot_ids
    tokens = result.report["quality"]["fewshot_tokens"]
    assert tokens["outliers_skipped"] == 1
    assert tokens["used"] <= tokens["available"]
    assert tokens["context_size"] == 4096 and tokens["measured_with"] == "an approximation"
    examples = parse_examples((tmp_path / "out" / FEWSHOT_FILE).read_text(encoding="utf-8"))
    assert len(examples) == len(result.preview.fewshot_ids) >= 4
    version = replace(PromptCatalog().get(DEFAULT_PROMPT_VERSION), examples=tuple(examples))
    system = build_system(version, load_policy())  # the new prompt version's system part
    assert approximate_tokens(system) + SITUATION_RESERVE + ANSWER_RESERVE <= 4096


def test_excluded_examples_are_replaced(tmp_path: Path) -> None:
    with budget_log(tmp_path / "decisions.db") as log:
        first = preview_export(log, options(context_size=4096))
        dropped = first.fewshot_ids[0]
        second = preview_export(log, options(context_size=4096,
                                             excluded_examples=frozenset({dropped})))
    assert dropped not in second.fewshot_ids
    assert len(second.fewshot_ids) == len(first.fewshot_ids)


def test_a_small_context_takes_fewer_examples(tmp_path: Path) -> None:
    with budget_log(tmp_path / "decisions.db") as log:
        roomy = training.preview_with_budget(log, options(context_size=8192))
        tight = training.preview_with_budget(log, options(context_size=4096, fewshot_count=20))
    assert roomy[1] is not None and tight[1] is not None
    assert len(roomy[0].fewshot_ids) == 8
    assert tight[1].used <= tight[1].available < roomy[1].available
    assert len(tight[0].fewshot_ids) < 20
    assert "tokens of the" in tight[1].describe()


@pytest.mark.slow
def test_the_gguf_counter_counts_with_the_models_tokenizer() -> None:
    from policy_desktop.export.token_budget import GgufTokenCounter, approximate_tokens

    counter = GgufTokenCounter()  # the bundled model, in a child process
    try:
        texts = ["Members may read documentation.", "0123456789abcdefABCDEF" * 20, NOTE]
        counts = counter(texts)
    finally:
        counter.close()
    assert all(count > 0 for count in counts)
    assert all(approximate_tokens(t) >= n for t, n in zip(texts, counts, strict=True))


def test_reviewers_disagreeing_export_the_adjudicated_answer_or_nothing(
        log50: PolicyDecisionLog, tmp_path: Path) -> None:
    """A decision two reviewers answered differently (the blind overlap sample) is left out
    of the training data until adjudicated, then exported with the adjudicated answer."""
    from policy_desktop.store.review_queue import ReviewQueue
    from policy_desktop.store.team import ReviewTeam

    disputed = PolicyDecision(
        situation=situation(9000, actor="disputed-actor"), model_name="gemma-3-270m",
        model_version="Q4_K_M", prompt_version="v2_fewshot_8examples", decision="allow",
        reasoning="Members may read.", timestamp="2026-03-01T10:00:00+00:00")
    disputed_id = log50.log_decision(disputed)
    queue = ReviewQueue(log50)
    queue.set_overlap_percent(100)
    for name, answer in (("ann", "deny"), ("bob", "require_mfa")):
        [claim] = [c for c in queue.claim(name, 100) if c.decision_id == disputed_id]
        queue.submit(claim, answer)

    def exported_decision(out: Path) -> list[str]:
        export(log50, out)
        return [json.loads(line["messages"][-1]["content"])["decision"]
                for line in read_lines(out / CHAT_FILE)
                if "disputed-actor" in line["messages"][1]["content"]]

    assert exported_decision(tmp_path / "open") == []
    ReviewTeam(log50).adjudicate(disputed_id, "dana", "require_attestation")
    assert exported_decision(tmp_path / "settled") == ["require_attestation"]
