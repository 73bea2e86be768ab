"""The Demo County: a deterministic, fictional county calibrated on public figures about Yuyao.

Owns generating its townships (with GeoJSON boundaries), departments and datasets at a scale
factor F (F = 1 is about 1,000,000 residents), vectorised with numpy and pyarrow.
"""

from countyos.demo.county import DEPARTMENTS, MAX_SCALE, MIN_SCALE, generate_county
from countyos.demo.geography import COUNTY_CODE, COUNTY_NAME_EN, COUNTY_NAME_ZH
from countyos.demo.model import (
    ICEBERG_FRIENDLY_TYPES,
    DemoColumn,
    DemoCounty,
    DemoDataset,
    DemoDepartment,
    DemoTownship,
)

__all__ = [
    "COUNTY_CODE",
    "COUNTY_NAME_EN",
    "COUNTY_NAME_ZH",
    "DEPARTMENTS",
    "ICEBERG_FRIENDLY_TYPES",
    "MAX_SCALE",
    "MIN_SCALE",
    "DemoColumn",
    "DemoCounty",
    "DemoDataset",
    "DemoDepartment",
    "DemoTownship",
    "generate_county",
]
