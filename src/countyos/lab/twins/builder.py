"""``TwinBuilder``: synthetic twins of the datasets of one lab project.

Owns the order of work for one dataset: plan the columns, fit and sample the attribute model,
derive the person context (twin birth dates and sexes), make fresh identifiers, draw keys from
per-domain pools (parents first; a child's foreign key keeps the real fan-out), and assemble a
table with exactly the real schema (types, nullability, metadata). Key pools live in the builder
so that keys of one domain join across the twins it builds.

Must not copy a real identifier or key, keep real rows after ``add`` returns, or touch storage:
it takes Arrow tables and returns Arrow tables.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from types import MappingProxyType

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from countyos.errors import ConflictError, InvalidInputError, TooLargeError
from countyos.lab.twins.convert import to_numbers
from countyos.lab.twins.identifiers import DEFAULT_REGION_CODES, PersonContext, generate_fresh, identifier_maker
from countyos.lab.twins.keys import KeyDomain, assign_rows, assign_unique, fanout_counts, sample_fanout
from countyos.lab.twins.marginals import decode
from countyos.lab.twins.model import TableModel
from countyos.lab.twins.schema import (
    KIND_IDENTIFIER,
    KIND_KEY,
    ColumnPlan,
    TwinColumn,
    find_birth_column,
    find_sex_column,
    plan_table,
    value_type,
)

MAX_TWIN_ROWS = 50_000_000
_MALE_WORDS = {"男", "男性", "m", "male", "1"}
_FEMALE_WORDS = {"女", "女性", "f", "female", "2"}
_DAY_MILLISECONDS = 86_400_000


class TwinBuilder:
    """Builds synthetic twins of a project's datasets; keys of one domain join across them.

    Add parent datasets before their children: the first column of a key domain creates the
    domain's pool of fresh keys, later columns of the domain draw from it.

    Args:
        seed: Seed of every random draw; the same seed and the same calls give the same twins.
        min_category_count: Categories seen fewer times are never emitted; quantile ends
            average this many extreme values.
        region_codes: 6-digit region codes for fresh resident IDs and USCCs.
    """

    def __init__(
        self, *, seed: int, min_category_count: int = 10, region_codes: Sequence[str] = DEFAULT_REGION_CODES
    ) -> None:
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            raise InvalidInputError("seed must be a non-negative integer")
        if not isinstance(min_category_count, int) or min_category_count < 1:
            raise InvalidInputError("min_category_count must be a positive integer")
        codes = tuple(region_codes)
        if not codes or any(not isinstance(c, str) or len(c) != 6 or not c.isdigit() for c in codes):
            raise InvalidInputError("region codes must be 6-digit administrative division codes")
        self.seed = seed
        self.min_category_count = min_category_count
        self.region_codes = codes
        self._domains: dict[str, KeyDomain] = {}
        self._datasets: list[str] = []

    @property
    def domains(self) -> Mapping[str, KeyDomain]:
        """The key domains created so far, by name (read-only)."""
        return MappingProxyType(self._domains)

    @property
    def datasets(self) -> tuple[str, ...]:
        """Names of the datasets twinned so far, in order."""
        return tuple(self._datasets)

    def add(self, name: str, table: pa.Table, columns: Sequence[TwinColumn], *, rows: int | None = None) -> pa.Table:
        """Build the twin of one dataset.

        Args:
            name: The dataset's name, unique within this builder.
            table: The real rows.
            columns: One description per column of ``table``.
            rows: Rows of the twin (default: as many as the real table).

        Returns:
            The twin: same schema as ``table``, fresh identifiers and keys, no real row.

        Raises:
            InvalidInputError: bad name, rows, table or column descriptions.
            ConflictError: a dataset of this name was already added.
            TooLargeError: more than ``MAX_TWIN_ROWS`` rows were asked for.
        """
        if not isinstance(name, str) or not name.strip():
            raise InvalidInputError("a twin needs a non-empty dataset name")
        if name in self._datasets:
            raise ConflictError(f"dataset {name!r} was already added to this builder")
        if isinstance(table, pa.RecordBatch):
            table = pa.Table.from_batches([table])
        if not isinstance(table, pa.Table):
            raise InvalidInputError("the real data must be a pyarrow Table")
        if rows is None:
            rows = table.num_rows
        if not isinstance(rows, int) or isinstance(rows, bool) or rows < 0:
            raise InvalidInputError("rows must be a non-negative integer")
        if rows > MAX_TWIN_ROWS:
            raise TooLargeError(f"a twin holds at most {MAX_TWIN_ROWS} rows, {rows} were asked for")
        if table.num_rows == 0 and rows > 0:
            raise InvalidInputError(f"dataset {name!r} has no rows to learn a twin from")
        plans = plan_table(table, columns)
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, zlib.crc32(name.encode("utf-8"))]))

        model = TableModel.fit(table, plans, self.min_category_count, rng)
        fields = {plan.name: plan.field for plan in plans}
        arrays: dict[str, pa.Array] = model.sample(rows, fields, rng)
        context = _person_context(plans, arrays, rows)
        new_domains: dict[str, KeyDomain] = {}
        for plan in plans:
            if plan.kind == KIND_IDENTIFIER:
                arrays[plan.name] = self._identifier(plan, decode(table.column(plan.name)), rows, context, rng)
            elif plan.kind == KIND_KEY:
                arrays[plan.name] = self._key(name, plan, decode(table.column(plan.name)), rows, context, rng, new_domains)
        twin = pa.Table.from_arrays(
            [_to_field_type(arrays[field.name], field) for field in table.schema], schema=table.schema
        )
        self._domains.update(new_domains)
        self._datasets.append(name)
        return twin

    def _null_mask(self, plan: ColumnPlan, real: pa.Array, rows: int, rng: np.random.Generator) -> np.ndarray:
        if not plan.field.nullable or real.null_count == 0 or len(real) == 0:
            return np.zeros(rows, dtype=bool)
        return rng.random(rows) < real.null_count / len(real)

    def _identifier(
        self, plan: ColumnPlan, real: pa.Array, rows: int, context: PersonContext, rng: np.random.Generator
    ) -> pa.Array:
        """Fresh identifiers for one column, unique when the real ones are, agreeing with
        ``context`` (twin birth dates and sexes)."""
        nulls = self._null_mask(plan, real, rows, rng)
        present = np.flatnonzero(~nulls)
        non_null = real.drop_null()
        unique = len(pc.unique(non_null)) == len(non_null)
        maker = identifier_maker(
            plan.column.detected, real, plan.field.type,
            needed=present.size + len(non_null), min_count=self.min_category_count, rng=rng,
            context=context, region_codes=self.region_codes, what=plan.name,
        )
        values = generate_fresh(
            lambda positions: maker(present[positions]), present.size, value_type(plan.field.type), real,
            unique=unique, what=plan.name,
        )
        return _scatter(values, nulls)

    def _key(
        self,
        dataset: str,
        plan: ColumnPlan,
        real: pa.Array,
        rows: int,
        context: PersonContext,
        rng: np.random.Generator,
        new_domains: dict[str, KeyDomain],
    ) -> pa.Array:
        """Fresh keys for one column: a new pool (first column of a domain, or no domain) or
        draws from the domain's pool following the real fan-out."""
        nulls = self._null_mask(plan, real, rows, rng)
        present = np.flatnonzero(~nulls)
        target = present.size
        data_type = value_type(plan.field.type)
        non_null = real.drop_null()
        distinct = len(pc.unique(non_null))
        unique = distinct == len(non_null)
        domain_name = plan.column.key_domain
        domain = (self._domains.get(domain_name) or new_domains.get(domain_name)) if domain_name else None
        if domain is None:
            pool_size = target if unique else (max(1, round(distinct * target / max(len(non_null), 1))) if target else 0)
            maker = identifier_maker(
                plan.column.detected, real, plan.field.type,
                needed=pool_size + distinct, min_count=self.min_category_count, rng=rng,
                context=context if unique else None, region_codes=self.region_codes, what=plan.name,
            )
            make = (lambda positions: maker(present[positions])) if unique else maker
            pool = generate_fresh(make, pool_size, data_type, real, unique=True, what=plan.name)
            if unique:
                values = pool
            else:
                counts = sample_fanout(fanout_counts(real), pool_size, target, rng, self.min_category_count)
                values = pool.take(pa.array(assign_rows(counts, target, rng)))
            if domain_name:
                new_domains[domain_name] = KeyDomain(domain_name, pool, distinct, f"{dataset}.{plan.name}")
            return _scatter(values, nulls)
        pool = _cast_pool(domain, data_type, plan.name)
        if len(non_null):
            pool = pool.filter(pc.invert(pc.is_in(pool, value_set=pc.unique(non_null).cast(data_type))))
        if len(pool) == 0 and target:
            raise InvalidInputError(f"column {plan.name!r}: key domain {domain_name!r} has no twin keys to draw from")
        if unique:
            indices = assign_unique(len(pool), target, rng)
        else:
            fanout = np.concatenate([fanout_counts(real), np.zeros(max(domain.real_entities - distinct, 0), np.int64)])
            counts = sample_fanout(fanout, len(pool), target, rng, self.min_category_count)
            indices = assign_rows(counts, target, rng)
        return _scatter(pool.take(pa.array(indices, type=pa.int64())), nulls)


