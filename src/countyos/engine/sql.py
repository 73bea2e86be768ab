"""The read-only SQL guard: one query in, a checked ``ParsedQuery`` out, or a refusal.

Owns the decision whether user SQL may run at all, before any engine sees it. User SQL is
written in DuckDB's dialect and parsed with sqlglot. The guard accepts exactly one statement whose
root is a query (SELECT, WITH … SELECT, VALUES, UNION / INTERSECT / EXCEPT) and refuses:

- any statement node anywhere in the tree (every class sqlglot defines for DDL and DML, such as
  INSERT, COPY, ATTACH, PRAGMA, SET, DESCRIBE, and the ``Command`` fallback for statements
  sqlglot does not model: EXPLAIN, CALL, LOAD, RESET, PREPARE, …), and SELECT … INTO;
- table references other than a plain dataset name or a CTE name: file paths, qualified names
  (``information_schema.tables``, ``other_db.main.t``) and table functions other than the pure
  row generators of ``countyos.engine.functions``;
- any function not on the allowlist of ``countyos.engine.functions`` (reading files, running SQL
  strings, reading settings or the catalog), and query parameters.

It reports which catalog tables the query reads; engines refuse tables the caller did not grant.
Must not know about users, grants or engines beyond the sqlglot dialect name.
"""

from __future__ import annotations

import functools
import threading

import sqlglot
import sqlglot.expressions as exp
from sqlglot.errors import ErrorLevel, ParseError, SqlglotError, TokenError, UnsupportedError

from countyos.engine import functions
from countyos.engine.base import DATASET_NAME_PATTERN, ParsedQuery
from countyos.errors import QueryRefusedError

#: Longest SQL text the guard parses, in characters.
MAX_SQL_CHARS = 100_000

#: The dialect user SQL is written in.
USER_DIALECT = "duckdb"

_ALLOWED_ROOTS = (exp.Select, exp.SetOperation, exp.Values)

# Func classes sqlglot builds from SQL syntax rather than from a call (CAST, CASE, EXTRACT,
# [1, 2], {'k': v}, x -> x + 1, COLLATE, EXISTS (…), CURRENT_DATE, …); all pure.
_SYNTAX_FUNCTIONS: frozenset[type[exp.Expression]] = frozenset(
    {
        exp.Cast, exp.TryCast, exp.Case, exp.If, exp.Coalesce, exp.Nullif, exp.Extract,
        exp.Exists, exp.Array, exp.Struct, exp.Collate, exp.CurrentDate, exp.CurrentTimestamp,
        exp.CurrentTime, exp.Localtime, exp.Localtimestamp, exp.Columns, exp.ToMap,
        # Operators sqlglot models as functions: AND, OR, XOR, @>, <@, &&, ->, ->>, ~, **.
        exp.And, exp.Or, exp.Xor, exp.ArrayContains, exp.ArrayContainedBy,
        exp.ArrayContainsAll, exp.ArrayOverlaps, exp.JSONExtract, exp.JSONExtractScalar,
        exp.RegexpLike, exp.RegexpILike, exp.Pow,
    }
)

# Readable names of statements sqlglot models with its own class.
_STATEMENT_NAMES = {
    "Alter": "ALTER", "AlterSession": "ALTER SESSION", "Attach": "ATTACH",
    "Command": "command", "Comment": "COMMENT", "Commit": "COMMIT", "Copy": "COPY",
    "Create": "CREATE", "Declare": "DECLARE", "Delete": "DELETE", "Describe": "DESCRIBE",
    "Detach": "DETACH", "Drop": "DROP", "Execute": "EXECUTE", "Export": "EXPORT",
    "Insert": "INSERT", "Install": "INSTALL", "Kill": "KILL", "LoadData": "LOAD DATA",
    "Merge": "MERGE", "Pragma": "PRAGMA", "Rollback": "ROLLBACK", "Set": "SET", "Show": "SHOW",
    "Summarize": "SUMMARIZE", "Transaction": "BEGIN TRANSACTION", "TruncateTable": "TRUNCATE",
    "Undrop": "UNDROP", "Update": "UPDATE", "Use": "USE",
}

