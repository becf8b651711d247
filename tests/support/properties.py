"""Hypothesis settings and helpers shared by the property tests (tests/unit/test_properties_*).

The "ci" profile (the default) is derandomized: every run tries the same examples, so CI is
deterministic and a failure reproduces anywhere; it keeps no example database. Each example
Hypothesis ever found is kept as an explicit @example or parametrized regression test next to
its property. To hunt for new ones: HYPOTHESIS_PROFILE=explore (random, many more examples, the
database under .hypothesis/, which git ignores).
"""

from __future__ import annotations

import os
import unicodedata

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

settings.register_profile(
    "ci",
    max_examples=200,
    deadline=None,  # a shared CI machine's pauses are not failures
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("explore", max_examples=5_000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

MESSAGE_LIMIT = 600  # characters: every message of ours, whatever the input

# Any value a JSON document can hold (the events come from one).
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)


def mostly(good: st.SearchStrategy, bad: st.SearchStrategy) -> st.SearchStrategy:
    """`good` three times in four: most examples get far enough to reach every later check."""
    return st.integers(0, 3).flatmap(lambda i: bad if i == 0 else good)


def parts_of(secret: str, size: int = 3) -> set[str]:
    """Every substring of `secret` of `size` characters (none of a shorter secret)."""
    return {secret[i : i + size] for i in range(len(secret) - size + 1)}


def assert_holds_no_part_of(secret: str, text: str, *, known: str = "") -> None:
    """No substring of `secret` of 3 or more characters is in `text`, unless it is also in
    `known` (the same message made with another secret: the template's own words), and
    nothing names a character of it with its position."""
    for part in parts_of(secret):
        assert part not in text or part in known, f"a part of the secret is in: {text[:300]!r}"
    assert "position" not in text, text[:300]


def shadow(secret: str) -> str:
    """Another secret of the same shape, to tell a message's own words from the secret's.

    Each ASCII letter or digit becomes the next one, each other character another of the same
    kind (Latin-1 or not: the connection can send only Latin-1). Kept as they are: ASCII
    punctuation, spaces and controls, the two characters after a '%' and the characters that
    Unicode normalises into punctuation, since each of these can change how a URL parses. A
    message that depends on the secret's shape only is then the same for both.
    """
    kept, after_percent = [], 0
    for char in secret:
        if after_percent:
            kept.append(char)
            after_percent -= 1
            continue
        after_percent = 2 if char == "%" else 0
        kept.append(_another(char))
    return "".join(kept)


def _another(char: str) -> str:
    if char.isascii():
        for first, size in (("a", 26), ("A", 26), ("0", 10)):
            if 0 <= ord(char) - ord(first) < size:
                return chr(ord(first) + (ord(char) - ord(first) + 1) % size)
        return char
    if unicodedata.normalize("NFKC", char) != char:
        return char
    if ord(char) < 256:
        return "\u00e8" if char == "\u00e9" else "\u00e9"
    return "\u03a8" if char == "\u03a9" else "\u03a9"
