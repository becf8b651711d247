"""Errors the reporter raises; Lambda reports each as a function error with its message."""

from __future__ import annotations

from datetime import date


class ReporterError(Exception):
    """Base of every error the reporter raises on purpose.

    `day` is set once the day to report is known: the message then starts with it, so a failed
    run's error (in the logs and the failure queue) says which day to re-send.
    """

    day: date | None = None

    def __str__(self) -> str:
        text = super().__str__()
        return f"report for {self.day.isoformat()}: {text}" if self.day else text


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
    """SNS refused the report, or its answer was lost (`uncertain`: it may have been sent)."""

    def __init__(self, message: str, *, uncertain: bool = False) -> None:
        self.uncertain = uncertain
        super().__init__(message)


class DependencyTimeoutError(ReporterError):
    """A remote call (SSM, the extractor, DynamoDB, SNS) did not finish within its share of the
    invocation's time, so the reporter gave up before Lambda's own timeout."""

    def __init__(self, dependency: str, seconds: float, *, started: bool = True) -> None:
        self.dependency = dependency
        self.seconds = seconds
        self.started = started
        if started:
            problem = f"did not answer within {seconds:.1f} s"
        else:
            problem = "was not called: no time was left in this invocation"
        super().__init__(
            f"{dependency} {problem}, so the reporter stopped before its Lambda timeout: check "
            "that the service is reachable and healthy (its endpoint, network, throttling); the "
            "function's timeout is in README, Configuration"
        )


class DeliveryError(ReporterError):
    """The delivery record (DynamoDB table DELIVERY_TABLE) could not be read or written."""


class DeliveryBusyError(ReporterError):
    """Another run holds the claim on this day's delivery and did not finish in time."""


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
