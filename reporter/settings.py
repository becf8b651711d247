"""The reporter's settings, all from environment variables (names kept from the lab)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import SettingsError

DEFAULT_EXTRACTOR = "salesAnalysisReportDataExtractor"
DEFAULT_SSM_PREFIX = "/cafe"
DEFAULT_TIMEZONE = "UTC"
_TABLE = re.compile(r"[A-Za-z0-9_.-]{3,255}")
_TOPIC_ARN = re.compile(r"^arn:aws[a-z-]*:sns:([a-z0-9-]+):\d{12}:[A-Za-z0-9_-]{1,256}$")


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
        match = _TOPIC_ARN.match(self.topic_arn or "")
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
                f"{table[:80]!r} is not a DynamoDB table name (3-255 of A-Z a-z 0-9 _ . -)",
            )
        topic = env.get("topicARN", "").strip() or None
        if topic is None and need_topic:
            raise SettingsError(
                "topicARN",
                "is not set: set it to the ARN of the SNS topic that receives the report "
                "(e.g. arn:aws:sns:us-east-1:123456789012:SalesReportTopic)",
            )
        if topic is not None and not _TOPIC_ARN.match(topic):
            raise SettingsError(
                "topicARN",
                f"{topic!r} is not an SNS topic ARN (arn:aws:sns:<region>:<account>:<topic name>)",
            )
        return cls(
            topic_arn=topic,
            extractor_function=env.get("EXTRACTOR_FUNCTION_NAME", "").strip() or DEFAULT_EXTRACTOR,
            ssm_prefix=_prefix(env.get("SSM_PREFIX", "").strip() or DEFAULT_SSM_PREFIX),
            timezone=_zone(env.get("REPORT_TIMEZONE", "").strip() or DEFAULT_TIMEZONE),
            delivery_table=table,
        )


def _prefix(value: str) -> str:
    prefix = "/" + value.strip("/")
    if prefix == "/" or not re.fullmatch(r"(/[A-Za-z0-9_.-]+)+", prefix):
        raise SettingsError(
            "SSM_PREFIX", f"{value!r} is not a parameter path such as /cafe (letters, digits, _.-)"
        )
    return prefix


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise SettingsError(
            "REPORT_TIMEZONE", f"{name!r} is not an IANA time zone name (e.g. Europe/Paris, UTC)"
        ) from exc