def _cast_pool(domain: KeyDomain, data_type: pa.DataType, column: str) -> pa.Array:
    if domain.pool.type == data_type:
        return domain.pool
    try:
        return domain.pool.cast(data_type)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as error:
        raise InvalidInputError(
            f"column {column!r} is {data_type} but key domain {domain.name!r} holds {domain.pool.type} keys "
            f"(from {domain.origin}); key columns of one domain need compatible types"
        ) from error


def _scatter(values: pa.Array, nulls: np.ndarray) -> pa.Array:
    """Place ``values`` at the non-null positions of a column of ``len(nulls)`` rows."""
    if not nulls.any():
        return values
    indices = np.zeros(nulls.size, dtype=np.int64)
    indices[~nulls] = np.arange(int((~nulls).sum()))
    return values.take(pa.array(indices, mask=nulls))


def _to_field_type(values: pa.Array, field: pa.Field) -> pa.Array:
    return values if values.type == field.type else values.cast(field.type)


def _person_context(plans: Sequence[ColumnPlan], arrays: dict[str, pa.Array], rows: int) -> PersonContext:
    """Twin birth dates (days) and sexes that identifiers must agree with."""
    context = PersonContext.unknown(rows)
    birth = find_birth_column(plans)
    if birth is not None:
        column = arrays[birth]
        if pa.types.is_timestamp(column.type):
            if column.type.tz is not None:
                column = pc.local_timestamp(column)
            column = column.cast(pa.date32())
        days, _, _ = to_numbers(column, column.type)
        if pa.types.is_date64(column.type):
            days = np.floor(days / _DAY_MILLISECONDS)
        context = PersonContext(days, context.male)
    sex = find_sex_column(plans)
    if sex is not None:
        encoded = pc.dictionary_encode(arrays[sex].cast(pa.string()))
        words = [str(v).strip().lower() if v is not None else "" for v in encoded.dictionary.to_pylist()]
        lookup = np.array([1 if w in _MALE_WORDS else 0 if w in _FEMALE_WORDS else -1 for w in words] + [-1], np.int8)
        indices = encoded.indices.fill_null(len(words)).to_numpy(zero_copy_only=False)
        context = PersonContext(context.birth_days, lookup[indices])
    return context
