"""tf.flags and tf.app.flags: absl-style command-line flags, on argparse.

    FLAGS = tf.flags.FLAGS
    tf.flags.DEFINE_integer("steps", 100, "training steps", short_name="s")
    ...
    FLAGS.steps   # parses sys.argv on first access, as TF1's tf.flags does

The command line is read as absl reads it: `--name=value`, `--name value`, `-name value`,
`-s value` (short names), `--flag`/`--noflag` for booleans (which never take the next
argument), `--` ends the flags, and arguments that are not flags are returned, with the
program name, as the remaining argv. argparse splits the command line; the values are
parsed here so that every error names the flag, the value expected and the value found.
`--help`, `--helpshort`, `--helpfull` and `-?` print the flags and exit with status 1, as
absl does.
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
import warnings

from graphc.errors import GraphcError, user_location


class Error(GraphcError):
    """Base class of the flag errors (absl's flags.Error)."""


class IllegalFlagValueError(Error, ValueError):
    """A flag's value could not be parsed, or a required flag has none."""


class UnrecognizedFlagError(Error, AttributeError):
    """A flag name that no DEFINE_* defined."""


class DuplicateFlagError(Error):
    """The same flag name (or short name) defined twice."""


class UnparsedFlagAccessError(Error):
    """Kept for absl compatibility; graphc parses sys.argv on first access instead."""


# --- one flag ---------------------------------------------------------------------------------
_TRUE, _FALSE = ("true", "t", "1"), ("false", "f", "0")


def _parse_bool(text: str) -> bool:
    if isinstance(text, bool):
        return text
    if text.lower() in _TRUE or text.lower() in _FALSE:
        return text.lower() in _TRUE
    raise ValueError(f"expected true or false (or {'/'.join(_TRUE[1:] + _FALSE[1:])})")


def _parse_number(cast, what):
    def parse(text):
        if isinstance(text, (int, float)) and not isinstance(text, bool):
            return cast(text)
        try:
            return cast(text)
        except (TypeError, ValueError):
            pass
        try:  # 0x10, 0o17, 0b101
            return int(text, 0) if cast is int else cast(text)
        except (TypeError, ValueError):
            raise ValueError(f"expected {what}") from None
    return parse


def _parse_list(text):
    if isinstance(text, (list, tuple)):
        return list(text)
    return [s.strip() for s in next(csv.reader([text], strict=True))] if text else []


_PARSE = {"string": str, "bool": _parse_bool, "integer": _parse_number(int, "an integer"),
          "float": _parse_number(float, "a number"), "list": _parse_list, "enum": str,
          "multi_string": str}
_METAVAR = {"integer": "INT", "float": "FLOAT", "list": "A,B,...", "bool": "true|false"}


class Flag:
    """One defined flag: name, kind, default, help, current value (absl's Flag)."""

    def __init__(self, kind, name, default, help, short_name, required, location,  # noqa: A002
                 enum_values=None, lower_bound=None, upper_bound=None):
        if not isinstance(name, str) or not name or name.startswith("-"):
            raise ValueError(f"expected a flag name such as 'batch_size', found {name!r} "
                             f"(at {location})")
        self.kind, self.name, self.help, self.short_name = kind, name, help, short_name
        self.required, self.location, self.enum_values = required, location, enum_values
        self.bounds = (lower_bound, upper_bound)
        self.metavar = "|".join(enum_values) if enum_values else _METAVAR.get(kind, "VALUE")
        self.default = None if default is None else self.parse(default, at=location)
        self.value, self.present = self.default, False

    def parse(self, text, at=None):
        """The value of `text` (a default may already be a value)."""
        try:
            if self.kind == "multi_string":
                items = [text] if isinstance(text, str) else list(text)
                return [str(t) for t in items]
            value = _PARSE[self.kind](text)
        except ValueError as err:
            raise IllegalFlagValueError(f"flag --{self.name}={text}: {err}, found {text!r}"
                                        + (f" (at {at})" if at else "")) from None
        self._check(value, text, at)
        return value

    def _check(self, value, text, at) -> None:
        low, high = self.bounds
        problem = None
        if self.enum_values is not None and value not in self.enum_values:
            problem = f"expected one of {', '.join(self.enum_values)}"
        elif low is not None and value < low:
            problem = f"expected a value >= {low}"
        elif high is not None and value > high:
            problem = f"expected a value <= {high}"
        if problem:
            raise IllegalFlagValueError(f"flag --{self.name}={text}: {problem}, found "
                                        f"{value!r}" + (f" (at {at})" if at else ""))

    def set_from(self, texts: list) -> None:
        """The value of the command line's occurrences (the last wins, or all for multi)."""
        if self.kind == "multi_string":
            self.value = [self.parse(t)[0] for t in texts]
        else:
            self.value = self.parse(texts[-1])
        self.present = True

    def help_text(self) -> str:
        default = self.default
        if self.kind == "list" and default is not None:
            default = ",".join(default)
        extra = [f"default: {default!r}"]
        if self.short_name:
            extra.append(f"short: -{self.short_name}")
        if self.kind == "bool":
            extra.append(f"--{self.name} or --no{self.name}")
        return f"{self.help} ({'; '.join(extra)})"

    def __repr__(self) -> str:
        return f"Flag(--{self.name}={self.value!r})"


_HELP = ("help", "helpshort", "helpfull", "?")


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse would print and exit(2)
        match = re.match(r"argument --(\w+): expected one argument", message)
        if match:
            name = match.group(1)
            message = (f"flag --{name}: expected a value (--{name}=VALUE or --{name} VALUE), "
                       "found none")
        raise IllegalFlagValueError(message)


class FlagValues:
    """The registry of defined flags; their values read as attributes (`FLAGS.steps`)."""

    def __init__(self):
        object.__setattr__(self, "_flags", {})  # name -> Flag
        object.__setattr__(self, "_short", {})  # short name -> name
        object.__setattr__(self, "_parsed", False)

    # --- defining ---------------------------------------------------------------------------
    def _define(self, flag: Flag) -> None:
        old = self._flags.get(flag.name)
        if old is not None and old.location != flag.location:
            raise DuplicateFlagError(
                f"The flag '{flag.name}' is defined twice: first at {old.location}, again at "
                f"{flag.location} (expected one definition per flag name)")
        short = flag.short_name
        if short is not None and self._short.get(short, flag.name) != flag.name:
            raise DuplicateFlagError(
                f"The short name '-{short}' of flag '{flag.name}' (at {flag.location}) is "
                f"already the short name of flag '{self._short[short]}' (expected one flag "
                "per short name)")
        if old is not None and old.short_name is not None:
            self._short.pop(old.short_name, None)  # a module run again redefines its flags
        self._flags[flag.name] = flag
        if short is not None:
            self._short[short] = flag.name

    def __getitem__(self, name: str) -> Flag:
        if name not in self._flags:
            raise self._unknown(name)
        return self._flags[name]

    def __contains__(self, name) -> bool:
        return name in self._flags

    def __iter__(self):
        return iter(self._flags)

    def _unknown(self, name: str) -> UnrecognizedFlagError:
        known = ", ".join(f"--{n}" for n in sorted(self._flags)) or "none defined"
        return UnrecognizedFlagError(f"Unknown command line flag '{name}' (expected one of the "
                                     f"defined flags: {known})")

    # --- reading and setting values ---------------------------------------------------------
    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        if name not in self._flags:
            raise self._unknown(name)
        if not self._parsed:  # TF1's tf.flags parses sys.argv at the first read
            self(sys.argv)
        return self._flags[name].value

    def __setattr__(self, name: str, value) -> None:
        if name not in self._flags:
            raise self._unknown(name)
        self._flags[name].value = value
        self._flags[name].present = True

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"flags cannot be deleted: '{name}' stays defined")

    def flag_values_dict(self) -> dict:
        return {name: flag.value for name, flag in self._flags.items()}

    def get_flag_value(self, name: str, default):
        return self._flags[name].value if name in self._flags else default

    def is_parsed(self) -> bool:
        return self._parsed

    def mark_as_parsed(self) -> None:
        object.__setattr__(self, "_parsed", True)

    def unparse_flags(self) -> None:
        """Every flag back to its default, and the next read parses sys.argv again."""
        for flag in self._flags.values():
            flag.value, flag.present = flag.default, False
        object.__setattr__(self, "_parsed", False)

    # --- parsing ----------------------------------------------------------------------------
    def __call__(self, argv, known_only: bool = False) -> list:
        """Parse argv[1:] into the flags; return [argv[0]] + the arguments that are not
        flags (and, with known_only, the unknown flags, in their order)."""
        if isinstance(argv, str) or not argv:
            raise TypeError(f"expected argv as a non-empty list of strings (program name "
                            f"first), found {argv!r} (at {user_location()})")
        argv = [str(a) for a in argv]
        head, rest = argv[1:], []
        if "--" in head:
            cut = head.index("--")
            head, rest = head[:cut], head[cut + 1:]
        if any(_flag_name(a) in _HELP for a in head):
            print(self._parser(argv[0]).format_help())
            sys.exit(1)
        parsed, extra = self._parser(argv[0]).parse_known_args(self._canonical(head))
        unknown = [a for a in extra if _flag_name(a) is not None]
        if unknown and not known_only:
            raise self._unknown(_flag_name(unknown[0]).split("=")[0])
        for name, texts in vars(parsed).items():
            self._flags[name].set_from(texts)
        self._check_required()
        self.mark_as_parsed()
        return argv[:1] + extra + rest

    def _canonical(self, args: list) -> list:
        """argv with short names spelled long and booleans given an explicit value, so
        that argparse never takes the next argument as a boolean's value."""
        out = []
        for arg in args:
            name = _flag_name(arg)
            if name is None:
                out.append(arg)
                continue
            key, eq, text = name.partition("=")
            key = self._short.get(key, key) if key not in self._flags else key
            flag = self._flags.get(key)
            negated = self._flags.get(key[2:]) if key.startswith("no") and flag is None else None
            if negated is not None and negated.kind == "bool":
                if eq:
                    raise IllegalFlagValueError(f"flag --{key}={text}: expected --{key} with "
                                                f"no value, or --{negated.name}={text}")
                out.append(f"--{negated.name}=false")
            elif flag is not None and flag.kind == "bool" and not eq:
                out.append(f"--{key}=true")
            elif flag is not None:
                out.append(f"--{key}{eq}{text}")
            else:
                out.append(arg)
        return out

    def _parser(self, prog: str) -> _Parser:
        parser = _Parser(prog=prog, add_help=False, allow_abbrev=False,
                         description=getattr(sys.modules.get("__main__"), "__doc__", None))
        for flag in self._flags.values():
            parser.add_argument(f"--{flag.name}", dest=flag.name, action="append",
                                default=argparse.SUPPRESS, metavar=flag.metavar,
                                help=flag.help_text())
        return parser

    def _check_required(self) -> None:
        for flag in self._flags.values():
            if flag.required and flag.value is None:
                raise IllegalFlagValueError(f"flag --{flag.name}=None: Flag --{flag.name} must "
                                            "have a value other than None (it is required)")


