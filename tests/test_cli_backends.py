"""The terminal commands on either backend, as a person runs them: the installed
``policy-desktop`` script in real subprocesses on ``store_location`` (a SQLite file, or
a fresh database on the PostgreSQL test server). The database is checked after each."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from policy_desktop.store import PolicyDecisionLog
from policy_desktop.store.assignments import Assignments
from policy_desktop.store.review_queue import ReviewQueue

SCRIPT = Path(sys.executable).parent / "policy-desktop"
KINDS = ("allow", "deny", "require_mfa", "require_attestation")


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, input=stdin,
                          env=os.environ.copy(), timeout=120, check=False)


def _password(location: str) -> str | None:
    found = re.match(r"postgres(?:ql)?://[^:/@]+:([^@]+)@", location)
    return found[1] if found else None


def _records(count: int) -> str:
    return "".join(json.dumps({
        "timestamp": f"2026-02-02T08:{i:02d}:00+00:00", "situation": {"actor": f"u{i}"},
        "model_name": "gemma", "model_version": "Q4", "prompt_version": "v2",
        "decision": KINDS[i % 4], "reasoning": f"reason {i}",
        "expected_decision": "allow"}) + "\n" for i in range(count))


def test_import_dump_and_stats(store_location: str, tmp_path: Path) -> None:
    PolicyDecisionLog(store_location).close()
    source = tmp_path / "in.jsonl"
    source.write_text(_records(8), encoding="utf-8")
    done = cli("import", "--db", store_location, str(source))
    assert done.returncode == 0, done.stderr
    assert done.stdout == "imported 8, duplicates 0, invalid 0\n"
    again = cli("import", "--db", store_location, "-", stdin=source.read_text())
    assert again.stdout == "imported 0, duplicates 8, invalid 0\n"
    dumped = cli("dump", "--db", store_location)
    assert dumped.returncode == 0, dumped.stderr
    lines = dumped.stdout.splitlines()
    assert sorted(json.loads(line)["reasoning"] for line in lines) == sorted(
        f"reason {i}" for i in range(8))
    stats = cli("stats", "--db", store_location)
    assert stats.returncode == 0, stats.stderr
    assert "Total decisions: 8" in stats.stdout and "Unreviewed: 8" in stats.stdout
    assert stats.stdout.rstrip().splitlines()[-1] == (
        "Training readiness: 0 corrections; 50 more needed")
    password = _password(store_location)
    for output in (done, again, dumped, stats):
        assert password is None or password not in output.stdout + output.stderr
    with PolicyDecisionLog(store_location, create=False) as log:
        assert log.get_statistics()["total"] == 8


def test_team_commands_and_team_statistics(store_location: str) -> None:
    PolicyDecisionLog(store_location).close()
    source = _records(8)
    assert cli("import", "--db", store_location, "-", stdin=source).returncode == 0
    assert cli("team", "--db", store_location, "overlap", "100").returncode == 0
    assign = cli("team", "--db", store_location, "assign", "--reviewer", "ann",
                 "--decision", "deny", "--by", "lead")
    assert assign.returncode == 0, assign.stderr
    assert assign.stdout.startswith("Assigned 2 decisions (decision=deny) to ann")
    with PolicyDecisionLog(store_location, create=False) as log:
        queue = ReviewQueue(log)
        for name in ("ann", "bob"):
            for claim in queue.claim(name, 20):
                queue.submit(claim, "deny" if name == "ann" else claim.decision.decision)
        assert len(Assignments(log).my_queue("ann")) == 0  # ann reviewed her queue
    listing = cli("team", "--db", store_location, "assignments")
    assert re.search(r"ann +0 +2  decision=deny  \(lead, ", listing.stdout), listing.stdout
    figures = cli("stats", "--db", store_location, "--agreement", "--reviewers")
    assert figures.returncode == 0, figures.stderr
    # ann said deny to all 8, bob kept the model's answer: they agree on the 2 denies.
    assert re.search(r"Overall: +8  observed  25.0%", figures.stdout), figures.stdout
    assert "Awaiting adjudication: 6" in figures.stdout
    assert re.search(r"^ann +8 +6 +8 +25.0%", figures.stdout, re.MULTILINE)
    team = cli("team", "--db", store_location, "list")
    assert [row.split()[0] for row in team.stdout.splitlines()[1:3]] == ["ann", "bob"]
    assert "lead" not in team.stdout
    back = cli("team", "--db", store_location, "unassign", "--reviewer", "ann")
    assert back.stdout.strip() == "0 unreviewed decisions back in the unassigned pool"


def _refused(store_location: str) -> subprocess.CompletedProcess[str]:
    """``stats`` on a log that is not there (a missing file, or database on the server)."""
    if store_location.startswith("postgres"):
        parts = urlsplit(store_location)
        nowhere = urlunsplit(parts._replace(path=parts.path + "_missing"))
    else:
        nowhere = str(Path(store_location).with_name("missing.db"))
    return cli("stats", "--db", nowhere)


def test_a_refused_command_never_shows_the_password(store_location: str) -> None:
    missing = _refused(store_location)
    assert missing.returncode == 1, missing.stdout
    assert missing.stderr.startswith("policy-desktop: error: ")
    password = _password(store_location)
    assert password is None or password not in missing.stderr
    assert password is None or ":***@" in missing.stderr


def test_a_refused_command_is_one_line(store_location: str) -> None:
    missing = _refused(store_location)
    assert len(missing.stderr.strip().splitlines()) == 1, missing.stderr
