"""The ``policy-desktop`` command line: one parser, each sub-command in its own module.

Sub-command modules are imported only when chosen, so ``stats``/``import``/``dump``
never load Qt, torch or llama_cpp. With no sub-command the desktop app opens.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from policy_desktop import __version__


def _add_db(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db", metavar="PATH_OR_URL", default=argparse.SUPPRESS,
        help="database file or URL (default: $POLICY_DESKTOP_DB, else policy_decisions.db "
             "in the user's data folder)")


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (also used to document the commands)."""
    parser = argparse.ArgumentParser(
        prog="policy-desktop",
        description="Log, run, review and export the access-policy decisions of a local LLM. "
                    "Without a command the desktop app opens.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _add_db(parser)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        _add_db(sub)
        return sub

    command("gui", "open the desktop app (the default)")


    sub = command("import", "import decisions from JSONL files (one JSON object per line)")
    sub.add_argument("files", nargs="+", metavar="FILE.jsonl", help="files to import ('-' = stdin)")

    sub = command("dump", "write decisions as JSONL to standard output")
    which = sub.add_mutually_exclusive_group()
    for flag in ("unreviewed", "incorrect", "corrections"):
        which.add_argument(f"--{flag}", dest="selection", action="store_const", const=flag,
                           help=f"only {flag} decisions")
    sub.set_defaults(selection="all")

    sub = command("run", "run the scenario suite on the local model and log every decision")
    sub.add_argument("--full", action="store_true", help="all scenarios (default: the quick set)")
    sub.add_argument("--only", metavar="IDS", help="comma-separated scenario ids, e.g. E01,M02")
    sub.add_argument("--scenarios", metavar="FILE", help="scenario suite file (TOML)")
    sub.add_argument("--policy", metavar="FILE", help="policy text file (default: shipped)")
    sub.add_argument("--model", metavar="PATH_OR_NAME",
                     help="GGUF model file, or the name of a fine-tuned model "
                          "(policy-desktop finetune list; default: bundled Gemma)")
    sub.add_argument("--endpoint", metavar="URL",
                     help="answer through an OpenAI-compatible server (llama-server, vLLM) "
                          "instead of the local model, e.g. http://127.0.0.1:8080")
    sub.add_argument("--parallel", type=int, metavar="N", default=1,
                     help="with --endpoint: requests at once (the server's slots)")
    sub.add_argument("--prompt-version", metavar="NAME", help="prompt version to use")
    sub.add_argument("--threads", type=int, metavar="N", help="CPU threads for llama.cpp")
    sub.add_argument("--ctx", type=int, metavar="N", help="context size in tokens")
    sub.add_argument("--gpu-layers", type=int, metavar="N", help="layers to offload to the GPU")
    sub.add_argument("--match-threshold", type=float, metavar="X",
                     help="cosine similarity for a key point to count as covered (default 0.5)")
    sub.add_argument("--pass-coverage", type=float, metavar="X",
                     help="coverage a scenario needs to pass (default 0.5)")

    sub = command("prompts", "list prompt versions, or create one from exported examples")
    prompt_commands = sub.add_subparsers(dest="prompts_command", metavar="ACTION")
    prompt_commands.add_parser("list", help="list prompt versions (the default)")
    create = prompt_commands.add_parser("create", help="create a prompt version")
    create.add_argument("name")
    create.add_argument("--from", dest="examples", required=True, metavar="FILE",
                        help="few-shot examples file, e.g. training_export/fewshot_examples.txt")
    create.add_argument("--base", metavar="VERSION", help="prompt version to build on")
    create.add_argument("--description", metavar="TEXT")
    create.add_argument("--force", action="store_true", help="replace an existing version")

    sub = command("export", "export corrections as training data (needs 50 corrections)")
    sub.add_argument("directory", nargs="?", default="training_export",
                     help="output folder (default: training_export/)")
    sub.add_argument("--fewshot-count", type=int, default=8, metavar="N")
    sub.add_argument("--min-corrections", type=int, default=50, metavar="N",
                     help="raise the 50-correction gate (it cannot be lowered)")
    sub.add_argument("--include-accepted", action="store_true",
                     help="also export decisions reviewers accepted as correct")
    sub.add_argument("--allow-suite-examples", action="store_true",
                     help="keep corrections of the evaluation suite's own situations")
    sub.add_argument("--scenarios", metavar="FILE", help="suite whose situations to exclude")
    sub.add_argument("--force", action="store_true", help="replace a non-empty output folder")

    sub = command("review", "review decisions in the terminal (for SSH sessions)")
    mode = sub.add_mutually_exclusive_group()
    mode.add_argument("--incorrect", dest="mode", action="store_const", const="incorrect")
    mode.add_argument("--all", dest="mode", action="store_const", const="all")
    sub.set_defaults(mode="unreviewed")
    sub.add_argument("--stats", action="store_true", help="show statistics and exit")
    sub.add_argument("--reviewer", metavar="NAME", help="your name (default: $USER)")

    sub = command("compare", "compare two runs scenario by scenario")
    sub.add_argument("run_a", metavar="RUN_A")
    sub.add_argument("run_b", metavar="RUN_B")

    sub = command("install-desktop-entry",
                  "add Policy Desktop to your application menu (no root needed)")
    sub.add_argument("--uninstall", action="store_true", help="remove it again")

    for name, module_name in SELF_DESCRIBED_COMMANDS.items():
        module = importlib.import_module(f"policy_desktop.commands.{module_name}")
        module.add_arguments(command(name, module.HELP))
    return parser


# Commands whose module describes its own arguments: ``HELP`` (one line), ``add_arguments
# (parser)`` and ``run(args) -> int``. Such a module imports nothing heavy at top level.
SELF_DESCRIBED_COMMANDS: dict[str, str] = {
    "stats": "stats",
    "ingest": "ingest",
    "serve-model": "serve_model",
    "finetune": "finetune",
    "team": "team",
    "replay": "replay",
}


# command name -> module in policy_desktop.commands with a ``run(args) -> int``
COMMAND_MODULES = {
    "gui": "gui", "import": "jsonl", "dump": "jsonl", "run": "run",
    "prompts": "prompts", "export": "export", "review": "review", "compare": "compare",
    "install-desktop-entry": "desktop_entry",
}
COMMAND_MODULES.update(SELF_DESCRIBED_COMMANDS)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``policy-desktop`` and ``python -m policy_desktop``."""
    args = build_parser().parse_args(argv)
    if not hasattr(args, "db"):
        args.db = None
    command = args.command or "gui"
    args.command = command
    module = importlib.import_module(f"policy_desktop.commands.{COMMAND_MODULES[command]}")
    try:
        return int(module.run(args) or 0)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
