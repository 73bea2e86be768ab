"""Social insurance of the Demo County: contributions of employees (社保参保缴费).

Owns who among working-age residents is insured through an employer, which employer (weighted by
the firm's employees, mostly in the resident's own township), since when, at which monthly
contribution base (between the provincial floor and ceiling, many small firms declaring the
floor), and in which insurance schemes. It must not create residents or firms.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from countyos.demo.enterprises import Firms
from countyos.demo.geography import TOWNSHIPS
from countyos.demo.industries import INDUSTRIES
from countyos.demo.model import DemoDataset, make_dataset
from countyos.demo.people import Population
from countyos.demo.textutil import pick
from countyos.demo.timeline import SNAPSHOT_DATE

#: Monthly contribution base floor and ceiling in yuan (Zhejiang, 2024–2025, approximate).
CONTRIBUTION_FLOOR = 4_462
CONTRIBUTION_CEILING = 24_930
MEDIAN_WAGE = 7_000
#: Schemes and the share of insured employees enrolled in each.
INSURANCE_TYPES = (
    ("企业职工基本养老保险", 1.0),
    ("职工基本医疗保险", 0.97),
    ("失业保险", 0.9),
    ("工伤保险", 0.95),
)
RETIREMENT_AGE_MEN = 60
RETIREMENT_AGE_WOMEN = 55
FIRST_YEAR = 1995
SAME_TOWNSHIP_SHARE = 0.6


def insured_probability(age: np.ndarray) -> np.ndarray:
    """Share of residents of each age with an employer's social insurance."""
    return np.select([age < 22, age < 25, age < 50], [0.3, 0.65, 0.8], default=0.65)


def generate_social_insurance(rng: np.random.Generator, population: Population, firms: Firms
                              ) -> DemoDataset:
    """One row per insured working-age resident and insurance scheme."""
    age = population.age
    retirement = np.where(population.is_male, RETIREMENT_AGE_MEN, RETIREMENT_AGE_WOMEN)
    working = (age >= 18) & (age < retirement)
    insured = np.flatnonzero(working & (rng.random(len(age)) < insured_probability(age)))
    employer = _employers(rng, population.township[insured], firms)

    snapshot = np.datetime64(SNAPSHOT_DATE, "D")
    tenure_days = (rng.exponential(6.0, len(insured)) * 365.25).astype(np.int64)
    birth = population.birth[insured]
    birth_month = birth.astype("datetime64[M]")
    adult_since = (birth_month + 18 * 12).astype("datetime64[D]") + (birth - birth_month.astype(
        "datetime64[D]"))  # the 18th birthday (1 March for people born on 29 February)
    earliest = np.maximum.reduce([
        firms.founded[employer], adult_since,
        np.full(len(insured), np.datetime64(f"{FIRST_YEAR}-01-01", "D")),
    ])
    since = np.minimum(np.maximum(snapshot - tenure_days, earliest), snapshot)

    productivity = np.array([spec.productivity for spec in INDUSTRIES])[firms.industry[employer]]
    person_age = age[insured]
    log_wage = (np.log(MEDIAN_WAGE) + 0.12 * np.log(firms.employees[employer] / 20)
                + 0.15 * np.log(productivity / 80) - 0.00025 * (person_age - 42) ** 2
                + rng.normal(0, 0.45, len(insured)))
    declared_floor = rng.random(len(insured)) < np.where(firms.employees[employer] < 50, 0.45, 0.15)
    base = np.where(declared_floor, CONTRIBUTION_FLOOR,
                    np.clip(np.round(np.exp(log_wage)), CONTRIBUTION_FLOOR, CONTRIBUTION_CEILING))

    person_rows, type_rows = [], []
    for number, (_, coverage) in enumerate(INSURANCE_TYPES):
        enrolled = np.flatnonzero(rng.random(len(insured)) < coverage)
        person_rows.append(enrolled)
        type_rows.append(np.full(len(enrolled), number))
    rows = np.concatenate(person_rows)
    kinds = np.concatenate(type_rows)
    order = np.lexsort((kinds, rows))
    rows, kinds = rows[order], kinds[order]
    return make_dataset(
        name="social_insurance",
        department="human_resources",
        title=("社保参保缴费", "Social insurance contributions"),
        description=(
            f"人力社保部门职工社会保险参保缴费信息（截至{SNAPSHOT_DATE.isoformat()}），每位参保职工每个"
            "险种一行，含参保单位统一社会信用代码、月缴费基数（在全省缴费基数上下限之间）、参保日期和险种。",
            f"Employees' social insurance enrolment and contributions as of "
            f"{SNAPSHOT_DATE.isoformat()}: one row per insured employee and scheme with the "
            "employer's credit code, monthly contribution base in yuan (between the provincial "
            "floor and ceiling), date insured since and scheme (pension, medical, unemployment, "
            "work injury).",
        ),
        columns=[
            ("person_id", population.person_id.take(pa.array(insured[rows])), "人员编号",
             "Person identifier (joins the population registry)"),
            ("employer_uscc", firms.uscc.take(pa.array(employer[rows])), "参保单位统一社会信用代码",
             "Employer's unified social credit code"),
            ("insurance_type", pick([name for name, _ in INSURANCE_TYPES], kinds), "险种",
             "Insurance scheme"),
            ("contribution_base", pa.array(base[rows].astype(np.float64)), "月缴费基数（元）",
             "Monthly contribution base (yuan)"),
            ("insured_since", pa.array(since[rows], type=pa.date32()), "本单位参保日期",
             "Insured with this employer since"),
        ],
    )


def _employers(rng: np.random.Generator, township: np.ndarray, firms: Firms) -> np.ndarray:
    """An employer for every insured resident, weighted by employees, often in the same township."""
    weights = firms.employees.astype(float)
    employer = rng.choice(len(firms), size=len(township), p=weights / weights.sum())
    local = rng.random(len(township)) < SAME_TOWNSHIP_SHARE
    for number in range(len(TOWNSHIPS)):
        here = np.flatnonzero(firms.township == number)
        rows = np.flatnonzero(local & (township == number))
        if len(here) == 0 or len(rows) == 0:
            continue
        w = weights[here]
        employer[rows] = here[rng.choice(len(here), size=len(rows), p=w / w.sum())]
    return employer
