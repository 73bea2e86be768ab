"""Synthetic twins (合成孪生数据): realistic stand-ins for real datasets in the lab.

Developers outside the county write their SQL and Python against twins: the same schema and
classification as the real datasets, realistic per-column distributions, the main pairwise
dependencies, keys that join across the twins of one project, and no real identifier.

Method (fast and well known): per-column marginals (category frequencies with rare categories
merged away; smoothed quantiles for numbers, dates and times; null rates kept) joined by a
Gaussian copula over rank-normal scores. Identifiers are generated fresh in a valid format and
never equal a real one; entity keys are fresh random pseudonyms drawn from per-domain pools that
keep the real fan-out (rows per entity).

    builder = TwinBuilder(seed=7)
    persons_twin = builder.add("persons", persons, person_columns)
    visits_twin = builder.add("visits", visits, visit_columns)   # joins persons_twin on person_id
    fidelity_report(visits, visits_twin, visit_columns)
    privacy_report(persons, persons_twin, person_columns, seed=7)

A pure library: no database, no web, no storage. It owns the ``countyos.lab.twins`` package only;
grants, projects and where twins are stored belong to the rest of the lab.

Limits: dependencies are pairwise and monotone-ish (a Gaussian copula); dependencies across
tables (a person's age and their visits' costs) and between a foreign key and the other columns
of its row are not kept; identifiers that are not keys are fresh per row (declare a repeated
identifier that must join as an ``entity_key`` with a ``key_domain``).
"""

from countyos.lab.twins.builder import MAX_TWIN_ROWS, TwinBuilder
from countyos.lab.twins.fidelity import ColumnFidelity, FidelityReport, fidelity_report
from countyos.lab.twins.identifiers import DEFAULT_REGION_CODES
from countyos.lab.twins.keys import KeyDomain
from countyos.lab.twins.privacy import PrivacyReport, privacy_report
from countyos.lab.twins.schema import DETECTED_IDENTIFIERS, ROLES, TwinColumn

__all__ = [
    "DEFAULT_REGION_CODES",
    "DETECTED_IDENTIFIERS",
    "MAX_TWIN_ROWS",
    "ROLES",
    "ColumnFidelity",
    "FidelityReport",
    "KeyDomain",
    "PrivacyReport",
    "TwinBuilder",
    "TwinColumn",
    "fidelity_report",
    "privacy_report",
]