# First keywords of statements other than queries, for a readable refusal when sqlglot cannot
# parse the statement or reads it as something odd (CHECKPOINT parses as a column name).
_STATEMENT_KEYWORDS = frozenset(
    """
    ABORT ALTER ANALYZE ATTACH BEGIN CALL CHECKPOINT COMMENT COMMIT COPY CREATE DEALLOCATE DELETE
    DESCRIBE DETACH DROP END EXECUTE EXPLAIN EXPORT FORCE GRANT IMPORT INSERT INSTALL LOAD MERGE
    PRAGMA PREPARE REPLACE RESET REVOKE ROLLBACK SET SHOW START SUMMARIZE TRUNCATE UPDATE
    UPSERT USE VACUUM
    """.split()
)

# Classes of sqlglot's DDL/DML modules that may appear inside a read-only query.
_HARMLESS_STATEMENT_MODULE_CLASSES = frozenset({"Comprehension"})

_STATEMENT_MODULES = ("sqlglot.expressions.ddl", "sqlglot.expressions.dml")


# Accepted queries by their exact text: dashboards and indicators send the same SQL again and
# again. A hit returns a copy of the accepted tree, so no caller can change what is cached;
# refused SQL is never cached (it is parsed and refused again).
_ACCEPTED: dict[str, ParsedQuery] = {}
_ACCEPTED_LIMIT = 1024
_ACCEPTED_LOCK = threading.Lock()


def parse_read_only(sql: str) -> ParsedQuery:
    """Parse user SQL and accept it only if it is one read-only query (see ``_parse``)."""
    cached = _ACCEPTED.get(sql) if isinstance(sql, str) else None
    if cached is None:
        cached = _parse(sql)
        with _ACCEPTED_LOCK:
            if len(_ACCEPTED) >= _ACCEPTED_LIMIT:
                _ACCEPTED.pop(next(iter(_ACCEPTED)))
            _ACCEPTED[sql] = cached
    return ParsedQuery(expression=cached.expression.copy(), tables=cached.tables, sql=cached.sql)


def _parse(sql: str) -> ParsedQuery:
    """Parse user SQL and accept it only if it is one read-only query.

    Args:
        sql: the user's SQL text in DuckDB's dialect; one trailing semicolon is fine.

    Returns:
        The parsed query, the catalog tables it reads and its canonical DuckDB SQL.

    Raises:
        QueryRefusedError: not parseable, not exactly one statement, not a query, or it uses a
            statement, table reference or function the guard does not allow. The message names
            what was refused.
    """
    if not isinstance(sql, str):
        raise QueryRefusedError("the query must be SQL text")
    if len(sql) > MAX_SQL_CHARS:
        raise QueryRefusedError(f"the query is longer than {MAX_SQL_CHARS} characters")
    if "\x00" in sql:
        raise QueryRefusedError("the query contains a NUL character")
    try:
        statements = [s for s in sqlglot.parse(sql, read=USER_DIALECT) if s is not None]
        statements = [s for s in statements if not isinstance(s, exp.Semicolon)]
        if not statements:
            raise QueryRefusedError("no SQL statement was given")
        if len(statements) > 1:
            raise QueryRefusedError(
                f"exactly one SQL statement is allowed, {len(statements)} were given"
            )
        expression = statements[0]
        _check_root(expression, sql)
        _check_statements(expression)
        tables: set[str] = set()
        _collect_tables(expression, frozenset(), tables)
        _check_functions(expression)
        canonical = expression.sql(
            dialect=USER_DIALECT, comments=False, unsupported_level=ErrorLevel.RAISE
        )
    except (ParseError, TokenError) as exc:
        keyword = _leading_keyword(sql)
        if keyword in _STATEMENT_KEYWORDS:
            raise QueryRefusedError(_statement_refusal(keyword)) from None
        raise QueryRefusedError(f"the SQL could not be parsed: {_parse_error_text(exc)}") from None
    except UnsupportedError as exc:
        raise QueryRefusedError(f"the SQL uses unsupported syntax: {exc}") from None
    except RecursionError:
        raise QueryRefusedError("the query is nested too deeply") from None
    except SqlglotError as exc:
        raise QueryRefusedError(f"the SQL could not be parsed: {exc}") from None
    return ParsedQuery(expression=expression, tables=frozenset(tables), sql=canonical)


