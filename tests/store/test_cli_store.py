"""``policy-desktop stats``, ``import`` and ``dump``: in-process, and in real subprocesses."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from store_helpers import (
    TRICKY_TEXTS,
    create_seed_database,
    files_in,
    make_decision,
    raw_rows,
    timestamp,
)

from policy_desktop.cli import main
from policy_desktop.store import PolicyDecisionLog
from policy_desktop.store.schema import SCHEMA_VERSION

REPO = Path(__file__).resolve().parents[2]
SCRIPT = Path(sys.executable).parent / "policy-desktop"
HEAVY_MODULES = ("PySide6", "torch", "llama_cpp", "sentence_transformers")

VALID = {"timestamp": "2026-02-02T08:05:12+00:00", "situation": {"actor": "ann"},
         "model_name": "gemma", "model_version": "Q4", "prompt_version": "v2",
         "decision": "allow"}


def jsonl(*records: dict[str, object] | str) -> str:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records)


def populated(path: Path | str, corrections: int = 0, extra: int = 3) -> list[str]:
    """A database with ``corrections`` corrected and ``extra`` unreviewed decisions."""
    with PolicyDecisionLog(path) as log:
        ids = [log.log_decision(make_decision(i, decision="allow", timestamp=timestamp(i)))
               for i in range(corrections + extra)]
        for decision_id in ids[:corrections]:
            log.mark_reviewed(decision_id, "deny", "Human says no.", "ann")
    return ids


def run_cli(*args: str, env: dict[str, str] | None = None, stdin: str | None = None,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The installed ``policy-desktop`` script in a real subprocess."""
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, input=stdin,
                          env={**os.environ, **(env or {})}, cwd=cwd, timeout=120,
                          check=False)


# --- stats ----------------------------------------------------------------------------------------


