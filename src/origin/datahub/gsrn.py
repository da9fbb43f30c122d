"""GSRN, the 18-digit id of a metering point: its last digit is a GS1 mod-10 check digit.

From the rightmost of the first 17 digits leftwards, multiply alternately by 3 and 1, sum, and
the check digit is (10 - sum % 10) % 10. A GSRN is personal data: it never goes on the ledger.
"""

import re

_GSRN = re.compile(r"[0-9]{18}")


class InvalidGSRN(ValueError):
    pass


def check_digit(first17: str) -> int:
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(first17)))
    return (10 - total % 10) % 10


def validate(gsrn) -> str:
    """The GSRN if it is 18 digits with a right check digit; InvalidGSRN saying what is wrong."""
    if not isinstance(gsrn, str) or not _GSRN.fullmatch(gsrn):
        raise InvalidGSRN(f"a GSRN is 18 digits, not {gsrn!r}")
    expected = check_digit(gsrn[:17])
    if int(gsrn[17]) != expected:
        raise InvalidGSRN(f"GSRN {gsrn} has check digit {gsrn[17]}; its first 17 digits give {expected}")
    return gsrn


def make(first17: str) -> str:
    """A valid GSRN from its first 17 digits."""
    if not re.fullmatch(r"[0-9]{17}", first17):
        raise InvalidGSRN(f"a GSRN starts with 17 digits, not {first17!r}")
    return first17 + str(check_digit(first17))
