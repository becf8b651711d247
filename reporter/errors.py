"""Errors the reporter raises; Lambda reports each as a function error with its message."""

from __future__ import annotations


class ReporterError(Exception):
    """Base of every error the reporter raises on purpose."""


class SettingsError(ReporterError):
    """An environment variable is missing or malformed."""

    def __init__(self, name: str, problem: str) -> None:
        self.name = name
        super().__init__(f"setting {name}: {problem}")


class EventError(ReporterError):
    """The invocation event asks for something invalid (e.g. a malformed reportDate)."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        super().__init__(f"invalid event: {field!r} {problem}")


class ParameterError(ReporterError):
    """The database settings could not be read from SSM Parameter Store."""


class ExtractorFailedError(ReporterError):
    """The extractor could not be invoked, failed, or answered something unusable."""

    def __init__(self, message: str, *, error_type: str | None = None) -> None:
        self.error_type = error_type
        super().__init__(message)


class PublishError(ReporterError):
    """SNS refused the report."""
