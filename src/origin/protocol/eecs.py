"""AIB EECS technology (`T` + 6 digits) and fuel (`F` + 8 digits) codes and their labels,
from the tables shipped with the package (EECS Rules Fact Sheet 5). Codes are hierarchical in
pairs of digits, so an unlisted code is labelled by its nearest listed parent."""

import csv
import functools
import re
from importlib import resources

DIGITS = re.compile(r"[0-9]+")  # ASCII: str.isdigit() takes any Unicode digit


@functools.cache
def _table(kind: str) -> dict[str, str]:
    with resources.files("origin.protocol").joinpath(f"data/eecs-{kind}-codes.csv").open() as f:
        return {row["code"]: row["label"] for row in csv.DictReader(f)}


def _label(kind: str, code: str) -> str | None:
    table = _table(kind)
    if not isinstance(code, str) or len(code) != {"tech": 7, "fuel": 9}[kind] or not DIGITS.fullmatch(code[1:]):
        return None
    digits = code[1:]
    for keep in range(len(digits), 0, -2):  # the code, then its parents: zero the last pairs
        candidate = code[0] + digits[:keep].ljust(len(digits), "0")
        if candidate in table:
            suffix = "" if candidate == code else f" (nearest listed: {candidate})"
            return table[candidate] + suffix
    return None


# Which fuel codes each technology may carry (shared/data/README.md): a pattern of the
# technology's first 3 characters -> fuel code patterns, "x" standing for any digit.
PERMITTED = {
    "T01": ["F01040100"],
    "T02": ["F010501xx"],
    "T03": ["F010502xx"],
    "T04": ["F010502xx"],
    "T05": ["F00000000", "F0100xxxx", "F0101xxxx", "F0102xxxx", "F0103xxxx", "F0104xxxx",
            "F010500xx", "F02xxxxxx"],
    "T06": ["F03xxxxxx"],
    "T07": ["Fxxxxxxxx"],
}  # fmt: skip


def _matches(code: str, pattern: str) -> bool:
    return len(code) == len(pattern) and all(p in ("x", c) for c, p in zip(code, pattern, strict=True))


def check_pair(tech: str, fuel: str) -> str | None:
    """None if the technology and fuel codes are known and may go together; else why not."""
    if tech_label(tech) is None:
        return f"unknown technology code {tech!r}"
    if fuel_label(fuel) is None:
        return f"unknown fuel code {fuel!r}"
    patterns = PERMITTED.get(tech[:3])
    if patterns is None or not any(_matches(fuel, p) for p in patterns):
        return f"technology {tech} does not take fuel {fuel}"
    return None


def tech_label(code: str) -> str | None:
    return _label("tech", code)


def fuel_label(code: str) -> str | None:
    return _label("fuel", code)
