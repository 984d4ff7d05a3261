"""Allows `python -m graphc ...`, equivalent to the `graphc` console script."""

from graphc.cli import main

raise SystemExit(main())
