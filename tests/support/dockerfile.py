"""A small reader for docker/Dockerfile: its stages and what each target ends up with.

Enough of the Dockerfile syntax for our own file (continuation lines, comments, `AS` names,
flags, JSON-form CMD/ENTRYPOINT, `ENV k=v`), so the tests check the image's real definition.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from support.tools import REPO_ROOT

DOCKERFILE = REPO_ROOT / "docker" / "Dockerfile"
_FLAG = re.compile(r"^--(?P<name>[a-z-]+)(?:=(?P<value>\S*))?\s+")


@dataclass(frozen=True)
class Instruction:
    """One instruction: its keyword (upper case), flags, the rest of its text, and its line."""

    keyword: str
    flags: dict[str, str]
    args: str
    line: int

    def json_args(self) -> Any:
        """The exec (JSON) form's list, e.g. CMD ["handler"]."""
        return json.loads(self.args)


@dataclass
class Stage:
    """A FROM block: its name (if any), its base image or stage, its instructions."""

    name: str | None
    base: str
    platform: str | None
    instructions: list[Instruction] = field(default_factory=list)


@dataclass
class Dockerfile:
    """The parsed file: global ARGs (before the first FROM) and the stages in order."""

    global_args: dict[str, str]
    stages: list[Stage]

    @classmethod
    def read(cls, path: Path = DOCKERFILE) -> Dockerfile:
        return parse(path.read_text(encoding="utf-8"))

    def stage(self, name: str) -> Stage:
        for stage in self.stages:
            if stage.name == name:
                return stage
        raise KeyError(f"no stage {name!r} in the Dockerfile")

    def chain(self, target: str) -> list[Stage]:
        """The target and the stages it is built FROM, base first."""
        names = {s.name for s in self.stages}
        chain = [self.stage(target)]
        while chain[0].base in names:
            chain.insert(0, self.stage(chain[0].base))
        return chain

    def instructions(self, target: str, keyword: str) -> list[Instruction]:
        return [i for s in self.chain(target) for i in s.instructions if i.keyword == keyword]

    def last(self, target: str, keyword: str) -> Instruction:
        found = self.instructions(target, keyword)
        if not found:
            raise KeyError(f"target {target!r} has no {keyword}")
        return found[-1]

    def env(self, target: str) -> dict[str, str]:
        """Every ENV the target inherits and sets (only the `ENV k=v ...` form)."""
        values: dict[str, str] = {}
        for instruction in self.instructions(target, "ENV"):
            for token in shlex.split(instruction.args):
                name, _, value = token.partition("=")
                values[name] = value
        return values

    def base_image(self, target: str) -> str:
        """The image the target's chain starts from, with global ARG defaults substituted."""
        base = self.chain(target)[0].base
        return re.sub(r"\$\{(\w+)\}", lambda m: self.global_args.get(m[1], m[0]), base)


def parse(text: str) -> Dockerfile:
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for line_no, keyword, rest in _logical_lines(text):
        flags, rest = _flags(rest)
        if keyword == "FROM":
            base, _, name = rest.partition(" AS ")
            stage = Stage(name.strip() or None, base.strip(), flags.get("platform"))
            stages.append(stage)
        elif not stages:
            if keyword == "ARG":
                name, _, default = rest.partition("=")
                global_args[name.strip()] = default.strip()
        else:
            stages[-1].instructions.append(Instruction(keyword, flags, rest, line_no))
    return Dockerfile(global_args, stages)


def _logical_lines(text: str) -> list[tuple[int, str, str]]:
    """(first line number, keyword, arguments) per instruction, continuations joined."""
    result: list[tuple[int, str, str]] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue  # comments may sit inside a continued instruction, as Docker allows
        if not pending:
            start = number
        pending.append(stripped.removesuffix("\\").strip())
        if not stripped.endswith("\\"):
            keyword, _, rest = " ".join(pending).partition(" ")
            result.append((start, keyword.upper(), rest.strip()))
            pending = []
    return result


def _flags(rest: str) -> tuple[dict[str, str], str]:
    flags: dict[str, str] = {}
    while match := _FLAG.match(rest):
        flags[match["name"]] = match["value"] or ""
        rest = rest[match.end() :]
    return flags, rest
