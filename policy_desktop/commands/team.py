"""``policy-desktop team``: the review team's settings, its list and adjudication.

``team overlap [PERCENT]`` shows or sets the share of decisions that get a second,
blind review; ``team add NAME`` puts a reviewer on the list; ``team list`` shows it;
``team adjudicate`` settles the overlap sample's disagreements in the terminal.
"""

from __future__ import annotations

import argparse
import os

HELP = "the review team: overlap sample, reviewer list, adjudication of disagreements"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="team_action", metavar="ACTION", required=True)
    overlap = actions.add_parser("overlap", help="show or set the overlap sample (in %%)")
    overlap.add_argument("percent", nargs="?", type=float)
    add = actions.add_parser("add", help="put a reviewer on the team's list")
    add.add_argument("name")
    actions.add_parser("list", help="the team's reviewers, alphabetically")
    adjudicate = actions.add_parser("adjudicate", help="settle disagreements in the terminal")
    adjudicate.add_argument("--reviewer", metavar="NAME", help="your name (default: $USER)")


def run(args: argparse.Namespace) -> int:
    from policy_desktop.commands.common import guarded, open_log
    from policy_desktop.commands.review import _terminal
    from policy_desktop.store.review_queue import ReviewQueue, overlap_percent
    from policy_desktop.store.team import ReviewTeam
    from policy_desktop.terminal_review import resolve_reviewer, run_adjudication

    def act() -> int:
        with open_log(args.db, create=False) as log:
            if args.team_action == "overlap":
                if args.percent is not None:
                    ReviewQueue(log).set_overlap_percent(args.percent)
                print(f"Overlap sample: {overlap_percent(log):g}% of decisions get a "
                      "second, blind review")
            elif args.team_action == "add":
                ReviewTeam(log).add_reviewer(args.name)
                print(f"{args.name} is on the team's list")
            elif args.team_action == "list":
                for name in ReviewTeam(log).reviewers():
                    print(name)
            else:
                terminal = _terminal()
                name = resolve_reviewer(args.reviewer, os.environ.get("USER"), terminal)
                return run_adjudication(log, terminal, name)
        return 0

    return guarded(act)
