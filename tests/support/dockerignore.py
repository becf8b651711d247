""".dockerignore as Docker reads it: which repository files reach the build context.

Docker's rules: patterns in order, the last one matching decides; a pattern that matches a
directory matches everything under it; `!` re-includes; `*` and `?` stay within one path
segment, `**` crosses any number of them.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

from support.tools import REPO_ROOT


def patterns(path: Path = REPO_ROOT / ".dockerignore") -> list[tuple[bool, re.Pattern[str]]]:
    """(re-includes?, compiled pattern) per non-comment line, in order."""
    result = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = str(PurePosixPath(line.removeprefix("!").strip().strip("/")))
        result.append((negated, re.compile(_regex(pattern))))
    return result


def in_context(relative: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    """Whether the file at this repository-relative path is sent to the builder."""
    parts = PurePosixPath(relative).parts
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    included = True
    for negated, regex in rules:
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            included = negated
    return included


def _regex(pattern: str) -> str:
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return "".join(out)
