"""The one parser: argv -> the values of a command's options, by the table in
``rnnpy.cli.options``, then the command's typed, frozen arguments.

Accepted forms, case-insensitively: ``--hiddenSize=64``, ``--hidden-size 64``,
``--hidden_size=64``, and an alias the table gives (``--vocab-size`` for
``--bpeVocabSize``). A boolean given without a value means true
(``--quiet``); ``--fastMode true`` also works. Unknown options and
unparsable values raise UsageError naming the option as it was typed (the
old program silently ignored them).
"""

from __future__ import annotations

import dataclasses
import difflib
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from rnnpy.cli.commands import COMMANDS
from rnnpy.cli.options import BOOL_WORDS, GROUPS, Option, key, options_for, parse_str
from rnnpy.errors import UsageError


@dataclass(frozen=True)
class Parsed:
    """A command line read against the table."""

    command: str
    values: dict[str, Any]  # every option the command accepts, by name: given or its default
    given: frozenset[str]  # the names given on the command line
    positionals: tuple[str, ...] = ()


def _spellings(command: str) -> dict[str, Option]:
    table: dict[str, Option] = {}
    for o in options_for(command):
        for spelling in (o.name, *o.aliases):
            table[key(spelling)] = o
    return table


def _shorts(command: str) -> dict[str, Option]:
    return {o.short: o for o in options_for(command) if o.short}


def parse(argv: Sequence[str], command: str = "train") -> Parsed:
    spec = COMMANDS[command]
    table, shorts = _spellings(command), _shorts(command)
    values = {o.name: o.default_for(command) for o in options_for(command)}
    given: set[str] = set()
    positionals: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == "--" and spec.positional:
            positionals += argv[i:]
            break
        if arg.startswith("--") and arg != "--":
            raw, eq, text = arg[2:].partition("=")
            opt = table.get(key(raw))
            if opt is None:
                raise UsageError(f"unknown option --{raw}{_did_you_mean(raw, table)}")
            shown = f"--{raw}"
        elif len(arg) >= 2 and arg[0] == "-" and arg[1] in shorts:
            opt, eq, text = shorts[arg[1]], "=" if len(arg) > 2 else "", arg[2:].removeprefix("=")
            shown = arg[:2]
        elif spec.positional:
            positionals.append(arg)
            continue
        else:
            raise UsageError(f"unexpected argument {arg!r} (options look like --name=value)")
        if not eq:
            nxt = argv[i] if i < len(argv) else None
            if opt.is_bool:
                text = "true"
                if nxt is not None and nxt.lower() in BOOL_WORDS:
                    text, i = nxt, i + 1
            elif nxt is None or (nxt.startswith("--") and opt.parse is parse_str):
                raise UsageError(f"option {shown} needs a value ({shown}={opt.metavar})")
            else:
                text, i = nxt, i + 1
        try:
            values[opt.name] = opt.value(text)
        except ValueError as e:
            raise UsageError(f"option {shown}: {e}, got {text!r}") from None
        given.add(opt.name)
    parsed = Parsed(command, values, frozenset(given), tuple(positionals))
    _check_required(parsed)
    return parsed


def _did_you_mean(raw: str, table: dict[str, Option]) -> str:
    close = difflib.get_close_matches(key(raw), table, n=1)
    return f" (did you mean --{table[close[0]].name}?)" if close else ""


def _check_required(p: Parsed) -> None:
    spec = COMMANDS[p.command]
    table = _spellings(p.command)
    least, most = spec.nargs
    if len(p.positionals) < least or (most is not None and len(p.positionals) > most):
        raise UsageError(f"{p.command} takes {spec.positional_help}, got {len(p.positionals)} (usage: {spec.usage})")
    for spelling in spec.required:
        opt = table[key(spelling)]
        if opt.name not in p.given:
            raise UsageError(f"{p.command} needs --{spelling}={opt.metavar} ({opt.help})")
    for choices in spec.one_of:
        named = [s for s in choices if table[key(s)].name in p.given]
        alternatives = " or ".join(f"--{s}={table[key(s)].metavar}" for s in choices)
        if len(named) != 1:
            raise UsageError(f"{p.command} needs one of {alternatives}" + (", not both" if named else ""))


T = TypeVar("T")


def build(args_type: type[T], parsed: Parsed) -> T:
    """The command's arguments: each field typed as an option group gets that
    group, filled from `parsed`; `given` and the positionals as they are."""
    hints = typing.get_type_hints(args_type)
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(args_type):  # type: ignore[arg-type]
        t = hints[f.name]
        if t in GROUPS:
            group_options = {o.field: o.name for o in options_for(parsed.command) if o.group is t}
            fields[f.name] = t(**{field: parsed.values[name] for field, name in group_options.items()})
        elif f.name == "given":
            fields[f.name] = parsed.given
        else:
            fields[f.name] = parsed.positionals
    return args_type(**fields)


def record(args: object, command: str) -> dict[str, Any]:
    """The options of a run as a checkpoint records them, by name (long texts
    summarised): every option `command` accepts, from its built arguments."""
    out: dict[str, Any] = {}
    groups = {type(v): v for v in vars(args).values() if type(v) in GROUPS}
    for o in options_for(command):
        v = getattr(groups[o.group], o.field)
        out[o.name] = f"({len(v)} chars)" if o.long_text and len(v) > 200 else v
    return out


def restored(args: T, recorded: Mapping[str, Any], command: str) -> tuple[T, list[str]]:
    """`args` (built for `command`, with a `given` field) with every option of
    a group marked ``RESUMED`` that the command line did not give taken from a
    checkpoint's `recorded` options; also the names of recorded values that
    no longer parse (kept at the command line's value)."""
    given: frozenset[str] = vars(args)["given"]
    replaced: dict[str, Any] = {}
    bad: list[str] = []
    for name, group in vars(args).items():
        if type(group) not in GROUPS or not getattr(type(group), "RESUMED", False):
            continue
        changes = {}
        for o in options_for(command):
            if o.group is type(group) and o.name in recorded and o.name not in given:
                try:
                    changes[o.field] = o.value(_typed(recorded[o.name]))
                except ValueError:
                    bad.append(o.name)
        replaced[name] = dataclasses.replace(group, **changes)
    return dataclasses.replace(args, **replaced), bad  # type: ignore[type-var]


def _typed(value: Any) -> str:
    """A recorded JSON value as it would be typed."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def help_text(command: str) -> str:
    """The command's usage and options, grouped, with defaults."""
    spec = COMMANDS[command]
    opts = options_for(command)
    lines = [f"usage: {spec.usage}", "", spec.summary]
    if opts:
        lines += ["", "Options (any case; --hiddenSize=64, --hidden-size 64 or --hidden_size=64):"]
    names = {
        o.name: ", ".join([f"--{n}" for n in (o.name, *o.aliases)] + [f"-{o.short}"] * bool(o.short)) for o in opts
    }
    width = max((len(n) for n in names.values()), default=0) + 2
    group = None
    for o in opts:
        if o.group is not group:
            group = o.group
            lines += ["", f"{group.TITLE}:"]  # type: ignore[attr-defined]
        lines.append(f"  {names[o.name]:<{width}} {o.shown_default(command):<18} {o.help}")
    if any(o.is_bool for o in opts):
        lines += ["", "Booleans accept true/false, 1/0, yes/no; a boolean alone means true."]
    return "\n".join(lines)
