"""The lake: Apache Iceberg tables (pyiceberg) holding every dataset version.

Owns table creation, atomic version commits (one Iceberg snapshot per dataset version), time
travel and the data-file lists engines read. Its SQL catalog lives in the metadata database, its
warehouse under the data directory. Knows nothing about users, departments or permissions.
"""

from countyos.lake.schemas import cast_to_compatible, iceberg_compatible, type_signature
from countyos.lake.snapshots import SnapshotInfo
from countyos.lake.tables import Lake

__all__ = ["Lake", "SnapshotInfo", "cast_to_compatible", "iceberg_compatible", "type_signature"]
