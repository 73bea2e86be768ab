"""Output expressions around an aggregate (``ROUND(AVG(x), 2)``), applied to released values.

Owns evaluating the developer's expression of constants around one checked aggregate. It runs
after the checks, only on values that are released anyway, in a private in-memory DuckDB without
file or network access, so an expression that fails (an overflow, a bad cast) can only fail on
public values and never tells anything about a withheld cell. Must not see data rows.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa
import sqlglot.expressions as exp

from countyos.errors import InvalidInputError
from countyos.lab.checked_sql.plan import VALUE_PLACEHOLDER

_TABLE = "__countyos_released"


def apply_wrapper(wrapper: exp.Expression, values: pa.Array, column: str) -> pa.Array:
    """Evaluate ``wrapper`` once per value (NULL stays NULL unless the expression says else).

    Args:
        wrapper: the output expression with the aggregate replaced by the placeholder column.
        values: released values of the aggregate (NULL for withheld cells).
        column: the output column, for messages.

    Returns:
        The expression's value per input value, in order.

    Raises:
        InvalidInputError: the expression fails on a released value.
    """
    connection = duckdb.connect(
        config={
            "enable_external_access": False,
            "threads": 1,
            "memory_limit": "256MB",
            "lock_configuration": True,
        }
    )
    try:
        connection.register(_TABLE, pa.table({VALUE_PLACEHOLDER: values}))
        sql = f'SELECT {wrapper.sql(dialect="duckdb")} FROM "{_TABLE}"'
        result = connection.sql(sql).to_arrow_table()
    except duckdb.Error:
        raise InvalidInputError(
            f"output column {column!r}: the expression around its aggregate failed on a "
            "released value",
            details={"column": column},
        ) from None
    finally:
        connection.close()
    array = result.column(0)
    return array.combine_chunks() if array.num_chunks else pa.array([], type=array.type)