def _parse_error_text(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if errors:
        first = errors[0]
        line, column = first.get("line"), first.get("col")
        where = f" (line {line}, column {column})" if line else ""
        return f"{first.get('description') or 'invalid syntax'}{where}"
    return str(exc).splitlines()[0] if str(exc) else "invalid syntax"


def _statement_name(node: exp.Expression) -> str:
    if isinstance(node, exp.Command):
        keyword = str(node.this or "").upper()
        rest = node.expression.name if isinstance(node.expression, exp.Expression) else str(
            node.expression or ""
        )
        if keyword == "EXPLAIN" and rest.strip().upper().startswith("ANALYZE"):
            return "EXPLAIN ANALYZE"
        return keyword or "unknown"
    return _STATEMENT_NAMES.get(type(node).__name__, type(node).__name__.upper())


def _statement_refusal(kind: str) -> str:
    return (
        f"{kind} statements are not allowed: only one read-only query "
        "(SELECT, WITH … SELECT, VALUES, UNION/INTERSECT/EXCEPT) may run"
    )


def _refuse_statement(node: exp.Expression) -> None:
    raise QueryRefusedError(_statement_refusal(_statement_name(node)))


def _leading_keyword(sql: str) -> str:
    try:
        tokens = sqlglot.tokenize(sql, read=USER_DIALECT)
    except SqlglotError:
        return ""
    return tokens[0].text.upper() if tokens else ""


def _check_root(expression: exp.Expression, sql: str) -> None:
    root = expression
    while isinstance(root, exp.Subquery):
        root = root.this
    if isinstance(root, _ALLOWED_ROOTS):
        return
    if _is_statement(root):
        _refuse_statement(root)
    if isinstance(root, exp.Pivot):
        raise QueryRefusedError(
            "the PIVOT statement is not supported: write SELECT … FROM t PIVOT (… FOR … IN (…))"
        )
    keyword = _leading_keyword(sql)
    if keyword in _STATEMENT_KEYWORDS:
        raise QueryRefusedError(_statement_refusal(keyword))
    raise QueryRefusedError(
        "the statement is not a query: only one read-only query "
        "(SELECT, WITH … SELECT, VALUES, UNION/INTERSECT/EXCEPT) may run"
    )


def _is_statement(node: exp.Expression) -> bool:
    cls = type(node)
    if cls.__module__ in _STATEMENT_MODULES:
        return cls.__name__ not in _HARMLESS_STATEMENT_MODULE_CLASSES
    return isinstance(node, (exp.DDL, exp.DML, exp.Command))


def _check_statements(expression: exp.Expression) -> None:
    for node in expression.walk():
        if _is_statement(node):
            _refuse_statement(node)
        if isinstance(node, exp.Into):
            raise QueryRefusedError("SELECT … INTO is not allowed: queries cannot create tables")
        if isinstance(node, (exp.Placeholder, exp.Parameter)):
            raise QueryRefusedError("query parameters ($1, ?) are not supported; write the values")


def _check_functions(expression: exp.Expression) -> None:
    allowed = probe_function_names(functions.ALLOWED_FUNCTIONS)
    for node in expression.find_all(exp.Func):
        if isinstance(node.parent, exp.Dot) and node.arg_key == "expression":
            raise QueryRefusedError(
                f"calling {_function_display_name(node)}() after a dot (schema.f() or x.f()) is "
                f"not allowed: write {_function_display_name(node)}(…)"
            )
        if not _function_allowed(node, allowed):
            raise QueryRefusedError(
                f"function {_function_display_name(node)}() is not allowed in queries"
            )


def _function_display_name(node: exp.Func) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.name)
    return node.sql_name().lower()


_Allowlist = tuple[frozenset[type[exp.Expression]], frozenset[str]]


def _function_allowed(node: exp.Func, allowed: _Allowlist) -> bool:
    classes, anonymous = allowed
    if isinstance(node, exp.Anonymous):
        return isinstance(node.this, str) and node.name.lower() in anonymous
    return type(node) in classes or type(node) in _SYNTAX_FUNCTIONS


