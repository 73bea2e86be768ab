"""Generating the whole Demo County: ``generate_county``.

Owns validating the scale factor and seed, the departments, the order of the topic generators,
their independent random streams (one per topic, derived from the seed, so one topic's changes do
not reshuffle another's rows) and progress reporting. It must not hold any topic's rules; those
live in the topic modules.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable

import numpy as np

from countyos.demo.economy import generate_electricity, generate_output, monthly_activity
from countyos.demo.enterprises import generate_enterprises
from countyos.demo.geography import (
    COUNTY_CODE,
    COUNTY_NAME_EN,
    COUNTY_NAME_ZH,
    TOWNSHIPS,
    feature_collection,
    ring_area_km2,
    ring_centroid,
    township_polygons,
)
from countyos.demo.health import generate_outpatient
from countyos.demo.hotline import generate_hotline
from countyos.demo.model import DemoCounty, DemoDepartment, DemoTownship
from countyos.demo.people import generate_population
from countyos.demo.social import generate_social_insurance
from countyos.demo.timeline import SNAPSHOT_DATE
from countyos.errors import InvalidInputError

MIN_SCALE = 0.001
MAX_SCALE = 10.0

DEPARTMENTS: tuple[DemoDepartment, ...] = (
    DemoDepartment("public_security", "公安局", "Public Security Bureau"),
    DemoDepartment("market_regulation", "市场监管局", "Market Regulation Administration"),
    DemoDepartment("statistics", "统计局", "Statistics Bureau"),
    DemoDepartment("power_supply", "供电公司", "Power Supply Company"),
    DemoDepartment("hotline_12345", "12345政务服务热线", "12345 Government Service Hotline"),
    DemoDepartment("human_resources", "人力资源和社会保障局",
                   "Human Resources and Social Security Bureau"),
    DemoDepartment("health", "卫生健康局", "Health Bureau"),
    DemoDepartment("data_bureau", "大数据局", "Big Data Bureau"),
)

# One random stream per topic: (seed, stream) seeds numpy's SeedSequence.
_STREAMS = {"geography": 1, "people": 2, "enterprises": 3, "economy": 4, "hotline": 5,
            "social": 6, "health": 7}
ProgressCallback = Callable[[str, float], None]


def validate_scale_and_seed(scale: object, seed: object) -> tuple[float, int]:
    """Check the arguments of ``generate_county``.

    Raises:
        InvalidInputError: ``scale`` is not a number in [MIN_SCALE, MAX_SCALE] or ``seed`` is
            not a non-negative integer.
    """
    if isinstance(scale, bool) or not isinstance(scale, numbers.Real) or not math.isfinite(scale):
        raise InvalidInputError(f"scale must be a finite number, got {type(scale).__name__}",
                                details={"parameter": "scale"})
    if not MIN_SCALE <= float(scale) <= MAX_SCALE:
        raise InvalidInputError(
            f"scale must be between {MIN_SCALE} and {MAX_SCALE} (1.0 is about 1,000,000 "
            f"residents), got {scale}", details={"parameter": "scale"})
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise InvalidInputError("seed must be a non-negative integer",
                                details={"parameter": "seed"})
    return float(scale), int(seed)


def generate_county(scale: float = 1.0, seed: int = 2026, *,
                    progress: ProgressCallback | None = None) -> DemoCounty:
    """Generate the Demo County: townships, departments and seven joinable datasets.

    The same ``(scale, seed)`` gives identical tables; another seed gives other ones.

    Args:
        scale: Scale factor F; 1.0 is about 1,000,000 residents and 30,000 enterprises. Row
            counts grow linearly with F (with small floors: at least 50 enterprises).
        seed: Seed of all randomness.
        progress: Called as ``progress(stage, fraction)`` with ``fraction`` from 0.0 to 1.0.

    Returns:
        The generated county.

    Raises:
        InvalidInputError: ``scale`` or ``seed`` is out of range.
    """
    scale, seed = validate_scale_and_seed(scale, seed)

    def rng(topic: str) -> np.random.Generator:
        return np.random.default_rng([seed, _STREAMS[topic]])

    def report(stage: str, fraction: float) -> None:
        if progress is not None:
            progress(stage, fraction)

    report("townships", 0.0)
    rings = township_polygons(rng("geography"))
    report("population_registry", 0.05)
    population_dataset, population = generate_population(rng("people"), scale)
    report("enterprise_registry", 0.3)
    enterprise_dataset, firms = generate_enterprises(rng("enterprises"), scale)
    report("industrial_output_monthly", 0.35)
    economy_rng = rng("economy")
    activity = monthly_activity(economy_rng, firms)
    output_dataset = generate_output(firms, activity)
    report("electricity_daily", 0.4)
    electricity_dataset = generate_electricity(economy_rng, firms, activity)
    report("hotline_events", 0.55)
    hotline_dataset = generate_hotline(rng("hotline"), scale, population)
    report("social_insurance", 0.6)
    social_dataset = generate_social_insurance(rng("social"), population, firms)
    report("outpatient_visits", 0.7)
    outpatient_dataset = generate_outpatient(rng("health"), population)
    report("done", 1.0)

    residents = np.bincount(population.township, minlength=len(TOWNSHIPS))
    townships = [
        DemoTownship(
            code=spec.code,
            name_zh=spec.name_zh,
            name_pinyin=spec.name_pinyin,
            kind=spec.kind,
            population=int(residents[number]),
            area_km2=round(ring_area_km2(ring), 2),
            centroid=ring_centroid(ring),
        )
        for number, (spec, ring) in enumerate(zip(TOWNSHIPS, rings))
    ]
    return DemoCounty(
        name_zh=COUNTY_NAME_ZH,
        name_en=COUNTY_NAME_EN,
        scale=scale,
        seed=seed,
        townships=townships,
        departments=list(DEPARTMENTS),
        datasets=[population_dataset, enterprise_dataset, output_dataset, electricity_dataset,
                  hotline_dataset, social_dataset, outpatient_dataset],
        geojson=feature_collection(rings, [int(r) for r in residents]),
        county_code=COUNTY_CODE,
        reference_date=SNAPSHOT_DATE.isoformat(),
    )
