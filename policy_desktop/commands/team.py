"""``policy-desktop team``: the review team's settings, its list, assignments, adjudication.

``team overlap [PERCENT]`` shows or sets the share of decisions that get a second,
blind review; ``team add NAME`` puts a reviewer on the list; ``team list`` shows it
with each reviewer's work (alphabetically, not a ranking); ``team assign --reviewer NAME
[filter options]`` delegates the unreviewed decisions of a filter (the table's filters)
to one reviewer; ``team assignments`` lists them; ``team unassign ID | --reviewer NAME``
takes them back; ``team adjudicate`` settles the overlap sample's disagreements.
"""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from policy_desktop.store.assignments import Assignment
    from policy_desktop.store.queries import DecisionFilter
    from policy_desktop.store.team import ReviewedBy, ReviewerFigures

HELP = ("the review team: overlap sample, reviewer list, assigned queues, adjudication of "
        "disagreements")


def _add_filter_options(parser: argparse.ArgumentParser) -> None:
    """The decision table's filters (``DecisionFilter``), as options."""
    from policy_desktop.vocabulary import DECISIONS  # (the store is imported only when run)

    group = parser.add_argument_group("which decisions (the table's filters)")
    group.add_argument("--view", default="unreviewed",
                       help="a view of the table: unreviewed (default), incorrect, corrections, "
                            "reviewed, all, failures (only unreviewed decisions are assigned)")
    group.add_argument("--text", default="", help="text in the situation, reasoning or id")
    group.add_argument("--decision", choices=DECISIONS, help="the model's decision")
    group.add_argument("--expected", choices=DECISIONS, help="the scenario's expected decision")
    group.add_argument("--model", dest="model_name", metavar="NAME", help="the model's name")
    group.add_argument("--prompt-version", metavar="VERSION")
    group.add_argument("--run", dest="run_id", metavar="RUN_ID")
    group.add_argument("--pass-coverage", type=float, metavar="SHARE",
                       help="the failures view's reasoning-coverage threshold")


def filter_from_args(args: argparse.Namespace) -> DecisionFilter:
    """The :class:`DecisionFilter` the options describe."""
    from policy_desktop.store.errors import StoreError
    from policy_desktop.store.queries import DecisionFilter

    extra = {} if args.pass_coverage is None else {"pass_coverage": args.pass_coverage}
    try:
        return DecisionFilter(view=args.view, text=args.text, decision=args.decision,
                              expected=args.expected, model_name=args.model_name,
                              prompt_version=args.prompt_version, run_id=args.run_id,
                              **extra)
    except ValueError as problem:  # an unknown view
        raise StoreError(str(problem)) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="team_action", metavar="ACTION", required=True)
    overlap = actions.add_parser("overlap", help="show or set the overlap sample (in %%)")
    overlap.add_argument("percent", nargs="?", type=float)
    add = actions.add_parser("add", help="put a reviewer on the team's list")
    add.add_argument("name")
    listing_team = actions.add_parser(
        "list", help="the team's reviewers with their work, alphabetically; with a NAME, "
                     "what that reviewer reviewed")
    listing_team.add_argument("name", nargs="?", metavar="NAME")
    listing_team.add_argument("--limit", type=int, default=20, metavar="N",
                              help="with NAME: their latest N reviews (default 20)")
    assign = actions.add_parser(
        "assign", help="delegate the unreviewed decisions of a filter to one reviewer")
    assign.add_argument("--reviewer", required=True, metavar="NAME",
                        help="whose queue the decisions go to")
    assign.add_argument("--by", metavar="NAME", help="who assigns them (default: $USER)")
    assign.add_argument("--limit", type=int, metavar="N", help="at most N, newest first")
    _add_filter_options(assign)
    listing = actions.add_parser("assignments", help="the assigned queues and their progress")
    listing.add_argument("--all", action="store_true", help="withdrawn ones too")
    unassign = actions.add_parser(
        "unassign", help="withdraw an assignment: its decisions go back to the unassigned pool")
    which = unassign.add_mutually_exclusive_group(required=True)
    which.add_argument("assignment", nargs="?", metavar="ID",
                       help="the assignment's id (or its first characters)")
    which.add_argument("--reviewer", metavar="NAME", help="every assignment of this reviewer")
    adjudicate = actions.add_parser("adjudicate", help="settle disagreements in the terminal")
    adjudicate.add_argument("--reviewer", metavar="NAME", help="your name (default: $USER)")


