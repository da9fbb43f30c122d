"""AIB EECS technology (`T` + 6 digits) and fuel (`F` + 8 digits) codes and their labels,
from the tables shipped with the package (EECS Rules Fact Sheet 5). Codes are hierarchical in
pairs of digits, so an unlisted code is labelled by its nearest listed parent."""

import csv
import functools
from importlib import resources


@functools.cache
def _table(kind: str) -> dict[str, str]:
    with resources.files("origin.protocol").joinpath(f"data/eecs-{kind}-codes.csv").open() as f:
        return {row["code"]: row["label"] for row in csv.DictReader(f)}


def _label(kind: str, code: str) -> str | None:
    table = _table(kind)
    digits = code[1:]
    for keep in range(len(digits), 0, -2):  # the code, then its parents: zero the last pairs
        candidate = code[0] + digits[:keep].ljust(len(digits), "0")
        if candidate in table:
            suffix = "" if candidate == code else f" (nearest listed: {candidate})"
            return table[candidate] + suffix
    return None


def tech_label(code: str) -> str | None:
    return _label("tech", code)


def fuel_label(code: str) -> str | None:
    return _label("fuel", code)
