"""Canonical JSON (PROTOCOL.md section 1): the one encoding that is signed and hashed.

`canonical` encodes; `parse` is the strict parser every node and verifier uses: it refuses
duplicate keys, floats, NaN and infinities, integers outside 0..2^53-1, invalid UTF-8 and lone
surrogates. Unknown, missing and mistyped fields are refused by the schemas in `transactions`.
"""

import hashlib
import json
from typing import Any

from origin.protocol.errors import ProtocolError
from origin.protocol.limits import INT_DIGITS_MAX, INT_MAX


def canonical(obj: Any) -> bytes:
    """UTF-8, keys sorted by code point, no insignificant whitespace."""
    try:
        return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
    except (UnicodeEncodeError, ValueError) as exc:
        raise ProtocolError("malformed", f"not encodable as canonical JSON: {exc}") from None


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _remember(seen: set[str], key: str) -> bool:
    seen.add(key)
    return False


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        duplicate = next(k for k, _ in pairs if k in seen or _remember(seen, k))
        raise ProtocolError("malformed", f"duplicate key {duplicate!r}")
    return obj


def _integer(text: str) -> int:
    if len(text.lstrip("-")) > INT_DIGITS_MAX:  # not read at all: int() of 4,301 digits raises
        raise ProtocolError("malformed", f"integer of {len(text)} characters is outside 0..2^53-1")
    value = int(text)
    if not 0 <= value <= INT_MAX:
        raise ProtocolError("malformed", f"integer {text} is outside 0..2^53-1")
    return value


def _float(text: str) -> Any:
    raise ProtocolError("malformed", f"number {text} is not an integer: floats are not allowed")


def _constant(text: str) -> Any:
    raise ProtocolError("malformed", f"{text} is not JSON")


def _check_strings(obj: Any) -> None:
    """Refuse lone surrogates (escaped as \\udXXX), which have no UTF-8 encoding."""
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode()
            except UnicodeEncodeError:
                raise ProtocolError("malformed", "string holds a lone surrogate") from None
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def parse(data: bytes | str) -> Any:
    """Parse JSON strictly, raising ProtocolError('malformed') on anything section 1 forbids."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProtocolError("malformed", f"not UTF-8: {exc.reason}") from None
    try:
        obj = json.loads(
            data,
            object_pairs_hook=_object,
            parse_int=_integer,
            parse_float=_float,
            parse_constant=_constant,
        )
    except json.JSONDecodeError as exc:
        raise ProtocolError("malformed", f"not JSON: {exc}") from None
    except RecursionError:
        raise ProtocolError("malformed", "nested too deeply") from None
    _check_strings(obj)
    return obj
