"""graphc.flags (tf.flags, tf.app.flags) and graphc.app (tf.app.run): every DEFINE_*, the
command-line spellings absl accepts, errors with their exact words, parsing on first read,
and app.run calling main with the remaining argv and exiting with its status (in a
subprocess, as a program runs)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from graphc import app, flags


@pytest.fixture
def fv():
    """A private registry with one flag of each kind."""
    values = flags.FlagValues()
    flags.DEFINE_integer("steps", 10, "training steps", short_name="s", lower_bound=0,
                         flag_values=values)
    flags.DEFINE_boolean("debug", False, "debug mode", flag_values=values)
    flags.DEFINE_bool("shuffle", True, "shuffle", flag_values=values)
    flags.DEFINE_string("name", "run", "a name", flag_values=values)
    flags.DEFINE_float("lr", 0.1, "learning rate", upper_bound=1.0, flag_values=values)
    flags.DEFINE_enum("mode", "train", ["train", "eval"], "what to do", flag_values=values)
    flags.DEFINE_list("tags", "a,b", "tags", flag_values=values)
    flags.DEFINE_multi_string("file", None, "input files", flag_values=values)
    return values


def test_defaults_are_parsed_values(fv):
    fv.mark_as_parsed()
    assert fv.flag_values_dict() == {"steps": 10, "debug": False, "shuffle": True, "name": "run",
                                     "lr": 0.1, "mode": "train", "tags": ["a", "b"],
                                     "file": None}
    assert fv["steps"].default == 10 and "steps" in fv and "nope" not in fv
    assert fv.get_flag_value("nope", 3) == 3


def test_every_spelling(fv):
    rest = fv(["prog", "in.txt", "--steps", "5", "--debug", "-name=x", "--lr=-0.5e-1",
               "--mode", "eval", "--tags=c, d", "--file=1", "--file", "2", "--noshuffle",
               "out.txt", "--", "--steps=3"])
    assert rest == ["prog", "in.txt", "out.txt", "--steps=3"]
    assert (fv.steps, fv.debug, fv.shuffle, fv.name, fv.lr) == (5, True, False, "x", -0.05)
    assert (fv.mode, fv.tags, fv.file) == ("eval", ["c", "d"], ["1", "2"])
    fv(["prog", "-s", "0x10", "--debug=false", "--shuffle=1", "--steps=7", "--tags="])
    assert (fv.steps, fv.debug, fv.shuffle, fv.tags) == (7, False, True, [])
    fv(["prog", "--debug", "positional"])  # a boolean never takes the next argument
    assert fv.debug is True


def test_setting_and_resetting(fv):
    fv(["prog", "--steps=3"])
    fv.steps = 4
    assert fv.steps == 4 and fv["steps"].present
    fv.unparse_flags()
    assert not fv.is_parsed() and fv["steps"].value == 10


@pytest.mark.parametrize("argv,error,message", [
    (["--stepz=3"], flags.UnrecognizedFlagError,
     "Unknown command line flag 'stepz' (expected one of the defined flags: --debug, --file, "
     "--lr, --mode, --name, --shuffle, --steps, --tags)"),
    (["-x"], flags.UnrecognizedFlagError, "Unknown command line flag 'x' (expected one of"),
    (["--steps=abc"], flags.IllegalFlagValueError,
     "flag --steps=abc: expected an integer, found 'abc'"),
    (["--steps", "-1"], flags.IllegalFlagValueError,
     "flag --steps=-1: expected a value >= 0, found -1"),
    (["--lr=2"], flags.IllegalFlagValueError, "flag --lr=2: expected a value <= 1.0, found 2.0"),
    (["--lr=fast"], flags.IllegalFlagValueError,
     "flag --lr=fast: expected a number, found 'fast'"),
    (["--mode=test"], flags.IllegalFlagValueError,
     "flag --mode=test: expected one of train, eval, found 'test'"),
    (["--debug=maybe"], flags.IllegalFlagValueError,
     "flag --debug=maybe: expected true or false (or t/1/f/0), found 'maybe'"),
    (["--nodebug=true"], flags.IllegalFlagValueError,
     "flag --nodebug=true: expected --nodebug with no value, or --debug=true"),
    (["--name"], flags.IllegalFlagValueError,
     "flag --name: expected a value (--name=VALUE or --name VALUE), found none"),
])
def test_parse_errors(fv, argv, error, message):
    with pytest.raises(error) as info:
        fv(["prog"] + argv)
    assert str(info.value).startswith(message)
    assert isinstance(info.value, flags.Error)


def test_unknown_flags_pass_through_with_known_only(fv):
    assert fv(["prog", "--other", "v", "--steps=2", "-q"], known_only=True) == [
        "prog", "--other", "v", "-q"]
    assert fv.steps == 2


def test_unknown_attribute_and_argv_type(fv):
    fv.mark_as_parsed()
    with pytest.raises(flags.UnrecognizedFlagError, match=r"Unknown command line flag 'stepz'"):
        fv.stepz  # noqa: B018
    assert not hasattr(fv, "stepz")
    with pytest.raises(TypeError, match=r"expected argv as a non-empty list of strings "
                       r"\(program name first\), found '--steps=1' \(at test_app_flags"):
        fv("--steps=1")


def test_definition_errors(fv):
    with pytest.raises(flags.DuplicateFlagError, match=r"The flag 'steps' is defined twice: "
                       r"first at test_app_flags\.py:\d+, again at test_app_flags\.py:\d+ "
                       r"\(expected one definition per flag name\)"):
        flags.DEFINE_integer("steps", 1, "again", flag_values=fv)
    with pytest.raises(flags.DuplicateFlagError, match=r"The short name '-s' of flag 'size' .* "
                       r"is already the short name of flag 'steps'"):
        flags.DEFINE_integer("size", 1, "size", short_name="s", flag_values=fv)
    with pytest.raises(flags.IllegalFlagValueError, match=r"flag --kind=bad: expected one of "
                       r"a, b, found 'bad' \(at test_app_flags\.py:\d+\)"):
        flags.DEFINE_enum("kind", "bad", ["a", "b"], "kind", flag_values=fv)
    with pytest.raises(ValueError, match=r"expected a flag name such as 'batch_size', found "
                       r"'--x'"):
        flags.DEFINE_string("--x", "", "x", flag_values=fv)


def test_redefinition_from_the_same_line_replaces(fv):
    for default in (1, 2):  # a module or notebook cell run again
        flags.DEFINE_integer("again", default, "again", short_name="g", flag_values=fv)
    assert fv["again"].default == 2


def test_required_flags(fv):
    flags.DEFINE_string("out", None, "output", flag_values=fv)
    flags.mark_flag_as_required("out", flag_values=fv)
    with pytest.raises(flags.IllegalFlagValueError, match=r"^flag --out=None: Flag --out must "
                       r"have a value other than None \(it is required\)$"):
        fv(["prog"])
    assert fv(["prog", "--out=x"]) == ["prog"] and fv.out == "x"
    with pytest.warns(UserWarning, match="Flag --steps has a non-None default value"):
        flags.mark_flags_as_required(["steps"], flag_values=fv)
    with pytest.raises(flags.UnrecognizedFlagError, match="'nope'"):
        flags.mark_flag_as_required("nope", flag_values=fv)


def test_first_read_parses_sys_argv(fv, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["prog", "--steps=8"])
    assert not fv.is_parsed()
    assert fv.steps == 8 and fv.is_parsed()
    monkeypatch.setattr(sys, "argv", ["prog", "--bogus"])
    fv.unparse_flags()
    with pytest.raises(flags.UnrecognizedFlagError, match="'bogus'"):
        fv.steps  # noqa: B018


def test_help_prints_the_flags_and_exits_1(fv, capsys):
    for spelling in ("--help", "--helpfull", "--helpshort", "-?"):
        with pytest.raises(SystemExit) as info:
            fv(["prog", spelling])
        assert info.value.code == 1
        out = capsys.readouterr().out
        assert "--steps INT" in out and "training steps (default: 10; short: -s)" in out
        assert "debug mode (default: False; --debug or --nodebug)" in out


# --- tf.app.run ------------------------------------------------------------------------------
PROGRAM = textwrap.dedent('''\
    """A test program."""
    import sys
    from graphc import app, flags

    flags.DEFINE_integer("code", 0, "exit status")
    flags.DEFINE_string("who", "world", "whom to greet")
    FLAGS = flags.FLAGS


    def main(argv):
        print("hello", FLAGS.who, argv[1:])
        return FLAGS.code or None


    if __name__ == "__main__":
        app.run(main if len(sys.argv) < 2 or sys.argv[1] != "implicit" else None)
''')


def _program(tmp_path, *args):
    path = tmp_path / "prog.py"
    path.write_text(PROGRAM)
    return subprocess.run([sys.executable, str(path), *args], capture_output=True, text=True,
                          timeout=60)


def test_app_run_calls_main_and_exits_with_its_status(tmp_path):
    done = _program(tmp_path, "--who=graphc", "--code", "3", "extra", "--undefined=1")
    assert done.returncode == 3, done.stderr
    assert done.stdout == "hello graphc ['extra', '--undefined=1']\n"
    done = _program(tmp_path, "implicit")  # main found in __main__
    assert (done.returncode, done.stdout) == (0, "hello world ['implicit']\n")


def test_app_run_reports_flag_errors_and_help(tmp_path):
    done = _program(tmp_path, "--code=x")
    assert done.returncode == 1
    assert done.stderr == ("FATAL Flags parsing error: flag --code=x: expected an integer, found "
                           "'x'\nPass --helpshort or --helpfull to see help on flags.\n")
    done = _program(tmp_path, "--helpfull")
    assert done.returncode == 1 and "A test program." in done.stdout
    assert "whom to greet (default: 'world')" in done.stdout


def test_app_run_without_main_says_so(monkeypatch):
    monkeypatch.setattr(sys.modules["__main__"], "main", None, raising=False)
    with pytest.raises(TypeError, match=r"tf\.app\.run: expected a main function, the `main` "
                       r"argument or a function `main` in the __main__ module, found neither"):
        app.run(argv=["prog"])
