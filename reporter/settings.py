"""The reporter's settings: environment variables (names kept from the lab) and the SSM values."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from . import fields
from .errors import ParameterError, SettingsError

DEFAULT_EXTRACTOR = "salesAnalysisReportDataExtractor"
DEFAULT_SSM_PREFIX = "/cafe"
DEFAULT_TIMEZONE = "UTC"
MAX_SSM_PREFIX = 1000  # SSM's names are at most 2048 characters, the prefix's parameters too
_TOPIC_ARN = re.compile(r"arn:aws[a-z-]*:sns:([a-z0-9-]+):[0-9]{12}:[A-Za-z0-9_-]{1,256}")
# What Lambda's Invoke accepts as FunctionName (its API reference): a name, a partial ARN or an
# ARN, with an optional version or alias; at most 140 characters.
_FUNCTION = re.compile(
    r"(?:arn:aws[a-zA-Z-]*:lambda:[a-z]{2}(?:-gov)?-[a-z]+-[0-9]:)?(?:[0-9]{12}:)?"
    r"(?:function:)?[a-zA-Z0-9_-]{1,64}(?::(?:\$LATEST|[a-zA-Z0-9_-]{1,128}))?"
)
_TABLE = re.compile(r"[A-Za-z0-9_.-]{3,255}")
_PREFIX = re.compile(r"(?:/[A-Za-z0-9_.-]+)+")
T = TypeVar("T")


@dataclass(frozen=True)
class Settings:
    """What the reporter needs to know that is not in the event."""

    topic_arn: str | None
    extractor_function: str
    ssm_prefix: str
    timezone: ZoneInfo
    delivery_table: str | None = None

    @property
    def topic_region(self) -> str | None:
        """The topic's own region, which may differ from the function's (as in the lab)."""
        match = _TOPIC_ARN.fullmatch(self.topic_arn or "")
        return match.group(1) if match else None

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        need_topic: bool = True,
        need_delivery_table: bool = False,
    ) -> Settings:
        """Read and validate the settings; raise SettingsError naming the bad variable."""
        env = os.environ if env is None else env
        table = env.get("DELIVERY_TABLE", "").strip() or None
        if table is None and need_delivery_table:
            raise SettingsError(
                "DELIVERY_TABLE",
                "is not set: set it to the DynamoDB table that records each day's delivery "
                "(deploy.sh creates it), so that a day retried or run twice is sent once",
            )
        if table is not None and not _TABLE.fullmatch(table):
            raise SettingsError(
                "DELIVERY_TABLE",
                f"{fields.show(table)} is not a DynamoDB table name (3-255 of A-Z a-z 0-9 _ . -)",
            )
        topic = env.get("topicARN", "").strip() or None
        if topic is None and need_topic:
            raise SettingsError(
                "topicARN",
                "is not set: set it to the ARN of the SNS topic that receives the report "
                "(e.g. arn:aws:sns:us-east-1:123456789012:SalesReportTopic)",
            )
        if topic is not None and not _TOPIC_ARN.fullmatch(topic):
            raise SettingsError(
                "topicARN",
                f"{fields.show(topic)} is not an SNS topic ARN "
                "(arn:aws:sns:<region>:<account>:<topic name>)",
            )
        function = env.get("EXTRACTOR_FUNCTION_NAME", "").strip() or DEFAULT_EXTRACTOR
        if len(function) > 140 or not _FUNCTION.fullmatch(function):
            raise SettingsError(
                "EXTRACTOR_FUNCTION_NAME",
                f"{fields.show(function)} is not a Lambda function name or ARN "
                f"(e.g. {DEFAULT_EXTRACTOR})",
            )
        zone = env.get("REPORT_TIMEZONE", "").strip() or DEFAULT_TIMEZONE
        try:
            timezone = fields.zone(zone)
        except fields.Malformed as exc:
            raise SettingsError("REPORT_TIMEZONE", str(exc)) from exc
        return cls(
            topic_arn=topic,
            extractor_function=function,
            ssm_prefix=_prefix(env.get("SSM_PREFIX", "").strip() or DEFAULT_SSM_PREFIX),
            timezone=timezone,
            delivery_table=table,
        )


def _prefix(value: str) -> str:
    prefix = "/" + value.strip("/")
    if prefix == "/" or len(prefix) > MAX_SSM_PREFIX or not _PREFIX.fullmatch(prefix):
        raise SettingsError(
            "SSM_PREFIX",
            f"{fields.show(value)} is not a parameter path such as /cafe "
            f"(letters, digits, _.-; at most {MAX_SSM_PREFIX} characters)",
        )
    return prefix


def db_parameters(prefix: str, values: Mapping[str, str]) -> dict[str, Any]:
    """Check the database settings read from SSM (dbUrl, dbName, dbUser, dbPassword, and the
    optional dbPort, dbSslMode, dbSslCa).

    Return them as DbSettings' fields (url, name, user, password, port), or raise ParameterError
    naming the parameter and what it may hold. The same formats as the extractor's event
    (fields.py), so a bad value is refused here, by its parameter's name, before any invoke.
    """

    def check(key: str, parse: Callable[[object], T]) -> T:
        try:
            return parse(values.get(key))
        except fields.Malformed as exc:
            raise ParameterError(f"SSM parameter {prefix}/{key} {exc}") from exc

    def optional(key: str, parse: Callable[[object], T]) -> T | None:
        return check(key, parse) if values.get(key) is not None else None

    check("dbUrl", fields.host)
    check("dbPassword", fields.password)
    return {
        "url": values["dbUrl"].strip(),
        "name": check("dbName", fields.database_name),
        "user": check("dbUser", fields.user_name),
        "password": values["dbPassword"],
        "port": optional("dbPort", fields.port),
        "ssl_mode": optional("dbSslMode", fields.ssl_mode),
        "ssl_ca": optional("dbSslCa", fields.ca_path),
    }
