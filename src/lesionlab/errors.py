"""User-facing errors: one message that names the file or value and says what to do.

The command line prints these without a traceback and exits non-zero; anything else is a bug.
"""

from __future__ import annotations


class LesionlabError(Exception):
    """An error caused by the user's input or environment, with a message meant for a person."""


class DataError(LesionlabError):
    """A data source, image, mask or label that cannot be used as given."""


class ConfigError(LesionlabError):
    """A configuration value that is missing, mistyped or out of range."""
