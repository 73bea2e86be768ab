"""Fresh, valid-format fake identifiers for twins, never equal to a real one.

Owns vectorised generation of resident ID numbers (region code, birth date and sex consistent
with the twin's own birth-date and sex columns when there are, ISO 7064 MOD 11-2 check
character), unified social credit codes (organisation code with its GB 11714 check character,
MOD 31 check character), mobile numbers (``1[3-9]`` and nine digits), landline numbers, e-mail
addresses at reserved example domains, licence plates, person and firm names and addresses (from
``names``), and values in the shape of other identifiers and keys (from ``shapes``); and
the loop that regenerates every value equal to a real one (and every duplicate, where values
must be unique).

Must not derive a value from a real one: real values are only used as the set to avoid, and, for
unnamed identifiers, for their common shape.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from countyos.catalog.identifiers import (
    RESIDENT_ID_CHECK_CHARS,
    RESIDENT_ID_WEIGHTS,
    USCC_ALPHABET,
    USCC_WEIGHTS,
)
from countyos.errors import InternalError, InvalidInputError
from countyos.lab.twins.names import make_addresses, make_enterprise_names, make_person_names
from countyos.lab.twins.schema import is_textual, value_type
from countyos.lab.twins.shapes import IntegerShapes, StringShapes

# county-level region codes of Ningbo (Zhejiang); override per county with ``region_codes``
DEFAULT_REGION_CODES = ("330281", "330282", "330212", "330211", "330206", "330213", "330226")
_BIRTH_DAY_RANGE = (np.datetime64("1940-01-01"), np.datetime64("2015-12-31"))
_VALID_BIRTH_RANGE = (np.datetime64("1900-01-01"), np.datetime64("2099-12-31"))
_USCC_KINDS = (("91", 0.86), ("92", 0.09), ("93", 0.05))  # enterprise, individual business, cooperative
_ORGANISATION_WEIGHTS = np.array((3, 7, 9, 10, 5, 8, 4, 2))
_MOBILE_SECOND_DIGITS = (("3", 0.30), ("5", 0.25), ("8", 0.25), ("7", 0.08), ("9", 0.08), ("6", 0.02), ("4", 0.02))
_AREA_CODES = ("0574",)
_EMAIL_DOMAINS = ("example.com", "example.cn", "example.net", "example.org")  # reserved, never real
_PLATE_PROVINCE = "浙"
_PLATE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
_MAX_ROUNDS = 50

_TEXT_ONLY = ("person_name", "address", "enterprise_name", "phone", "email", "license_plate")

Maker = Callable[[np.ndarray], pa.Array]


@dataclass(frozen=True)
class PersonContext:
    """Twin attributes that a person's identifiers must agree with, one entry per twin row.

    Attributes:
        birth_days: Days since 1970-01-01 (NaN where unknown).
        male: ``1`` male, ``0`` female, ``-1`` unknown.
    """

    birth_days: np.ndarray
    male: np.ndarray

    @classmethod
    def unknown(cls, rows: int) -> PersonContext:
        return cls(np.full(rows, np.nan), np.full(rows, -1, dtype=np.int8))


def _digits(codes: tuple[str, ...] | list[str]) -> np.ndarray:
    return np.array([[int(c) for c in code] for code in codes], dtype=np.int64)


def _ascii_strings(characters: np.ndarray) -> pa.Array:
    """Strings from an (n, width) matrix of ASCII codes."""
    count, width = characters.shape
    data = np.ascontiguousarray(characters, dtype=np.uint8)
    offsets = np.arange(0, (count + 1) * width, width, dtype=np.int32)
    return pa.StringArray.from_buffers(count, pa.py_buffer(offsets), pa.py_buffer(data))


def _check_region_codes(region_codes: tuple[str, ...]) -> tuple[str, ...]:
    if not region_codes or any(len(c) != 6 or not c.isdigit() for c in region_codes):
        raise InvalidInputError("region codes must be 6-digit administrative division codes")
    return tuple(region_codes)


def make_resident_ids(
    count: int, rng: np.random.Generator, context: PersonContext | None, region_codes: tuple[str, ...]
) -> pa.Array:
    """Valid resident ID numbers (GB 11643-1999) agreeing with ``context`` where it is known."""
    context = context or PersonContext.unknown(count)
    regions = _digits(_check_region_codes(region_codes))[rng.integers(0, len(region_codes), size=count)]
    low, high = (d.astype("int64") for d in _BIRTH_DAY_RANGE)
    days = np.where(np.isfinite(context.birth_days), context.birth_days, rng.integers(low, high + 1, size=count))
    valid_low, valid_high = (d.astype("int64") for d in _VALID_BIRTH_RANGE)
    born = np.clip(np.rint(days), valid_low, valid_high).astype("int64").astype("datetime64[D]")
    year = born.astype("datetime64[Y]").astype(np.int64) + 1970
    month_start = born.astype("datetime64[M]")
    month = month_start.astype(np.int64) % 12 + 1
    day = (born - month_start.astype("datetime64[D]")).astype(np.int64) + 1
    male = np.where(context.male < 0, rng.integers(0, 2, size=count), context.male)
    sequence = 2 * rng.integers(0, 500, size=count) + 1  # odd: men
    sequence = np.where(male == 1, sequence, 2 * rng.integers(1, 500, size=count))  # even: women
    digits = np.empty((count, 18), dtype=np.uint8)
    digits[:, :6] = regions
    for offset, number, width in ((6, year, 4), (10, month, 2), (12, day, 2), (14, sequence, 3)):
        for place in range(width):
            digits[:, offset + place] = number // 10 ** (width - 1 - place) % 10
    total = digits[:, :17].astype(np.int32) @ np.array(RESIDENT_ID_WEIGHTS, dtype=np.int32)
    check = np.frombuffer(RESIDENT_ID_CHECK_CHARS.encode(), dtype=np.uint8)[total % 11]
    digits += ord("0")
    digits[:, 17] = check
    return _ascii_strings(digits)


def make_usccs(count: int, rng: np.random.Generator, region_codes: tuple[str, ...]) -> pa.Array:
    """Valid unified social credit codes (GB 32100-2015) with valid organisation codes."""
    alphabet = np.frombuffer(USCC_ALPHABET.encode(), dtype=np.uint8)
    kinds = [k for k, _ in _USCC_KINDS]
    kind = np.array([[ord(c) for c in k] for k in kinds])[
        rng.choice(len(kinds), size=count, p=[w for _, w in _USCC_KINDS])
    ]
    regions = _digits(_check_region_codes(region_codes))[rng.integers(0, len(region_codes), size=count)] + ord("0")
    # organisation code body: mostly digits, sometimes letters of the USCC alphabet
    body = np.where(
        rng.random((count, 8)) < 0.8,
        rng.integers(0, 10, size=(count, 8)),
        rng.integers(10, len(alphabet), size=(count, 8)),
    )
    body_chars = alphabet[body]
    body_values = np.where(body_chars <= ord("9"), body_chars - ord("0"), body_chars - ord("A") + 10)
    organisation_check = 11 - (body_values @ _ORGANISATION_WEIGHTS) % 11
    organisation_char = np.where(
        organisation_check == 10, ord("X"), np.where(organisation_check == 11, ord("0"), organisation_check + ord("0"))
    )
    characters = np.empty((count, 18), dtype=np.int64)
    characters[:, :2] = kind
    characters[:, 2:8] = regions
    characters[:, 8:16] = body_chars
    characters[:, 16] = organisation_char
    lookup = np.full(128, -1, dtype=np.int64)
    lookup[alphabet] = np.arange(len(alphabet))
    total = lookup[characters[:, :17]] @ np.array(USCC_WEIGHTS)
    characters[:, 17] = alphabet[(31 - total % 31) % 31]
    return _ascii_strings(characters)


def make_mobiles(count: int, rng: np.random.Generator) -> pa.Array:
    """Mobile numbers: ``1``, a second digit 3–9 in rough market shares, nine random digits."""
    seconds = np.array([ord(d) for d, _ in _MOBILE_SECOND_DIGITS])
    characters = np.empty((count, 11), dtype=np.int64)
    characters[:, 0] = ord("1")
    characters[:, 1] = seconds[rng.choice(len(seconds), size=count, p=[w for _, w in _MOBILE_SECOND_DIGITS])]
    characters[:, 2:] = rng.integers(0, 10, size=(count, 9)) + ord("0")
    return _ascii_strings(characters)


def _random_text(count: int, rng: np.random.Generator, alphabet: str, width: int) -> pa.Array:
    codes = np.frombuffer(alphabet.encode("ascii"), dtype=np.uint8)
    return _ascii_strings(codes[rng.integers(0, len(codes), size=(count, width))])


def make_phones(count: int, rng: np.random.Generator) -> pa.Array:
    """Landline numbers: an area code, a hyphen, eight digits not starting with 0 or 1."""
    area = pa.array(list(_AREA_CODES)).take(pa.array(rng.integers(0, len(_AREA_CODES), size=count)))
    first = _random_text(count, rng, "2345678", 1)
    return pc.binary_join_element_wise(area, pa.scalar("-"), first, _random_text(count, rng, "0123456789", 7), "")


def make_emails(count: int, rng: np.random.Generator) -> pa.Array:
    """E-mail addresses at reserved example domains: letters and digits before the ``@``."""
    domains = pa.array(list(_EMAIL_DOMAINS)).take(pa.array(rng.integers(0, len(_EMAIL_DOMAINS), size=count)))
    letters = _random_text(count, rng, "abcdefghijkmnpqrstuvwxyz", 6)
    digits = _random_text(count, rng, "0123456789", 4)
    return pc.binary_join_element_wise(letters, digits, pa.scalar("@"), domains, "")


def make_plates(count: int, rng: np.random.Generator) -> pa.Array:
    """Licence plates: province character, city letter, five digits or letters (no I, O)."""
    city = _random_text(count, rng, "ABCDEFGHJK", 1)
    tail = _random_text(count, rng, "0123456789" * 3 + _PLATE_LETTERS, 5)
    return pc.binary_join_element_wise(pa.scalar(_PLATE_PROVINCE), city, tail, "")


def _first_occurrences(values: pa.Array) -> np.ndarray:
    """True where a value appears for the first time (Arrow numbers values by first appearance)."""
    encoded = pc.dictionary_encode(values)
    if len(encoded.dictionary) == len(values):
        return np.ones(len(values), dtype=bool)
    indices = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    first = np.ones(len(values), dtype=bool)
    first[1:] = indices[1:] > np.maximum.accumulate(indices)[:-1]
    return first


def _duplicated_at(values: pa.Array, positions: np.ndarray) -> np.ndarray:
    """For each of ``positions``: does its value occur elsewhere in ``values`` too?

    Hashes only the few values at ``positions`` and probes the whole array with them, which is
    much cheaper than encoding the whole array again.
    """
    chosen = values.take(pa.array(positions))
    hits = values.filter(pc.is_in(values, value_set=chosen))
    counts = pc.value_counts(hits)
    repeated = counts.field("values").filter(pc.greater(counts.field("counts"), 1))
    if len(repeated) == 0:
        return np.zeros(positions.size, dtype=bool)
    return pc.is_in(chosen, value_set=repeated).to_numpy(zero_copy_only=False)


def generate_fresh(
    make: Maker, count: int, target_type: pa.DataType, avoid: pa.Array, *, unique: bool, what: str
) -> pa.Array:
    """Generate ``count`` values of ``target_type`` none of which is in ``avoid``.

    Args:
        make: Makes values for the given row positions (string or int64 arrays).
        count: How many values.
        target_type: The column's value type; values that cannot be cast to it are remade.
        avoid: Real values (any type castable to ``target_type``) that must not appear.
        unique: Also remake duplicates.
        what: Names the column in errors (never a value).

    Raises:
        InternalError: the values could not be made fresh within a bounded number of rounds.
    """
    positions = np.arange(count)
    values = make(positions)
    needs_digits = pa.types.is_integer(target_type) and is_textual(values.type)
    avoid = avoid.drop_null()
    if len(avoid) and avoid.type != values.type:
        avoid = avoid.cast(values.type) if is_textual(values.type) else avoid.cast(target_type).cast(values.type)

    def rejected(candidates: pa.Array) -> np.ndarray:
        bad = np.zeros(len(candidates), dtype=bool)
        if len(avoid) and len(candidates) * 8 < len(avoid):
            # hash the few candidates rather than the many real values
            found = avoid.filter(pc.is_in(avoid, value_set=candidates))
            if len(found):
                bad |= pc.is_in(candidates, value_set=found).to_numpy(zero_copy_only=False)
        elif len(avoid):
            bad |= pc.is_in(candidates, value_set=avoid).to_numpy(zero_copy_only=False)
        if needs_digits:
            bad |= ~pc.match_substring_regex(candidates, "^[0-9]{1,18}$").to_numpy(zero_copy_only=False)
        return bad

    bad = rejected(values)
    if unique:
        bad |= ~_first_occurrences(values)
    for _ in range(_MAX_ROUNDS):
        if not bad.any():
            return values.cast(target_type)
        redo = positions[bad]
        remade = make(redo).cast(values.type)
        index = np.arange(count)
        index[redo] = count + np.arange(len(remade))
        values = pa.concat_arrays([values, remade]).take(pa.array(index))
        bad = np.zeros(count, dtype=bool)
        bad[redo] = rejected(remade)
        if unique:
            # only remade values can be new duplicates; they are remade again, the others stay
            bad[redo] |= _duplicated_at(values, redo)
    raise InternalError(f"could not generate fresh values for column {what!r}")


def identifier_maker(
    detected: str | None,
    real: pa.Array,
    field_type: pa.DataType,
    *,
    needed: int,
    min_count: int,
    rng: np.random.Generator,
    context: PersonContext | None,
    region_codes: tuple[str, ...],
    what: str,
) -> Maker:
    """A maker of fresh values for one identifier or key column.

    Args:
        detected: Detected identifier type, or ``None`` for values in the real column's shape.
        real: The real column (decoded); only its shape and digit counts are read.
        field_type: The column's Arrow type.
        needed: How many distinct values may be needed (sizes the value space).
        min_count: Shapes must be common to be used.
        rng: Random generator.
        context: Twin birth dates and sexes per row position, for resident IDs and names.
        region_codes: Region codes for resident IDs and USCCs.
        what: Names the column in errors.

    Raises:
        InvalidInputError: the column's type cannot hold the identifier.
    """
    data_type = value_type(field_type)
    if not (is_textual(data_type) or pa.types.is_integer(data_type)):
        raise InvalidInputError(f"column {what!r}: identifiers and keys must be text or integers, not {field_type}")
    if detected in _TEXT_ONLY and not is_textual(data_type):
        raise InvalidInputError(f"column {what!r}: a {detected} column must be text, not {field_type}")

    def person(positions: np.ndarray) -> PersonContext | None:
        if context is None:
            return None
        return PersonContext(context.birth_days[positions], context.male[positions])

    if detected == "resident_id":
        return lambda positions: make_resident_ids(len(positions), rng, person(positions), region_codes)
    if detected == "uscc":
        return lambda positions: make_usccs(len(positions), rng, region_codes)
    if detected == "mobile":
        return lambda positions: make_mobiles(len(positions), rng)
    if detected == "person_name":
        return lambda positions: make_person_names(
            len(positions), rng, None if context is None else context.male[positions]
        )
    simple = {
        "address": make_addresses, "enterprise_name": make_enterprise_names, "phone": make_phones,
        "email": make_emails, "license_plate": make_plates,
    }
    if detected in simple:
        return lambda positions: simple[detected](len(positions), rng)
    if pa.types.is_integer(data_type):
        integers = IntegerShapes.fit(real, data_type, min_count, needed)
        return lambda positions: integers.make(len(positions), rng)
    shapes = StringShapes.fit(real, min_count, needed, rng)
    return lambda positions: shapes.make(len(positions), rng)
