"""Check characters of Chinese national identifiers.

- Resident ID number (GB 11643-1999): 6-digit region code, 8-digit birth date (YYYYMMDD), 3-digit
  sequence (odd for men, even for women), and a check character by ISO 7064 MOD 11-2 (``0``–``9``
  or ``X``).
- Unified social credit code (GB 32100-2015): 18 characters over the alphabet of digits and
  upper-case letters without I, O, Z, S, V; the last is a check character computed MOD 31.
- Mobile numbers: 11 digits starting with ``1[3-9]``.

Pure functions, no I/O: used by classification (to recognise real identifiers), the Demo County
and synthetic twins (to make valid-format fictional ones).
"""

from __future__ import annotations

import re
from datetime import date

RESIDENT_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
RESIDENT_ID_CHECK_CHARS = "10X98765432"  # indexed by (weighted sum mod 11)

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # 31 characters: no I, O, Z, S, V
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)

_RESIDENT_ID_RE = re.compile(r"^\d{17}[\dX]$")
_USCC_RE = re.compile(f"^[{USCC_ALPHABET}]{{18}}$")
MOBILE_RE = re.compile(r"^1[3-9]\d{9}$")


def resident_id_check_char(first17: str) -> str:
    """The check character of a resident ID number from its first 17 digits."""
    if len(first17) != 17 or not first17.isdigit():
        raise ValueError("a resident ID number starts with 17 digits")
    total = sum(int(d) * w for d, w in zip(first17, RESIDENT_ID_WEIGHTS))
    return RESIDENT_ID_CHECK_CHARS[total % 11]


def is_resident_id(value: str) -> bool:
    """True for an 18-character resident ID number with a real birth date and a valid check char."""
    value = value.strip().upper()
    if not _RESIDENT_ID_RE.match(value):
        return False
    try:
        born = date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return False
    if born.year < 1880:
        return False
    return resident_id_check_char(value[:17]) == value[17]


def uscc_check_char(first17: str) -> str:
    """The check character of a unified social credit code from its first 17 characters."""
    if len(first17) != 17 or any(c not in USCC_ALPHABET for c in first17):
        raise ValueError("a unified social credit code starts with 17 characters of its alphabet")
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(first17, USCC_WEIGHTS))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def is_uscc(value: str) -> bool:
    """True for an 18-character unified social credit code with a valid check character."""
    value = value.strip().upper()
    if not _USCC_RE.match(value):
        return False
    return uscc_check_char(value[:17]) == value[17]


def is_mobile(value: str) -> bool:
    """True for an 11-digit mainland mobile number (``1[3-9]`` then 9 digits)."""
    return bool(MOBILE_RE.match(value.strip()))