def format_assignments(assignments: list[Assignment]) -> str:
    """One line per assignment: id, reviewer, progress, filter, who and when."""
    from policy_desktop.store.assignments import describe_filter

    if not assignments:
        return "No assignments: every unreviewed decision is in the unassigned pool."
    width = max(8, *(len(a.reviewer) for a in assignments))
    lines = [f"{'ID':<8}  {'Reviewer':<{width}}  {'open':>6}  {'done':>6}  filter  (by, when)"]
    for a in assignments:
        state = "" if a.active else f", withdrawn {a.withdrawn[:16] if a.withdrawn else ''}"
        lines.append(f"{a.id[:8]:<8}  {a.reviewer:<{width}}  {a.open:>6}  {a.reviewed:>6}  "
                     f"{describe_filter(a.filter)}  ({a.assigned_by}, {a.created[:16]}{state})")
    return "\n".join(lines)


def format_team(figures: list[ReviewerFigures], open_by_reviewer: dict[str, int]) -> str:
    """The reviewer list: name, reviews, corrections, assigned and open, pace, last review."""
    if not figures:
        return "Nobody on the team's list yet (team add NAME, or review with --reviewer)."
    width = max(8, *(len(f.name) for f in figures))
    lines = [f"{'Reviewer':<{width}}  {'reviews':>7}  {'corrections':>11}  {'assigned':>8}  "
             f"{'s/review':>8}  last review"]
    for f in figures:
        pace = "n/a" if f.median_seconds is None else f"{f.median_seconds:.0f}"
        lines.append(f"{f.name:<{width}}  {f.reviews:>7}  {f.corrections:>11}  "
                     f"{open_by_reviewer.get(f.name, 0):>8}  {pace:>8}  "
                     f"{(f.last or '-')[:16]}")
    lines += ["", "alphabetical, not a ranking; assigned: unreviewed decisions in their queue; "
              "s/review: median time per review"]
    return "\n".join(lines)


def format_reviews_by(name: str, reviews: list[ReviewedBy]) -> str:
    """What one reviewer reviewed, newest first."""
    if not reviews:
        return f"{name} has not reviewed anything."
    lines = [f"Latest reviews by {name} (newest first):"]
    for r in reviews:
        state = "" if r.in_effect else "  (undone)"
        lines.append(f"  {r.timestamp[:19]}  {r.decision_id}  {r.action:<17}  "
                     f"{r.review_decision or '-'}{state}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from policy_desktop.commands.common import guarded, open_log
    from policy_desktop.store.assignments import Assignments, describe_filter
    from policy_desktop.store.review_queue import ReviewQueue, overlap_percent
    from policy_desktop.store.team import ReviewTeam

    def act() -> int:
        flt = filter_from_args(args) if args.team_action == "assign" else None
        with open_log(args.db, create=False) as log:
            if args.team_action == "overlap":
                if args.percent is not None:
                    ReviewQueue(log).set_overlap_percent(args.percent)
                print(f"Overlap sample: {overlap_percent(log):g}% of decisions get a "
                      "second, blind review")
            elif args.team_action == "add":
                ReviewTeam(log).add_reviewer(args.name)
                print(f"{args.name} is on the team's list")
            elif args.team_action == "list" and args.name:
                print(format_reviews_by(args.name, ReviewTeam(log).reviews_by(
                    args.name, args.limit)))
            elif args.team_action == "list":
                assigned: dict[str, int] = {}
                for a in Assignments(log).assignments():
                    assigned[a.reviewer] = assigned.get(a.reviewer, 0) + a.open
                print(format_team(ReviewTeam(log).reviewer_figures(), assigned))
            elif args.team_action == "assign":
                by = args.by or os.environ.get("USER") or "lead"
                assert flt is not None
                result = Assignments(log).assign(args.reviewer, flt, by=by, limit=args.limit)
                print(f"Assigned {result.assigned} decision"
                      f"{'' if result.assigned == 1 else 's'} ({describe_filter(flt)}) to "
                      f"{args.reviewer}: assignment {result.assignment.id[:8]}")
                for name, count in result.held_by_others.items():
                    print(f"  {count} already in {name}'s queue (left there)")
                if result.claims_withdrawn:
                    print(f"  {result.claims_withdrawn} unfinished claim"
                          f"{'' if result.claims_withdrawn == 1 else 's'} of other reviewers "
                          "withdrawn")
            elif args.team_action == "assignments":
                print(format_assignments(Assignments(log).assignments(
                    include_withdrawn=args.all)))
            elif args.team_action == "unassign":
                back = Assignments(log).unassign(args.assignment, reviewer=args.reviewer)
                print(f"{back} unreviewed decision{'' if back == 1 else 's'} back in the "
                      "unassigned pool")
            else:
                from policy_desktop.commands.review import _terminal
                from policy_desktop.terminal_review import resolve_reviewer, run_adjudication

                terminal = _terminal()
                name = resolve_reviewer(args.reviewer, os.environ.get("USER"), terminal)
                return run_adjudication(log, terminal, name)
        return 0

    return guarded(act)
