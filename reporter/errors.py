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


class RowError(ExtractorFailedError):
    """The extractor returned a row that breaks its contract (type, range, order)."""

    def __init__(
        self, row: int, field: str | None, problem: str, product_id: int | None = None
    ) -> None:
        self.row, self.field = row, field
        where = f"row {row}" if product_id is None else f"row {row} (product_id {product_id})"
        what = problem if field is None else f"{field!r} {problem}"
        super().__init__(
            f"the extractor returned a bad {where}: {what}: nothing was published; check the "
            "day's data in the database, and that the reporter and extractor images are from "
            "the same release"
        )
