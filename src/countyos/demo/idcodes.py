"""Vectorised fictional identifiers: resident ID numbers, credit codes, mobile numbers.

Owns making many valid-format identifiers at once with numpy (the check rules themselves are
those of ``countyos.catalog.identifiers``, which tests use to verify these). It must not decide
who gets which identifier: the people and enterprise modules do.

Every resident ID and credit code carries the Demo County's fictional region code, so none of
them can be the identifier of a real person or company. Mobile numbers cannot be made fictional
that way (China reserves no fictional range): they are random valid-format numbers.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from countyos.catalog.identifiers import (
    RESIDENT_ID_CHECK_CHARS,
    RESIDENT_ID_WEIGHTS,
    USCC_ALPHABET,
    USCC_WEIGHTS,
)
from countyos.demo.textutil import ascii_rows, digit_codes

#: GB 11714 organization code: weights of the 8 body characters.
ORGANIZATION_CODE_WEIGHTS = np.array([3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)

#: Mobile number segments of the three carriers (first three digits).
MOBILE_PREFIXES = (
    134, 135, 136, 137, 138, 139, 147, 150, 151, 152, 157, 158, 159, 178, 182, 183, 184, 187, 188,
    198, 130, 131, 132, 155, 156, 166, 175, 176, 185, 186, 133, 153, 173, 177, 180, 181, 189, 191,
    199,
)

_USCC_CODES = np.frombuffer(USCC_ALPHABET.encode("ascii"), dtype=np.uint8)
_RESIDENT_CHECK_CODES = np.frombuffer(RESIDENT_ID_CHECK_CHARS.encode("ascii"), dtype=np.uint8)


def resident_ids(region_code: str, birth_days: np.ndarray, sequence: np.ndarray) -> pa.Array:
    """18-character resident ID numbers (GB 11643-1999).

    Args:
        region_code: 6-digit region code of the place of first registration.
        birth_days: Birth dates as ``datetime64[D]``.
        sequence: 3-digit sequence numbers (odd for men, even for women), 0–999.

    Returns:
        One ID number per person, with its MOD 11-2 check character.
    """
    n = len(birth_days)
    codes = np.empty((n, 18), dtype=np.uint8)
    codes[:, :6] = np.frombuffer(region_code.encode("ascii"), dtype=np.uint8)
    years = birth_days.astype("datetime64[Y]").astype(np.int64) + 1970
    months = (birth_days.astype("datetime64[M]") - birth_days.astype("datetime64[Y]")).astype(
        np.int64) + 1
    days = (birth_days - birth_days.astype("datetime64[M]")).astype(np.int64) + 1
    codes[:, 6:14] = digit_codes(years * 10_000 + months * 100 + days, 8)
    codes[:, 14:17] = digit_codes(sequence, 3)
    digits = codes[:, :17].astype(np.int64) - 48
    total = digits @ np.array(RESIDENT_ID_WEIGHTS, dtype=np.int64)
    codes[:, 17] = _RESIDENT_CHECK_CODES[total % 11]
    return ascii_rows(codes)


def organization_code_check(body: np.ndarray) -> np.ndarray:
    """GB 11714 check characters (ASCII codes) of ``(n, 8)`` body character codes."""
    values = np.where(body >= 65, body.astype(np.int64) - 55, body.astype(np.int64) - 48)
    remainder = 11 - (values @ ORGANIZATION_CODE_WEIGHTS) % 11
    return np.select([remainder == 10, remainder == 11], [ord("X"), ord("0")],
                     default=remainder + 48).astype(np.uint8)


def organization_bodies(rng: np.random.Generator, new_style: np.ndarray) -> np.ndarray:
    """Random 8-character organization-code bodies as ``(n, 8)`` ASCII codes.

    Codes issued before the 2015 credit-code reform are 8 digits; newer ones start with ``MA``
    and use the credit-code alphabet.
    """
    n = len(new_style)
    body = (rng.integers(0, 10, size=(n, 8)) + 48).astype(np.uint8)
    new_rows = np.flatnonzero(new_style)
    tail = _USCC_CODES[rng.integers(0, len(_USCC_CODES), size=(len(new_rows), 6))]
    body[new_rows, 0] = ord("M")
    body[new_rows, 1] = ord("A")
    body[new_rows, 2:] = tail
    return body


def credit_codes(region_code: str, registration: np.ndarray, body: np.ndarray) -> pa.Array:
    """18-character unified social credit codes (GB 32100-2015).

    Args:
        region_code: 6-digit region code of the registering authority.
        registration: ``(n, 2)`` ASCII codes of the authority and entity type (``91`` for an
            enterprise registered by market regulation, ``93`` for a farmers' cooperative).
        body: ``(n, 8)`` organization-code bodies (see ``organization_bodies``).

    Returns:
        One code per entity, with the organization-code and MOD 31 check characters.
    """
    n = len(body)
    codes = np.empty((n, 18), dtype=np.uint8)
    codes[:, :2] = registration
    codes[:, 2:8] = np.frombuffer(region_code.encode("ascii"), dtype=np.uint8)
    codes[:, 8:16] = body
    codes[:, 16] = organization_code_check(body)
    lookup = np.full(256, -1, dtype=np.int64)
    lookup[_USCC_CODES] = np.arange(len(_USCC_CODES))
    values = lookup[codes[:, :17]]
    if np.any(values < 0):
        raise ValueError("credit code characters outside the GB 32100 alphabet")
    total = values @ np.array(USCC_WEIGHTS, dtype=np.int64)
    codes[:, 17] = _USCC_CODES[(31 - total % 31) % 31]
    return ascii_rows(codes)


def mobile_numbers(rng: np.random.Generator, n: int) -> pa.Array:
    """``n`` random 11-digit mobile numbers on real carrier segments."""
    prefixes = np.array(MOBILE_PREFIXES, dtype=np.int64)[rng.integers(0, len(MOBILE_PREFIXES), n)]
    return ascii_rows(digit_codes(prefixes * 10**8 + rng.integers(0, 10**8, n), 11))