def test_stats_prints_the_statistics_view(store_location: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    populated(store_location, corrections=2, extra=3)
    assert main(["stats", "--db", store_location]) == 0
    out = capsys.readouterr().out
    assert "DECISION LOG STATISTICS" in out
    with PolicyDecisionLog(store_location, create=False) as log:
        assert f"Database: {log.display_name}" in out  # (a server's password masked)
    for text in ("Total decisions: 5", "Reviewed: 2", "Unreviewed: 3", "Corrections: 2",
                 "allow", "Accuracy: "):
        assert text in out
    assert out.rstrip("\n").splitlines()[-1] == (
        "Training readiness: 2 corrections; 48 more needed")


def test_stats_says_ready_at_the_gate(store_location: str,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    populated(store_location, corrections=50, extra=0)
    assert main(["stats", "--db", store_location]) == 0
    last = capsys.readouterr().out.rstrip("\n").splitlines()[-1]
    assert last == "Training readiness: 50 corrections; ready for export"


def test_stats_of_an_empty_log(store_location: str,
                               capsys: pytest.CaptureFixture[str]) -> None:
    PolicyDecisionLog(store_location).close()
    assert main(["stats", "--db", store_location]) == 0
    out = capsys.readouterr().out
    assert "Total decisions: 0" in out and "Accuracy: n/a" in out
    assert out.rstrip().endswith("Training readiness: 0 corrections; 50 more needed")


# --- choosing the database ------------------------------------------------------------------------


def test_db_option_env_var_and_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(jsonl(VALID))
    # 1. the default: policy_decisions.db in $XDG_DATA_HOME/policy-desktop
    default = Path(os.environ["XDG_DATA_HOME"]) / "policy-desktop" / "policy_decisions.db"
    assert not default.exists()
    assert main(["import", str(source)]) == 0
    assert default.is_file()
    # 2. $POLICY_DESKTOP_DB wins over the default
    from_env = tmp_path / "env.db"
    monkeypatch.setenv("POLICY_DESKTOP_DB", str(from_env))
    assert main(["import", str(source), str(source)]) == 0
    assert from_env.is_file()
    # 3. --db wins over both, before or after the command
    option = tmp_path / "option.db"
    assert main(["import", "--db", str(option), str(source)]) == 0
    capsys.readouterr()
    for args in (["stats", "--db", str(option)], ["--db", str(option), "stats"]):
        assert main(args) == 0
        assert f"Database: {option}" in capsys.readouterr().out
    assert main(["stats"]) == 0
    assert f"Database: {from_env}" in capsys.readouterr().out
    monkeypatch.delenv("POLICY_DESKTOP_DB")
    assert main(["stats"]) == 0
    assert f"Database: {default}" in capsys.readouterr().out
    assert len(raw_rows(default)) == len(raw_rows(from_env)) == len(raw_rows(option)) == 1


def test_db_may_be_a_sqlite_url(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "url.db"
    populated(path, corrections=1, extra=0)
    assert main(["stats", "--db", f"sqlite:///{path}"]) == 0
    assert "Corrections: 1" in capsys.readouterr().out


# --- refusing files, never creating one -----------------------------------------------------------


@pytest.mark.parametrize("command", [["stats"], ["dump"], ["dump", "--unreviewed"]])
def test_read_only_commands_never_create_a_database(tmp_path: Path, command: list[str],
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    typo = tmp_path / "decisons.db"
    assert main([*command, "--db", str(typo)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and str(typo) in captured.err
    assert files_in(tmp_path) == set()


def test_read_only_commands_do_not_create_the_default_database(
        capsys: pytest.CaptureFixture[str]) -> None:
    data = Path(os.environ["XDG_DATA_HOME"])
    assert main(["stats"]) == 1
    assert main(["dump"]) == 1
    assert "policy_decisions.db" in capsys.readouterr().err
    assert not data.exists() or not any(data.rglob("*"))


def _not_sqlite(path: Path) -> None:
    path.write_text("this is a CSV, not a database\n")


def _newer(path: Path) -> None:
    populated(path)
    import sqlite3

    connection = sqlite3.connect(path)
    connection.execute("UPDATE store_meta SET value = ? WHERE key = 'schema_version'",
                       (str(SCHEMA_VERSION + 1),))
    connection.commit()
    connection.close()


@pytest.mark.parametrize("make", [_not_sqlite, _newer], ids=["not-sqlite", "newer-schema"])
@pytest.mark.parametrize("command", ["stats", "dump", "import"])
def test_refused_file_one_line_error_and_unchanged(tmp_path: Path, make: object, command: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "db"
    folder.mkdir()
    path = folder / "decisions.db"
    make(path)  # type: ignore[operator]
    before, listing = path.read_bytes(), files_in(folder)
    source = tmp_path / "in.jsonl"
    source.write_text(jsonl(VALID))
    args = [command, "--db", str(path)] + ([str(source)] if command == "import" else [])
    assert main(args) != 0
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and str(path) in lines[0] and lines[0].startswith("policy-desktop:")
    assert path.read_bytes() == before
    assert files_in(folder) == listing


# --- import ---------------------------------------------------------------------------------------


def test_import_reports_every_invalid_line(tmp_path: Path, db_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "mixed.jsonl"
    source.write_text(jsonl(
        VALID,
        "{oops",
        {**VALID, "decision": "perhaps"},
        "",
        {**VALID, "timestamp": "soon"},
        {**VALID, "reasoning_coverage": 7},
        [1, 2],
        {**VALID, "tags": "x"},
        {**VALID, "situation": "x"},
        {**VALID, "prompt_version": None},
        {**VALID, "scenario_id": "second good line"},
    ))
    assert main(["import", "--db", str(db_path), str(source)]) == 1
    captured = capsys.readouterr()
    problems = captured.err.splitlines()
    assert [p.split(": ", 1)[0] for p in problems] == [
        f"{source}:{n}" for n in (2, 3, 5, 6, 7, 8, 9, 10)]
    assert "not JSON" in problems[0] and "perhaps" in problems[1]
    assert "ISO-8601" in problems[2] and "between 0 and 1" in problems[3]
    assert captured.out == "imported 2, duplicates 0, invalid 8\n"
    assert len(raw_rows(db_path)) == 2


def test_import_twice_adds_nothing(tmp_path: Path, db_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(jsonl(VALID, {**VALID, "scenario_id": "E2"}, {**VALID, "decision": "deny"}))
    assert main(["import", "--db", str(db_path), str(source)]) == 0
    assert capsys.readouterr().out == "imported 3, duplicates 0, invalid 0\n"
    assert main(["import", "--db", str(db_path), str(source)]) == 0
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("imported 0, duplicates 3, invalid 0\n", "")
    assert len(raw_rows(db_path)) == 3


def test_import_conflict(tmp_path: Path, db_path: Path,
                         capsys: pytest.CaptureFixture[str]) -> None:
    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    first.write_text(jsonl({**VALID, "decision_id": "dec_x", "reasoning": "one"}))
    second.write_text(jsonl({**VALID, "decision_id": "dec_x", "reasoning": "two"}))
    assert main(["import", "--db", str(db_path), str(first)]) == 0
    assert main(["import", "--db", str(db_path), str(second)]) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith(f"{second}:1: conflict: dec_x")
    assert "conflicts 1" in captured.out
    assert raw_rows(db_path)[0]["reasoning"] == "one"


def test_import_missing_file(tmp_path: Path, db_path: Path,
                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["import", "--db", str(db_path), str(tmp_path / "nope.jsonl")]) == 1
    assert "nope.jsonl: no such file" in capsys.readouterr().err
    assert not db_path.exists()


def test_import_from_stdin(db_path: Path, monkeypatch: pytest.MonkeyPatch,
                           capsys: pytest.CaptureFixture[str]) -> None:
    import io

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(jsonl(VALID).encode())))
    assert main(["import", "--db", str(db_path), "-"]) == 0
    assert capsys.readouterr().out == "imported 1, duplicates 0, invalid 0\n"


def test_migrating_through_the_cli_says_so(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "seed.db"
    create_seed_database(path, [{**VALID, "decision_id": "d1"}])
    assert main(["stats", "--db", str(path)]) == 0
    captured = capsys.readouterr()
    assert "Upgraded the database schema" in captured.err and ".bak" in captured.err
    assert "Total decisions: 1" in captured.out


# --- dump -----------------------------------------------------------------------------------------


def test_dump_then_import_reproduces_every_row(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    source, target = tmp_path / "source.db", tmp_path / "target.db"
    ids = populated(source, corrections=3, extra=4)
    with PolicyDecisionLog(source) as log:
        for text in TRICKY_TEXTS:
            log.log_decision(make_decision(reasoning=text, situation={"q": text}, tags=[text]))
        log.mark_reviewed(ids[4])
        log.mark_reviewed(ids[5], None, TRICKY_TEXTS[2])
    assert main(["dump", "--db", str(source)]) == 0
    dumped = capsys.readouterr().out
    lines = dumped.splitlines()
    assert len(lines) == 7 + len(TRICKY_TEXTS)
    record = json.loads(lines[0])
    assert isinstance(record["situation"], dict) and isinstance(record["tags"], list)
    assert record["reviewed"] is True and record["decision_correct"] in (True, False)
    dump_file = tmp_path / "dump.jsonl"
    dump_file.write_text(dumped, encoding="utf-8")
    assert main(["import", "--db", str(target), str(dump_file)]) == 0
    assert capsys.readouterr().out == f"imported {len(lines)}, duplicates 0, invalid 0\n"
    assert raw_rows(target) == raw_rows(source)


@pytest.mark.parametrize(("flag", "count"),
                         [("--unreviewed", 3), ("--incorrect", 4), ("--corrections", 2)])
def test_dump_selections(db_path: Path, flag: str, count: int,
                         capsys: pytest.CaptureFixture[str]) -> None:
    with PolicyDecisionLog(db_path) as log:
        ids = [log.log_decision(make_decision(i, decision="allow", decision_correct=i % 3 == 0))
               for i in range(6)]
        log.mark_reviewed(ids[0])
        log.mark_reviewed(ids[1], "deny")
        log.mark_reviewed(ids[2], None, "Other.")
    assert main(["dump", "--db", str(db_path), flag]) == 0
    assert len(capsys.readouterr().out.splitlines()) == count


def test_dump_options_are_exclusive(db_path: Path) -> None:
    with pytest.raises(SystemExit):
        main(["dump", "--db", str(db_path), "--unreviewed", "--incorrect"])


# --- real subprocesses ----------------------------------------------------------------------------


def test_real_script_import_stats_dump(tmp_path: Path) -> None:
    path = tmp_path / "real.db"
    source = tmp_path / "in.jsonl"
    source.write_text(jsonl(VALID, {**VALID, "decision": "deny", "reasoning": "Grüße 🔐"},
                            "not json"), encoding="utf-8")
    imported = run_cli("import", "--db", str(path), str(source))
    assert imported.returncode == 1
    assert imported.stdout == "imported 2, duplicates 0, invalid 1\n"
    assert imported.stderr.startswith(f"{source}:3: not JSON")
    stats = run_cli("stats", env={"POLICY_DESKTOP_DB": str(path)})
    assert stats.returncode == 0, stats.stderr
    assert stats.stdout.rstrip().splitlines()[-1] == (
        "Training readiness: 0 corrections; 50 more needed")
    dumped = run_cli("dump", "--db", str(path), env={"PYTHONIOENCODING": "ascii"})
    assert dumped.returncode == 0, dumped.stderr
    records = [json.loads(text) for text in dumped.stdout.splitlines()]
    assert {r["reasoning"] for r in records} == {None, "Grüße 🔐"}


def test_python_dash_m_and_a_missing_database(tmp_path: Path) -> None:
    typo = tmp_path / "typo.db"
    result = subprocess.run([sys.executable, "-m", "policy_desktop", "stats", "--db", str(typo)],
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and str(typo) in result.stderr
    assert files_in(tmp_path) == set()


def test_dump_into_a_closed_pipe_is_quiet(tmp_path: Path) -> None:
    path = tmp_path / "many.db"
    with PolicyDecisionLog(path) as log:
        log.log_decisions(make_decision(i, reasoning="x" * 2000) for i in range(2000))
    process = subprocess.Popen([str(SCRIPT), "dump", "--db", str(path)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    first = process.stdout.readline()
    process.stdout.close()  # like `| head -1`
    error = process.stderr.read()
    process.stderr.close()
    assert process.wait(timeout=120) == 0
    assert json.loads(first)["decision_id"]
    assert error == b""


@pytest.mark.parametrize("command", ["stats", "import", "dump"])
def test_store_commands_never_import_heavy_modules(tmp_path: Path, command: str) -> None:
    path = tmp_path / "light.db"
    populated(path, corrections=1)
    source = tmp_path / "in.jsonl"
    source.write_text(jsonl(VALID))
    args = [command, "--db", str(path)] + ([str(source)] if command == "import" else [])
    code = (
        "import sys\n"
        "from policy_desktop.cli import main\n"
        f"status = main({args!r})\n"
        f"loaded = sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY_MODULES!r})\n"
        "assert not loaded, loaded\n"
        "print('STATUS', status, file=sys.stderr)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=REPO, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert "STATUS 0" in result.stderr


# --- stats --agreement / --reviewers ---------------------------------------------------------


def _team_stats(location: str, capsys: pytest.CaptureFixture[str], **flags: bool) -> str:
    import argparse

    from policy_desktop.commands import stats

    parser = argparse.ArgumentParser()
    stats.add_arguments(parser)
    args = parser.parse_args([f"--{flag}" for flag, on in flags.items() if on])
    args.db = location
    assert stats.run(args) == 0
    return capsys.readouterr().out


def _two_reviewers(location: str) -> None:
    from policy_desktop.store.review_queue import ReviewQueue

    with PolicyDecisionLog(location) as log:
        decisions = [make_decision(i) for i in range(4)]
        log.log_decisions(decisions)
        ids = [d.decision_id for d in decisions]
        queue = ReviewQueue(log)
        queue.set_overlap_percent(100)
        answers = {"ann": ["allow", "deny", "deny", "allow"],
                   "bob": ["allow", "deny", "allow", "allow"]}
        for name in ("bob", "ann"):
            for claim in queue.claim(name, 10):
                queue.submit(claim, answers[name][ids.index(claim.decision_id)])


def test_stats_agreement_shows_kappa_alpha_and_the_adjudication_queue(
        store_location: str, capsys: pytest.CaptureFixture[str]) -> None:
    _two_reviewers(store_location)
    out = _team_stats(store_location, capsys, agreement=True)
    assert "Overlap sample: 100% of decisions" in out
    assert "Reviewers in the sample: ann, bob" in out
    assert re.search(r"Overall: +4  observed  75.0%  kappa 0.50  alpha 0.53", out)
    assert re.search(r"allow +1  observed 100.0%  kappa n/a \(one category only\)", out)
    assert "ann / bob" in out
    assert out.rstrip().endswith("Awaiting adjudication: 1")


def test_stats_reviewers_is_alphabetical_not_ranked(
        store_location: str, capsys: pytest.CaptureFixture[str]) -> None:
    _two_reviewers(store_location)
    with PolicyDecisionLog(store_location) as log:
        log.mark_reviewed(log.get_all_decisions(1)[0].decision_id or "", "deny", None, "Aaron")
    out = _team_stats(store_location, capsys, reviewers=True)
    rows = [line.split()[0] for line in out.splitlines()
            if line.split() and line.split()[0] in ("Aaron", "ann", "bob")]
    assert rows == ["Aaron", "ann", "bob"]
    assert re.search(r"^ann +4 +2 +4 +75.0%", out, re.MULTILINE)
    assert "rank" not in out.lower()


def test_stats_agreement_of_a_log_without_a_team(
        store_location: str, capsys: pytest.CaptureFixture[str]) -> None:
    with PolicyDecisionLog(store_location) as log:
        log.log_decision(make_decision(0))
    out = _team_stats(store_location, capsys, agreement=True, reviewers=True)
    assert "Reviewers in the sample: (none yet)" in out and "(nobody has reviewed yet)" in out
    with PolicyDecisionLog(store_location) as log:
        assert "review_claims" not in log.database.get_tables()  # stats wrote nothing


def test_team_add_list_and_overlap(store_location: str,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    PolicyDecisionLog(store_location).close()
    assert main(["team", "--db", store_location, "add", "zed"]) == 0
    assert main(["team", "--db", store_location, "add", "amy"]) == 0
    assert main(["team", "--db", store_location, "overlap"]) == 0
    capsys.readouterr()
    assert main(["team", "--db", store_location, "list"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert [row.split()[0] for row in rows[1:3]] == ["amy", "zed"]
    assert rows[1].split()[1:] == ["0", "0", "0", "n/a", "-"]
    assert main(["team", "--db", store_location, "overlap", "150"]) == 1
    assert "between 0 and 100" in capsys.readouterr().err
    assert main(["team", "--db", store_location, "overlap", "25"]) == 0
    assert "25% of decisions" in capsys.readouterr().out
