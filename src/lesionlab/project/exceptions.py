"""The annotation project's domain errors: what went wrong, as a type, so the server maps each type to an
HTTP status in one place (`project.api.handlers`) and the command line prints each as one line.

All are `DataError`s: a service function raises them whoever calls it (a route, a command, a test).
"""

from __future__ import annotations

from lesionlab.errors import DataError


class ProjectError(DataError):
    """Base of the domain errors; a bare one means the request cannot be done as given."""


class Unauthorized(ProjectError):
    """No token, or one that belongs to nobody (or to someone revoked)."""


class Forbidden(ProjectError):
    """The person may not do this (another role is needed, or it is someone else's annotation)."""


class NotFound(ProjectError):
    """No such image, annotation, flag or person (or an image that cannot be shown)."""


class Conflict(ProjectError):
    """The request clashes with the project's state now (image complete, already reviewed, stale page)."""


class Invalid(ProjectError):
    """A value that can never be right (unknown class, mask of the wrong size, empty mask)."""


class TooLarge(ProjectError):
    """A request body above its route's limit."""
