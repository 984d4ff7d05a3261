"""What the command line says when something is wrong: a user error is one line and exit
status 2, an internal error a traceback, a bug-report request and exit status 1, and
--debug shows the traceback of both. Also --version, help for every option, completion."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest
from cli_support import environment, graphc

import graphc as tf
from graphc.cli import build_parser


def test_run_a_missing_library():
    assert graphc("run", "out/libnope.so").user_error(
        "run", "no such library", "out/libnope.so", "that graphc compile wrote")


def test_run_a_file_that_is_not_a_library(tmp_path):
    (tmp_path / "libfake.so").write_bytes(b"not an ELF file")
    assert graphc("run", tmp_path / "libfake.so").user_error("run", "libfake.so")


def test_run_with_a_missing_input_file(tmp_path):
    assert graphc("run", "out/libmlp.so", "--input", "x=missing.npy").user_error(
        "run", "--input x=missing.npy: no such file: missing.npy")
    (tmp_path / "x.txt").write_text("1 2 3")
    assert graphc("run", "out/libmlp.so", "--input", f"x={tmp_path}/x.txt").user_error(
        "run", "cannot read", "as a .npy array")


def test_run_a_missing_script():
    assert graphc("run", "model.py").user_error("run", "model.py: no such file")


def test_unknown_target():
    result = graphc("demo", GRAPHC_TARGET="bogus")
    assert result.user_error("demo", "$GRAPHC_TARGET=bogus: unknown or unavailable target "
                             "'bogus'; available targets: llvm, reference")


def _cuda_runs_here() -> bool:
    try:
        tf.Session(target="cuda", graph=tf.Graph()).close()
    except tf.errors.UnimplementedError:
        return False
    return True


@pytest.mark.skipif(_cuda_runs_here(), reason="the cuda target runs here")
def test_cuda_target_without_a_driver():
    assert graphc("demo", GRAPHC_TARGET="cuda").user_error("demo", "$GRAPHC_TARGET=cuda: "
                                                           "target 'cuda'")


def test_debug_shows_the_traceback_before_or_after_the_command():
    for args in (["--debug", "run", "nope.so"], ["run", "nope.so", "--debug"]):
        result = graphc(*args)
        assert result.code == 2 and "Traceback" in result.err
        assert result.err.splitlines()[-1].startswith("graphc run: error: no such library")


def test_internal_error_asks_for_a_bug_report():
    fault = ("import sys\nimport graphc.runtime.session as s\n"
             "def broken(*args, **kwargs):\n    raise KeyError('slot 7')\n"
             "s.Session.run = broken\nfrom graphc.cli import main\nsys.exit(main(['demo']))\n")
    done = subprocess.run([sys.executable, "-c", fault], env=environment(),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "Traceback" in done.stderr
    assert "graphc demo: internal error: KeyError: 'slot 7'" in done.stderr
    assert "This is a bug in graphc" in done.stderr and "report" in done.stderr


def test_no_command_prints_usage_and_exits_2():
    result = graphc()
    assert result.code == 2 and result.out == "" and "usage: graphc" in result.err


def test_version():
    result = graphc("--version")
    assert (result.code, result.out) == (0, f"graphc {tf.__version__}\n")


def _parsers(parser, path=("graphc",)):
    yield " ".join(path), parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, (*path, name))


def test_every_option_and_command_has_help():
    undocumented = []
    for where, parser in _parsers(build_parser()):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                helps = {c.dest: c.help for c in action._choices_actions}
                undocumented += [f"{where} {n}" for n in action.choices if not helps.get(n)]
            elif not action.help:
                undocumented.append(f"{where} {'/'.join(action.option_strings) or action.dest}")
    assert undocumented == []


def test_help_of_compile_and_run_explains_their_options():
    compile_help = " ".join(graphc("compile", "--help").out.split())  # unwrapped
    assert "-o DIR, --output DIR directory to write the library, header" in compile_help
    run_help = " ".join(graphc("run", "--help").out.split())
    assert "NAME=FILE.npy" in run_help and "a .npy file written by np.save" in run_help


def test_bash_completion():
    script = graphc("completion", "bash").out
    assert "complete -o filenames -F _graphc graphc" in script
    completed = subprocess.run(
        ["bash", "-c", script + "\nCOMP_WORDS=(graphc com); COMP_CWORD=1; _graphc; "
         "echo ${COMPREPLY[@]}; COMP_WORDS=(graphc compile --thr); COMP_CWORD=2; _graphc; "
         "echo ${COMPREPLY[@]}; COMP_WORDS=(graphc cache i); COMP_CWORD=2; _graphc; "
         "echo ${COMPREPLY[@]}"], capture_output=True, text=True, timeout=60)
    assert completed.stdout.splitlines() == ["compile completion", "--threads", "info"]
