"""The version of graphc, a leaf every level may read (cache keys, headers, the CLI)."""

__version__ = "0.1.0"
