"""``policy-desktop stats``: the seed's statistics view."""

from __future__ import annotations

import argparse
from typing import Any

from policy_desktop.commands.common import guarded, open_log, percent

RULE = "=" * 70


def readiness_line(stats: dict[str, Any]) -> str:
    """``N corrections; M more needed`` or ``ready for export``."""
    if stats["training_ready"]:
        return f"{stats['corrections']} corrections; ready for export"
    return f"{stats['corrections']} corrections; {stats['corrections_needed']} more needed"


def format_statistics(stats: dict[str, Any], database: str) -> str:
    """The statistics view as text (shared by ``stats`` and ``review --stats``).

    The last line is always ``Training readiness: ...`` so scripts can read it.
    """
    lines = [RULE, "DECISION LOG STATISTICS", RULE, "", f"Database: {database}", "",
             f"Total decisions: {stats['total']}",
             f"Reviewed: {stats['reviewed']}",
             f"Unreviewed: {stats['unreviewed']}",
             f"Corrections: {stats['corrections']}", ""]
    lines.append("Decision distribution:")
    if stats["decision_distribution"]:
        width = max(len(name) for name in stats["decision_distribution"])
        for name, count in stats["decision_distribution"].items():
            share = count / stats["total"] if stats["total"] else 0
            lines.append(f"  {name:<{width}}  {count:>8}  ({percent(share)})")
    else:
        lines.append("  (no decisions yet)")
    lines.append("")
    if stats["accuracy"] is None:
        lines.append("Accuracy: n/a (no decision with an expected outcome)")
    else:
        lines.append(f"Accuracy: {percent(stats['accuracy'])} "
                     f"({stats['correct']}/{stats['evaluated']} evaluated decisions correct)")
    if stats.get("runs"):
        runs = ", ".join(f"{status} {count}" for status, count in stats["runs"].items())
        lines.append(f"Runs: {runs}")
    if stats["review_actions"]:
        actions = ", ".join(f"{name} {count}" for name, count in
                            sorted(stats["review_actions"].items()))
        lines.append(f"Reviews: {actions}")
    lines += [RULE, f"Training readiness: {readiness_line(stats)}"]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    def show() -> int:
        with open_log(args.db, create=False) as log:
            print(format_statistics(log.get_statistics(), log.display_name))
        return 0

    return guarded(show)
