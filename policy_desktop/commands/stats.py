"""``policy-desktop stats``: the seed's statistics view; ``--agreement`` and ``--reviewers``
show the review team's inter-rater agreement and each reviewer's figures."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from policy_desktop.commands.common import guarded, open_log, percent

if TYPE_CHECKING:
    from policy_desktop.store import PolicyDecisionLog
    from policy_desktop.store.agreement import AgreementFigures
    from policy_desktop.store.analytics import ReplayTally
    from policy_desktop.store.team import AgreementReport, ReviewerFigures

RULE = "=" * 70


def readiness_line(stats: dict[str, Any]) -> str:
    """``N corrections; M more needed`` or ``ready for export`` (the export gate's count:
    ``gate_corrections`` when the figures leave replay answers out)."""
    corrections = stats.get("gate_corrections", stats["corrections"])
    if stats["training_ready"]:
        return f"{corrections} corrections; ready for export"
    return f"{corrections} corrections; {stats['corrections_needed']} more needed"


def statistics_text(log: PolicyDecisionLog) -> str:
    """The statistics view of ``log``: production decisions, replay answers counted apart."""
    from policy_desktop.store.analytics import production_statistics

    stats, replays = production_statistics(log)
    return format_statistics(stats, log.display_name, replays)


def format_statistics(stats: dict[str, Any], database: str,
                      replays: ReplayTally | None = None) -> str:
    """The statistics view as text (shared by ``stats`` and ``review --stats``); with
    ``replays``, a line saying what the figures leave out.

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
    if replays is not None and replays.answers:
        plural = "" if replays.runs == 1 else "s"
        lines.append(f"Replay answers: {replays.answers} in {replays.runs} replay run{plural} "
                     f"({replays.reviewed} reviewed), left out of the figures above")
    lines += [RULE, f"Training readiness: {readiness_line(stats)}"]
    return "\n".join(lines)


HELP = "show the decision log's statistics and training readiness"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--agreement`` and ``--reviewers`` (the team views instead of the seed's view)."""
    parser.add_argument("--agreement", action="store_true",
                        help="inter-rater agreement on the overlap sample (kappa, alpha), "
                             "and how many disagreements await adjudication")
    parser.add_argument("--reviewers", action="store_true",
                        help="each reviewer's reviews, corrections, agreement and pace "
                             "(alphabetical, not a ranking)")


def _number(value: float | None, undefined: str = "n/a") -> str:
    return undefined if value is None else f"{value:.2f}"


def _figures_text(figures: AgreementFigures) -> str:
    one_category = figures.units > 0 and figures.alpha is None
    undefined = "n/a (one category only)" if one_category else "n/a"
    kappa = f"kappa {_number(figures.kappa, undefined)}" if figures.units else "kappa n/a"
    return (f"{figures.units:>6}  observed {percent(figures.observed):>6}  {kappa}  "
            f"alpha {_number(figures.alpha, undefined)}")


def format_agreement(report: AgreementReport, overlap_percent: float, awaiting: int,
                     database: str) -> str:
    """The agreement view: overall, by the model's decision, per pair of reviewers."""
    lines = [RULE, "INTER-RATER AGREEMENT", RULE, "", f"Database: {database}",
             f"Overlap sample: {overlap_percent:g}% of decisions get a second, blind review",
             f"Reviewers in the sample: {', '.join(report.reviewers) or '(none yet)'}", "",
             f"Overall:     {_figures_text(report.overall)}"]
    if report.by_type:
        width = max(len(name) for name in report.by_type)
        lines += ["", "By the model's decision:"]
        lines += [f"  {name:<{width}}  {_figures_text(figures)}"
                  for name, figures in report.by_type.items()]
    if report.by_month:
        lines += ["", "By month (when the second answer was given, UTC):"]
        lines += [f"  {month}  {_figures_text(figures)}"
                  for month, figures in report.by_month.items()]
    if report.pairs:
        lines += ["", "By pair of reviewers (Cohen's kappa):"]
        lines += [f"  {a} / {b}  {_figures_text(figures)}"
                  for (a, b), figures in report.pairs.items()]
    lines += ["", "kappa: Cohen's (two answers per decision); alpha: Krippendorff's (nominal)",
              RULE, f"Awaiting adjudication: {awaiting}"]
    return "\n".join(lines)


def format_reviewers(figures: list[ReviewerFigures], database: str) -> str:
    """Each reviewer's figures, alphabetically (a team view, deliberately not ranked)."""
    lines = [RULE, "REVIEWERS (alphabetical)", RULE, "", f"Database: {database}", ""]
    if not figures:
        return "\n".join([*lines, "(nobody has reviewed yet)", RULE])
    width = max(8, *(len(f.name) for f in figures))
    lines.append(f"{'Reviewer':<{width}}  {'reviews':>7}  {'corrections':>11}  "
                 f"{'overlap':>7}  {'agreement':>9}  {'s/review':>8}  first / last review")
    for f in figures:
        pace = "n/a" if f.median_seconds is None else f"{f.median_seconds:.0f}"
        span = f"{f.first[:16]} / {f.last[:16]}" if f.first and f.last else "-"
        lines.append(f"{f.name:<{width}}  {f.reviews:>7}  {f.corrections:>11}  {f.shared:>7}  "
                     f"{percent(f.agreement):>9}  {pace:>8}  {span}")
    lines += ["", "overlap: decisions answered blind along with another reviewer",
              "agreement: how often those answers matched; s/review: median time per review",
              RULE]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    def show() -> int:
        with open_log(args.db, create=False) as log:
            if getattr(args, "agreement", False) or getattr(args, "reviewers", False):
                from policy_desktop.store.review_queue import overlap_percent
                from policy_desktop.store.team import ReviewTeam

                team = ReviewTeam(log)
                views = []
                if getattr(args, "agreement", False):
                    views.append(format_agreement(
                        team.agreement(), overlap_percent(log),
                        len(team.disagreements()), log.display_name))
                if getattr(args, "reviewers", False):
                    views.append(format_reviewers(team.reviewer_figures(), log.display_name))
                print("\n\n".join(views))
            else:
                print(statistics_text(log))
        return 0

    return guarded(show)
