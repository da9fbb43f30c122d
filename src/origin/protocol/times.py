"""Timestamps of PROTOCOL.md section 1: `YYYY-MM-DDTHH:MM:SSZ`, UTC, exactly 20 characters."""

import functools
import re
from datetime import UTC, datetime, timedelta

from origin.protocol.errors import ProtocolError

_FORMAT = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})Z"
)  # ASCII digits: \d is any Unicode digit
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)


def parse_time(text: object) -> int:
    """Unix seconds of a protocol timestamp (1970 onwards); `malformed` for anything else."""
    match = _FORMAT.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ProtocolError("malformed", f"timestamp {text!r} is not YYYY-MM-DDTHH:MM:SSZ")
    try:
        year, month, day, hour, minute, second = map(int, match.groups())
        moment = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError:
        raise ProtocolError("malformed", f"timestamp {text!r} is not a real UTC time") from None
    if moment < _EPOCH:
        raise ProtocolError("malformed", f"timestamp {text!r} is before 1970")
    return (moment - _EPOCH) // _SECOND


@functools.lru_cache(maxsize=8192)  # builders format the same periods for many meters in a row
def format_time(seconds: int) -> str:
    return (_EPOCH + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")
