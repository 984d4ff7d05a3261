"""tf.app: run a program's main() after parsing its command-line flags (TF1's tf.app.run).

    tf.app.flags.DEFINE_integer("steps", 100, "training steps")

    def main(argv):
        ...  # argv: the program name and the arguments that are not defined flags

    if __name__ == "__main__":
        tf.app.run()

As in TF1, flags no DEFINE_* defined are tolerated here (they are passed on to main in
argv); a bad value of a defined flag prints "FATAL Flags parsing error: ..." and exits with
status 1, and main's return value is the exit status (None is 0).
"""

from __future__ import annotations

import sys

from graphc import flags
from graphc.errors import user_location


def run(main=None, argv=None):
    """Parse `argv` (default sys.argv) into tf.app.flags.FLAGS, then sys.exit(main(rest))."""
    if main is None:
        main = getattr(sys.modules.get("__main__"), "main", None)
        if main is None:
            raise TypeError("tf.app.run: expected a main function, the `main` argument or a "
                            "function `main` in the __main__ module, found neither (at "
                            f"{user_location()})")
    try:
        rest = flags.FLAGS(sys.argv if argv is None else argv, known_only=True)
    except flags.Error as err:
        sys.stderr.write(f"FATAL Flags parsing error: {err}\n"
                         "Pass --helpshort or --helpfull to see help on flags.\n")
        sys.exit(1)
    sys.exit(main(rest))