def _flag_name(arg: str):
    """'name=value' for '--name=value' or '-name=value'; None for a non-flag argument."""
    if len(arg) < 2 or not arg.startswith("-") or arg == "--":
        return None
    body = arg[2:] if arg.startswith("--") else arg[1:]
    if not body or body[0].isdigit() or body[0] == ".":  # a negative number, not a flag
        return None
    return body


FLAGS = FlagValues()


# --- DEFINE_* (absl's signatures) ---------------------------------------------------------------
def _define(kind, name, default, help, flag_values, required=False, short_name=None,  # noqa: A002
            **options):
    flag = Flag(kind, name, default, help, short_name, required, user_location(), **options)
    (flag_values if flag_values is not None else FLAGS)._define(flag)
    return flag


def DEFINE_string(name, default, help, flag_values=None, required=False, **args):  # noqa: N802,A002
    return _define("string", name, default, help, flag_values, required, **args)


def DEFINE_boolean(name, default, help, flag_values=None, required=False, **args):  # noqa: N802,A002
    return _define("bool", name, default, help, flag_values, required, **args)


DEFINE_bool = DEFINE_boolean


def DEFINE_integer(name, default, help, lower_bound=None, upper_bound=None,  # noqa: N802,A002
                   flag_values=None, required=False, **args):
    return _define("integer", name, default, help, flag_values, required,
                   lower_bound=lower_bound, upper_bound=upper_bound, **args)


