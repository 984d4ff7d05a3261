"""tf.logging: TF1's logging functions on Python's logging module, logger "graphc".

INFO and DEBUG messages show once the verbosity allows them
(`tf.logging.set_verbosity(tf.logging.INFO)`); the default is Python's (WARNING). When
neither the "graphc" logger nor the root logger has a handler at the first message, one
writing to stderr is added, as TF1 does for its "tensorflow" logger. Records carry the
caller's file and line. `fatal` logs at FATAL (CRITICAL) and returns, as TF1's does.
"""

from __future__ import annotations

import logging
import sys
import threading

DEBUG = logging.DEBUG
INFO = logging.INFO
WARN = WARNING = logging.WARNING
ERROR = logging.ERROR
FATAL = logging.FATAL

_NAME = "graphc"
_lock = threading.Lock()
_configured = False
_counts: dict = {}  # (file, line) of a log_every_n / log_first_n call -> calls so far


def get_logger() -> logging.Logger:
    """The "graphc" logger, given a stderr handler at first use if nothing would show its
    records (no handler on it or on the root logger)."""
    global _configured
    logger = logging.getLogger(_NAME)
    if not _configured:
        with _lock:
            if not _configured and not logger.handlers and not logging.getLogger().handlers:
                handler = logging.StreamHandler(sys.stderr)
                handler.setFormatter(logging.Formatter(logging.BASIC_FORMAT))
                logger.addHandler(handler)
            _configured = True
    return logger


def set_verbosity(v) -> None:
    """Show messages of level `v` (DEBUG, INFO, WARN, ERROR, FATAL) and above."""
    get_logger().setLevel(v)


def get_verbosity() -> int:
    return get_logger().getEffectiveLevel()


# stacklevel=2: the record names the caller of these functions, not this file.
def log(level, msg, *args, **kwargs) -> None:
    get_logger().log(level, msg, *args, stacklevel=2, **kwargs)


def vlog(level, msg, *args, **kwargs) -> None:
    get_logger().log(level, msg, *args, stacklevel=2, **kwargs)


def debug(msg, *args, **kwargs) -> None:
    get_logger().debug(msg, *args, stacklevel=2, **kwargs)


def info(msg, *args, **kwargs) -> None:
    get_logger().info(msg, *args, stacklevel=2, **kwargs)


def warning(msg, *args, **kwargs) -> None:
    get_logger().warning(msg, *args, stacklevel=2, **kwargs)


warn = warning


def error(msg, *args, **kwargs) -> None:
    get_logger().error(msg, *args, stacklevel=2, **kwargs)


def fatal(msg, *args, **kwargs) -> None:
    """Log at FATAL; unlike absl's, TF1's tf.logging.fatal does not end the program."""
    get_logger().critical(msg, *args, stacklevel=2, **kwargs)


def log_if(level, msg, condition, *args) -> None:
    if condition:
        get_logger().log(level, msg, *args, stacklevel=2)


def _next_count() -> int:
    """How many times the calling line of the caller of this function ran before."""
    frame = sys._getframe(2)
    key = (frame.f_code.co_filename, frame.f_lineno)
    with _lock:
        count = _counts.get(key, 0)
        _counts[key] = count + 1
    return count


def log_every_n(level, msg, n, *args) -> None:
    """Log on the 1st, (n+1)th, (2n+1)th, ... call from the same line."""
    if _next_count() % n == 0:
        get_logger().log(level, msg, *args, stacklevel=2)


def log_first_n(level, msg, n, *args) -> None:
    """Log on the first n calls from the same line."""
    if _next_count() < n:
        get_logger().log(level, msg, *args, stacklevel=2)


def flush() -> None:
    for handler in get_logger().handlers:
        handler.flush()
