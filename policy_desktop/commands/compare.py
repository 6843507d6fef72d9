"""``policy-desktop compare RUN_A RUN_B``: two runs side by side in the terminal.

``compare REPLAY_RUN originals`` (either order) compares a replay run with the decisions
it re-decided, decision by decision, judged against the human final decisions.
"""

from __future__ import annotations

import argparse

from policy_desktop.commands.common import guarded, open_log, percent
from policy_desktop.store import RunRecord
from policy_desktop.store.run_comparison import (
    ORIGINALS,
    RunComparison,
    RunTotals,
    ScenarioOutcome,
    compare_runs,
)


def _run_line(label: str, run: RunRecord) -> str:
    return (f"  {label}: {run.run_id}  prompt {run.prompt_version}  model {run.model_name} "
            f"({run.model_version})  {run.started[:16].replace('T', ' ')}  {run.status}")


def _cell(outcome: ScenarioOutcome | None) -> str:
    if outcome is None:
        return f"{'—':<20} {'':1} {'':>5}"
    mark = {True: "✓", False: "✗", None: " "}[outcome.correct]
    coverage = "" if outcome.coverage is None else f"{outcome.coverage * 100:.0f}%"
    return f"{outcome.decision:<20} {mark} {coverage:>5}"


def _totals(totals: RunTotals) -> str:
    return (f"accuracy {percent(totals.accuracy)} ({totals.correct}/{totals.judged}), "
            f"mean coverage {percent(totals.mean_coverage)}, {totals.scenarios} scenarios")


def format_comparison(comparison: RunComparison) -> str:
    """The comparison as a text table with totals."""
    width = max([9, *(len(row.scenario_id) + 1 for row in comparison.rows)])
    lines = ["Comparing runs", _run_line("A", comparison.run_a), _run_line("B", comparison.run_b),
             "", f"{'Scenario':<{width}} {'Expected':<20} {'A':<28} {'B':<28} Change",
             "-" * (91 + width)]
    for row in comparison.rows:
        lines.append(f"{row.scenario_id:<{width}} {row.expected or '—':<20} {_cell(row.a):<28} "
                     f"{_cell(row.b):<28} {row.change}")
    changes = [row.change for row in comparison.rows]
    lines += ["-" * (91 + width), f"A: {_totals(comparison.totals_a)}",
              f"B: {_totals(comparison.totals_b)}",
              f"Fixed {changes.count('fixed')}, regressed {changes.count('regressed')}, "
              f"changed {changes.count('changed')}, same {changes.count('same')}"]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    def show() -> int:
        run_a, run_b = args.run_a, args.run_b
        if run_a != ORIGINALS and run_b == ORIGINALS:
            run_a, run_b = run_b, run_a  # the originals are always the "before"
        with open_log(args.db, create=False) as log:
            print(format_comparison(compare_runs(log, run_a, run_b)))
        return 0

    return guarded(show)
