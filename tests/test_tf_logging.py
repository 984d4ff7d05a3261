"""graphc.tf_logging (tf.logging): levels and verbosity, every logging function, the
every-n / first-n counters per call site, records naming the caller's line, and the stderr
handler added only when nothing else would show the records."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest

from graphc import tf_logging as tflog


@pytest.fixture(autouse=True)
def restore_level():
    logger = logging.getLogger("graphc")
    saved = logger.level
    yield
    logger.setLevel(saved)


def _messages(caplog):
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.name == "graphc"]


def test_levels_are_pythons():
    assert (tflog.DEBUG, tflog.INFO, tflog.WARN, tflog.WARNING, tflog.ERROR, tflog.FATAL) == (
        logging.DEBUG, logging.INFO, logging.WARNING, logging.WARNING, logging.ERROR,
        logging.CRITICAL)


def test_verbosity_filters(caplog):
    tflog.set_verbosity(tflog.WARN)
    assert tflog.get_verbosity() == tflog.WARN
    tflog.info("hidden")
    tflog.warning("shown %d", 1)
    tflog.set_verbosity(tflog.DEBUG)
    tflog.debug("debug %s", "x")
    assert _messages(caplog) == [(logging.WARNING, "shown 1"), (logging.DEBUG, "debug x")]


def test_every_function_logs_at_its_level(caplog):
    tflog.set_verbosity(tflog.DEBUG)
    tflog.debug("d")
    tflog.info("i")
    tflog.warn("w")
    tflog.warning("w2")
    tflog.error("e")
    tflog.fatal("f")  # logs and returns, as TF1's
    tflog.log(tflog.INFO, "l %s", "arg")
    tflog.vlog(tflog.ERROR, "v")
    tflog.log_if(tflog.INFO, "yes", True)
    tflog.log_if(tflog.INFO, "no", False)
    tflog.flush()
    assert _messages(caplog) == [(10, "d"), (20, "i"), (30, "w"), (30, "w2"), (40, "e"),
                                 (50, "f"), (20, "l arg"), (40, "v"), (20, "yes")]


def test_records_name_the_callers_line(caplog):
    tflog.set_verbosity(tflog.INFO)
    tflog.info("here")
    tflog.log_first_n(tflog.INFO, "there", 1)
    assert [r.filename for r in caplog.records] == ["test_tf_logging.py"] * 2
    assert [r.funcName for r in caplog.records] == ["test_records_name_the_callers_line"] * 2


def test_every_n_and_first_n_count_per_call_site(caplog):
    tflog.set_verbosity(tflog.INFO)
    for i in range(7):
        tflog.log_every_n(tflog.INFO, "every %d", 3, i)
        tflog.log_first_n(tflog.INFO, "first %d", 2, i)
    tflog.log_first_n(tflog.INFO, "another site %d", 2, 0)  # its own counter
    assert _messages(caplog) == [(20, "every 0"), (20, "first 0"), (20, "first 1"),
                                 (20, "every 3"), (20, "every 6"), (20, "another site 0")]


def test_stderr_handler_only_without_other_handlers():
    code = ("import logging\nfrom graphc import tf_logging as t\nt.set_verbosity(t.INFO)\n"
            "t.info('to stderr %d', 1)\nlogging.getLogger().addHandler(logging.NullHandler())\n"
            "assert len(logging.getLogger('graphc').handlers) == 1\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stderr == "INFO:graphc:to stderr 1\n"
    code = ("import logging\nlogging.basicConfig(format='%(message)s')\n"
            "from graphc import tf_logging as t\nt.warning('once')\n"
            "assert not logging.getLogger('graphc').handlers\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert (done.returncode, done.stderr) == (0, "once\n")
