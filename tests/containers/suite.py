"""What the containers suite's tests share: the targets, the images built, the figures printed."""

from __future__ import annotations

from dataclasses import dataclass, field

from support.standins import PythonBase

TARGETS = ("extractor", "extractor-local", "reporter", "reporter-local", "report")


@dataclass
class Figures:
    """What the run measured, printed in the terminal summary."""

    lines: list[str] = field(default_factory=list)

    def add(self, line: str) -> None:
        self.lines.append(line)


FIGURES = Figures()


def megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


@dataclass(frozen=True)
class Built:
    """The targets built from the shipped Dockerfile: target -> image tag."""

    tags: dict[str, str]
    base_size: int


@dataclass(frozen=True)
class Standins:
    """The stand-in images' tags (the base with what the build arguments point at)."""

    python: PythonBase
    mysql: str
    localstack: str
