"""The ``hit`` command: one entry point, one module per subcommand.

Each module in this package that defines ``NAME`` is a subcommand. It provides
``HELP`` (one line), ``add_arguments(parser)`` and ``run(args) -> int``. Modules
import their heavy dependencies inside ``run`` so that ``hit --help`` stays fast.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import pkgutil
import sys
from types import ModuleType

from hit_core import __version__
from hit_core.errors import HitError


def _command_modules() -> dict[str, ModuleType]:
    package = sys.modules[__name__]
    commands: dict[str, ModuleType] = {}
    for info in pkgutil.iter_modules(package.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        name = getattr(module, "NAME", None)
        if name:
            commands[name] = module
    return dict(sorted(commands.items()))


class _SuggestingParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors name the closest valid choice or option."""

    command_line: list[str] = []

    def error(self, message: str) -> None:  # type: ignore[override]
        hint = _suggestion(self, message)
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}{hint}\n")


def _suggestion(parser: argparse.ArgumentParser, message: str) -> str:
    # argparse reports a missing required option before an unknown one, so a mistyped required option
    # ("--datset") would only say "--dataset is required": look at every unknown flag on the command line.
    options = [s for a in parser._actions for s in a.option_strings]
    # Unknown options of a subcommand are reported by the top-level parser: offer the subcommand's options.
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for word in _SuggestingParser.command_line:
                if word in action.choices:
                    options += [s for a in action.choices[word]._actions for s in a.option_strings]
                    break
    for word in _SuggestingParser.command_line:
        flag = word.split("=", 1)[0]
        if flag.startswith("-") and flag not in options:
            close = difflib.get_close_matches(flag, options, n=1)
            if close:
                return f" (unknown option {flag}: did you mean {close[0]}?)"
    if "invalid choice:" in message:
        bad = message.split("invalid choice:", 1)[1].split("'")[1] if "'" in message else ""
        choices = []
        for action in parser._actions:
            if action.choices:
                choices.extend(str(c) for c in action.choices)
        close = difflib.get_close_matches(bad, choices, n=1)
        if close:
            return f" (did you mean {close[0]}?)"
    return ""


def build_parser() -> argparse.ArgumentParser:
    parser = _SuggestingParser(
        prog="hit",
        description="HiT visual tracker: profile, export, track, benchmark, evaluate, train, rosbags.",
    )
    parser.add_argument("--version", action="version", version=f"hit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_SuggestingParser)
    for name, module in _command_modules().items():
        command_parser = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(command_parser)
        command_parser.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    _SuggestingParser.command_line = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except HitError as error:
        print(f"hit {args.command}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"hit {args.command}: interrupted", file=sys.stderr)
        return 130
