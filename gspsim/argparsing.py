"""Command-line mistakes as one line: ``error: ...`` with the valid choices and a "did you mean", exit code 2.

argparse prints its whole usage (15-20 lines) before the message; gspsim's
parsers (the top one and, through ``add_subparsers``, every subcommand's)
print only the message, reworded to name the option and what it accepts,
and point to ``--help``.
"""

from __future__ import annotations

import argparse
import difflib
import re
from typing import NoReturn, Sequence

_INVALID_CHOICE = re.compile(r"argument (?P<arg>.+?): invalid choice: '(?P<value>.*)' \(choose from (?P<choices>.*)\)$")
_UNRECOGNIZED = re.compile(r"unrecognized arguments: (?P<args>.*)$")
_REQUIRED = re.compile(r"the following arguments are required: (?P<args>.*)$")
_BAD_NUMBER = re.compile(r"argument (?P<arg>.+?): invalid (?P<kind>int|float) value: '(?P<value>.*)'$")


def did_you_mean(value: str, choices: Sequence[str]) -> str:
    """' (did you mean 'run'?)' for the closest choice, or '' when none is close."""
    close = difflib.get_close_matches(value, list(choices), n=1, cutoff=0.6)
    if not close:
        close = [c for c in choices if c.lower() == value.lower()]
    return f" (did you mean '{close[0]}'?)" if close else ""


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr (exit code 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {self.one_line(message)}\n")

    def one_line(self, message: str) -> str:
        """argparse's ``message`` reworded: what was wrong, what is accepted, where the help is."""
        help_hint = f"see '{self.prog} --help'"
        m = _INVALID_CHOICE.match(message)
        if m:
            choices = [c.strip().strip("'") for c in m.group("choices").split(",")]
            value, arg = m.group("value"), m.group("arg")
            if arg.startswith("{"):  # a subcommand: argparse names it by its metavar
                what = "command" if self.prog.count(" ") <= 2 else f"{self.prog.rsplit(' ', 1)[-1]} command"
                return (f"unknown {what} '{value}'{did_you_mean(value, choices)}; choose from "
                        f"{', '.join(choices)} ({help_hint})")
            return f"{arg} '{value}': choose from {', '.join(choices)}{did_you_mean(value, choices)}"
        m = _UNRECOGNIZED.match(message)
        if m:
            unknown = m.group("args").split()
            options = [o for o in unknown if o.startswith("-")]
            known = self._all_option_strings()
            hint = did_you_mean(options[0].split("=", 1)[0], known) if options else ""
            what = f"unknown option{'s' if len(options) > 1 else ''} {' '.join(options)}" if options else \
                f"unexpected argument{'s' if len(unknown) > 1 else ''} {' '.join(unknown)}"
            where = f"{self.prog} COMMAND --help" if any(isinstance(a, argparse._SubParsersAction)
                                                          for a in self._actions) else f"{self.prog} --help"
            return f"{what}{hint} (see '{where}')"
        m = _BAD_NUMBER.match(message)
        if m:
            kind = "a whole number" if m.group("kind") == "int" else "a number"
            return f"{m.group('arg')} '{m.group('value')}': expected {kind} ({help_hint})"
        m = _REQUIRED.match(message)
        if m:
            command = self.prog.replace("python -m ", "")
            missing = m.group("args")
            if missing.startswith("{"):
                missing = "a command: choose from " + ", ".join(missing.strip("{}").split(","))
            return f"{command}: missing {missing} ({help_hint})"
        return f"{message} ({help_hint})"

    def _all_option_strings(self) -> list[str]:
        """Every option string of this parser and of its subcommands (a typo may belong to either)."""
        found: list[str] = []
        stack: list[argparse.ArgumentParser] = [self]
        while stack:
            parser = stack.pop()
            for action in parser._actions:
                found.extend(action.option_strings)
                if isinstance(action, argparse._SubParsersAction):
                    stack.extend(action.choices.values())
        return list(dict.fromkeys(found))