@functools.cache
def probe_function_names(names: frozenset[str]) -> _Allowlist:
    """Map allowlisted DuckDB function names onto sqlglot's tree.

    sqlglot turns a call into a typed node (``SUM(x)`` → ``exp.Sum``) when it knows the name and
    into ``exp.Anonymous`` otherwise. Parsing a probe call for every allowlisted name (with zero
    to three arguments, as scalar and as table function) yields the typed classes and anonymous
    names that allowlisted calls produce; a user call is accepted only if it produces one of them.
    sqlglot generates a typed node back to SQL from its class, so it runs the function the class
    stands for, whatever alias the user wrote. A unit test proves that no function DuckDB lists
    outside the allowlist produces an accepted class.
    """
    classes: set[type[exp.Expression]] = set()
    anonymous: set[str] = set()
    for name in names:
        for arity in range(4):
            arguments = ", ".join(("a", "b", "c")[:arity])
            templates = [f"SELECT {name}({arguments})"]
            if name in functions.TABLE_FUNCTIONS:
                templates.append(f"SELECT * FROM {name}({arguments})")
            for template in templates:
                try:
                    tree = sqlglot.parse_one(
                        template, read=USER_DIALECT, error_level=ErrorLevel.IGNORE
                    )
                except SqlglotError:
                    continue
                for node in tree.find_all(exp.Func) if tree is not None else ():
                    if isinstance(node, exp.Anonymous):
                        anonymous.add(node.name.lower())
                    else:
                        classes.add(type(node))
    return frozenset(classes), frozenset(anonymous & names)


def _table_display_name(table: exp.Table) -> str:
    return ".".join(part.name for part in table.parts)


def _check_table(table: exp.Table, visible_ctes: frozenset[str], tables: set[str]) -> None:
    target = table.this
    if isinstance(target, exp.Func):
        name = _function_display_name(target)
        if not _function_allowed(target, probe_function_names(functions.TABLE_FUNCTIONS)):
            raise QueryRefusedError(
                f"table function {name}() is not allowed in FROM: read datasets by their name"
            )
        return
    if not isinstance(target, exp.Identifier):
        raise QueryRefusedError("only dataset names may appear in FROM")
    if table.args.get("db") or table.args.get("catalog"):
        raise QueryRefusedError(
            f"qualified table name {_table_display_name(table)!r} is not allowed: "
            "use the plain dataset name"
        )
    name = target.name.lower()
    if name in visible_ctes:
        return
    if not DATASET_NAME_PATTERN.match(name):
        raise QueryRefusedError(
            f"{target.name!r} is not a dataset name: files and paths cannot be read, and dataset "
            "names are lowercase letters, digits and _"
        )
    tables.add(name)


def _collect_tables(node: exp.Expression, visible_ctes: frozenset[str], tables: set[str]) -> None:
    """Record catalog tables read by ``node``; names of CTEs in scope are not catalog tables.

    A non-recursive WITH makes each CTE visible to the CTEs after it and to the query body; a
    WITH RECURSIVE makes all of its CTEs visible everywhere inside it. A name that is not in
    scope is a catalog table (over-reporting is safe: the engine refuses what was not granted).
    """
    with_clause = next(
        (child for child in node.args.values() if isinstance(child, exp.With)), None
    )
    if with_clause is not None:
        names = [cte.alias_or_name.lower() for cte in with_clause.expressions]
        recursive = bool(with_clause.args.get("recursive"))
        for position, cte in enumerate(with_clause.expressions):
            in_scope = names if recursive else names[:position]
            _collect_tables(cte.this, visible_ctes | frozenset(in_scope), tables)
        visible_ctes = visible_ctes | frozenset(names)
    if isinstance(node, exp.Table):
        _check_table(node, visible_ctes, tables)
    for child in node.iter_expressions():
        if child is not with_clause:
            _collect_tables(child, visible_ctes, tables)


def prepare() -> None:
    """Build the function allowlist now instead of in the first ``parse_read_only`` call.

    Mapping the allowlist onto sqlglot's classes parses a few thousand probe calls (about
    0.3 s, once per process); engines call this when they are created so no query pays for it.
    """
    probe_function_names(functions.ALLOWED_FUNCTIONS)
    probe_function_names(functions.TABLE_FUNCTIONS)
