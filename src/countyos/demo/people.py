"""Residents of the Demo County: the public-security population registry (人口户籍信息).

Owns who lives in the county: age pyramid (an ageing eastern Chinese county: bulges of the
1962–1975 and 1985–1990 births, few young children, older mountain townships), sex, names,
resident ID numbers, households, addresses and mobile numbers. It hands the other topic modules a
``Population`` of numpy arrays; it must not generate anything about firms, jobs or health.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from countyos.demo.geography import COUNTY_CODE, TOWNSHIPS
from countyos.demo.idcodes import mobile_numbers, resident_ids
from countyos.demo.model import DemoDataset, make_dataset
from countyos.demo.names import compound_names, person_names, road_names, village_names
from countyos.demo.textutil import join, padded, pick
from countyos.demo.timeline import REFERENCE_YEAR, SNAPSHOT_DATE
from countyos.errors import InternalError

RESIDENTS_AT_SCALE_1 = 1_000_000
OLDEST_BIRTH_YEAR = 1918

#: Relative births per calendar year (before survival), from the national birth series shape.
COHORT_WEIGHTS: tuple[tuple[int, int, float], ...] = (
    (OLDEST_BIRTH_YEAR, 1949, 1.45), (1950, 1958, 1.6), (1959, 1961, 1.0), (1962, 1969, 1.95),
    (1970, 1975, 1.75), (1976, 1980, 1.3), (1981, 1984, 1.35), (1985, 1990, 1.8),
    (1991, 1995, 1.35), (1996, 2000, 1.1), (2001, 2005, 0.95), (2006, 2010, 0.95),
    (2011, 2016, 1.0), (2017, 2019, 0.85), (2020, 2022, 0.62), (2023, 2025, 0.5),
)
#: Household sizes 1..6 and their shares (mean about 2.5, as in the 2020 census of Zhejiang).
HOUSEHOLD_SIZE_SHARES = (0.26, 0.30, 0.21, 0.13, 0.07, 0.03)
ADULT_AGE = 18
MOBILE_MIN_AGE = 12


@dataclass
class Population:
    """The residents as arrays, in registry row order."""

    person_id: pa.Array
    township: np.ndarray  # index into TOWNSHIPS
    birth: np.ndarray  # datetime64[D]
    age: np.ndarray  # completed years at SNAPSHOT_DATE
    is_male: np.ndarray
    household: np.ndarray  # household number, county-wide

    def __len__(self) -> int:
        return len(self.age)


def survival(age: np.ndarray) -> np.ndarray:
    """Share of a birth cohort still alive at ``age`` (Gompertz mortality, life expectancy ~82)."""
    return np.exp(-0.00003 / 0.098 * (np.exp(0.098 * age) - 1))


def age_distribution(ageing: float) -> tuple[np.ndarray, np.ndarray]:
    """Birth years and their probabilities for a township with the given ``ageing`` shift."""
    years = np.arange(OLDEST_BIRTH_YEAR, REFERENCE_YEAR + 1)
    births = np.zeros(len(years))
    for first, last, weight in COHORT_WEIGHTS:
        births[(years >= first) & (years <= last)] = weight
    age = REFERENCE_YEAR - years
    weights = births * survival(age) * np.exp(ageing * (age - 40) / 40)
    return years, weights / weights.sum()


def allocate(total: int, weights: np.ndarray, minimum: int = 1) -> np.ndarray:
    """Split ``total`` into integer parts proportional to ``weights`` (largest remainder)."""
    weights = np.asarray(weights, dtype=float)
    share = weights / weights.sum() * total
    counts = np.floor(share).astype(np.int64)
    counts[np.argsort(-(share - counts), kind="stable")[: total - counts.sum()]] += 1
    short = np.flatnonzero(counts < minimum)
    for index in short:
        donor = int(np.argmax(counts))
        need = minimum - counts[index]
        counts[index] += need
        counts[donor] -= need
    return counts


def generate_population(rng: np.random.Generator, scale: float) -> tuple[DemoDataset, Population]:
    """Residents at scale factor ``scale``: the registry dataset and the arrays behind it."""
    total = max(len(TOWNSHIPS) * 10, round(RESIDENTS_AT_SCALE_1 * scale))
    per_township = allocate(total, np.array([t.people for t in TOWNSHIPS]), minimum=10)
    township = np.repeat(np.arange(len(TOWNSHIPS)), per_township)
    birth_year = np.empty(total, dtype=np.int64)
    start = 0
    for index, spec in enumerate(TOWNSHIPS):
        years, probabilities = age_distribution(spec.ageing)
        count = per_township[index]
        birth_year[start:start + count] = rng.choice(years, size=count, p=probabilities)
        start += count
    year_start = (birth_year - 1970).astype("datetime64[Y]").astype("datetime64[D]")
    year_length = ((birth_year + 1 - 1970).astype("datetime64[Y]").astype("datetime64[D]")
                   - year_start).astype(np.int64)
    birth = year_start + (rng.random(total) * year_length).astype(np.int64)
    age = REFERENCE_YEAR - birth_year  # the snapshot is the last day of the year
    male_share = np.where(age < 60, 0.515, np.clip(0.515 - (age - 60) * 0.0035, 0.38, None))
    is_male = rng.random(total) < male_share

    household = _households(rng, township, age, per_township)
    order = np.lexsort((rng.random(total), household))
    township, birth, birth_year, age, is_male, household = (
        township[order], birth[order], birth_year[order], age[order], is_male[order],
        household[order])

    person_id = join("P", padded(np.arange(1, total + 1), 9))
    population = Population(person_id, township, birth, age, is_male, household)
    id_number = resident_ids(COUNTY_CODE, birth, _sequence_numbers(rng, birth, is_male))
    names = person_names(rng, is_male, birth_year)
    township_codes = pick([t.code for t in TOWNSHIPS], township)
    household_codes, addresses = _household_codes_and_addresses(rng, township, household)
    mobile = mobile_numbers(rng, total)
    has_mobile = (age >= MOBILE_MIN_AGE) & (rng.random(total) < 0.97)
    mobile = pc.if_else(pa.array(has_mobile), mobile, pa.scalar(None, pa.string()))
    dataset = make_dataset(
        name="population_registry",
        department="public_security",
        title=("人口户籍信息", "Population registry"),
        description=(
            f"公安部门户籍人口登记信息（截至{SNAPSHOT_DATE.isoformat()}），每位户籍居民一行，"
            "含身份证号、姓名、性别、出生日期、所属乡镇街道、户号、住址和手机号码。",
            f"Household registration records of the public security bureau as of "
            f"{SNAPSHOT_DATE.isoformat()}: one row per registered resident with resident ID "
            "number, name, sex, birth date, township, household number, address and mobile "
            "phone number.",
        ),
        columns=[
            ("person_id", person_id, "人员编号（本平台内部主键）", "Person identifier (platform key)"),
            ("id_number", id_number, "公民身份号码（18位，含校验码）",
             "Resident ID number (18 characters with check character)"),
            ("name", names, "姓名", "Full name"),
            ("sex", pick(["女", "男"], is_male.astype(np.int64)), "性别（男/女）",
             "Sex (男 male / 女 female)"),
            ("birth_date", pa.array(birth, type=pa.date32()), "出生日期", "Date of birth"),
            ("township_code", township_codes, "户籍所在乡镇街道代码", "Township code of registration"),
            ("household_id", household_codes, "户号", "Household number"),
            ("address", addresses, "户籍地址", "Registered address"),
            ("mobile", mobile, "手机号码（未满12岁或未登记为空）",
             "Mobile phone number (empty under 12 or when not registered)"),
        ],
    )
    return dataset, population


def _sequence_numbers(rng: np.random.Generator, birth: np.ndarray, is_male: np.ndarray
                      ) -> np.ndarray:
    """3-digit ID sequence numbers: odd for men, even for women, unique per birth date."""
    key = birth.astype(np.int64) * 2 + is_male
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    group_start = np.r_[0, np.flatnonzero(np.diff(sorted_key)) + 1]
    group_sizes = np.diff(np.r_[group_start, len(key)])
    if len(group_sizes) and group_sizes.max() > 500:
        raise InternalError("more than 500 residents of one sex born on one day")
    rank = np.arange(len(key)) - np.repeat(group_start, group_sizes)
    offset = np.repeat(rng.integers(0, 500, len(group_start)) * 2, group_sizes)
    sequence = np.empty(len(key), dtype=np.int64)
    sequence[order] = (offset + 2 * rank + is_male[order]) % 1000
    return sequence


def _households(rng: np.random.Generator, township: np.ndarray, age: np.ndarray,
                per_township: np.ndarray) -> np.ndarray:
    """County-wide household number of every resident; every household has an adult head."""
    household = np.empty(len(age), dtype=np.int64)
    sizes_all = np.arange(1, len(HOUSEHOLD_SIZE_SHARES) + 1)
    shares = np.array(HOUSEHOLD_SIZE_SHARES) / sum(HOUSEHOLD_SIZE_SHARES)
    next_number = 0
    start = 0
    for count in per_township:
        rows = np.arange(start, start + count)
        start += count
        sizes = rng.choice(sizes_all, size=count, p=shares)  # enough: every size is >= 1
        ends = np.cumsum(sizes)
        used = int(np.searchsorted(ends, count)) + 1
        sizes = sizes[:used]
        sizes[-1] -= ends[used - 1] - count
        adults = rows[age[rows] >= ADULT_AGE]
        minors = rows[age[rows] < ADULT_AGE]
        if len(adults) == 0:  # only possible in a tiny township: one household
            household[rows] = next_number
            next_number += 1
            continue
        if len(adults) < len(sizes):  # too few adults for separate households: merge
            sizes = allocate(count, np.ones(len(adults)))
        numbers = next_number + np.arange(len(sizes))
        slot_household = np.repeat(numbers, sizes)
        is_head = np.zeros(count, dtype=bool)
        is_head[np.r_[0, np.cumsum(sizes)[:-1]]] = True
        adults = rng.permutation(adults)
        heads, other_adults = adults[: is_head.sum()], adults[is_head.sum():]
        others = rng.permutation(np.concatenate([other_adults, minors]))
        household[heads] = slot_household[is_head]
        household[others] = slot_household[~is_head]
        next_number += len(sizes)
    return household


def _household_codes_and_addresses(rng: np.random.Generator, township: np.ndarray,
                                   household: np.ndarray) -> tuple[pa.Array, pa.Array]:
    """Household numbers and registered addresses, the same for every member of a household."""
    numbers, first_row, member_of = np.unique(household, return_index=True, return_inverse=True)
    h_township = township[first_row]
    count = len(numbers)
    # Households are numbered township after township: number them again within each township.
    township_first = np.searchsorted(h_township, np.arange(len(TOWNSHIPS)))
    within = np.arange(count) - township_first[h_township] + 1
    codes = join(pick([t.code for t in TOWNSHIPS], h_township), padded(within, 6))

    roads_per, compounds_per, villages_per = 16, 10, 15
    roads = road_names(rng, len(TOWNSHIPS) * roads_per)
    compounds = compound_names(rng, len(TOWNSHIPS) * compounds_per)
    villages = village_names(rng, len(TOWNSHIPS) * villages_per)
    road = roads.take(pa.array(h_township * roads_per + rng.integers(0, roads_per, count)))
    compound = compounds.take(
        pa.array(h_township * compounds_per + rng.integers(0, compounds_per, count)))
    village = villages.take(
        pa.array(h_township * villages_per + rng.integers(0, villages_per, count)))
    name = pick([t.name_zh for t in TOWNSHIPS], h_township)
    number = pc.cast(pa.array(rng.integers(1, 400, count)), pa.string())
    building = pc.cast(pa.array(rng.integers(1, 31, count)), pa.string())
    room = pc.cast(pa.array(rng.integers(1, 19, count) * 100 + rng.integers(1, 5, count)),
                   pa.string())
    urban = join(name, road, number, "号", compound, building, "幢", room, "室")
    town_centre = join(name, road, number, "号")
    rural = join(name, village, number, "号")
    is_subdistrict = np.array([t.kind == "街道" for t in TOWNSHIPS])[h_township]
    in_village = rng.random(count) < 0.6
    address = pc.if_else(pa.array(is_subdistrict), urban,
                         pc.if_else(pa.array(in_village), rural, town_centre))
    member = pa.array(member_of)
    return codes.take(member), address.take(member)