def DEFINE_float(name, default, help, lower_bound=None, upper_bound=None,  # noqa: N802,A002
                 flag_values=None, required=False, **args):
    return _define("float", name, default, help, flag_values, required,
                   lower_bound=lower_bound, upper_bound=upper_bound, **args)


def DEFINE_enum(name, default, enum_values, help, flag_values=None, required=False,  # noqa: N802,A002
                **args):
    return _define("enum", name, default, help, flag_values, required,
                   enum_values=list(enum_values), **args)


def DEFINE_list(name, default, help, flag_values=None, required=False, **args):  # noqa: N802,A002
    """A comma-separated list of strings (`--tags=a,b,c`)."""
    return _define("list", name, default, help, flag_values, required, **args)


def DEFINE_multi_string(name, default, help, flag_values=None, required=False,  # noqa: N802,A002
                        **args):
    """A flag given any number of times (`--file=a --file=b`); its value is the list."""
    return _define("multi_string", name, default, help, flag_values, required, **args)


def mark_flag_as_required(flag_name, flag_values=None) -> None:
    """Parsing fails unless the flag has a value other than None."""
    flag = (flag_values if flag_values is not None else FLAGS)[flag_name]
    if flag.default is not None:
        warnings.warn(f"Flag --{flag_name} has a non-None default value; therefore, "
                      "mark_flag_as_required will pass even if flag is not specified in the "
                      "command line!", stacklevel=2)
    flag.required = True


def mark_flags_as_required(flag_names, flag_values=None) -> None:
    for name in flag_names:
        mark_flag_as_required(name, flag_values)
