"""The job spec file (``countyos.yaml``) and the job bundle identified by its hash.

    version: 1
    actions:
      - name: people_by_township            # also the output's name for a SQL action
        sql: |
          SELECT township_code, count(*) AS people
          FROM population_registry GROUP BY township_code
      - name: wages
        python: analysis/wages.py           # publishes through countyos_job.publish_*
        reads: [population_registry, social_insurance]
        outputs: [wages_by_age]

A SQL action may give ``sql_file:`` instead of ``sql:``. The job hash is the sha256 of the
canonical spec and of every file it names, so the same code and spec always have the same hash
and any change to either gives a new one.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from countyos.engine import parse_read_only
from countyos.errors import InvalidInputError

NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
MAX_FILE_BYTES = 1024 * 1024
MAX_ACTIONS = 50


@dataclass(frozen=True)
class Action:
    name: str
    kind: str                      # "sql" | "python"
    reads: tuple[str, ...]
    outputs: tuple[str, ...]
    sql: str | None = None
    script: str | None = None      # path relative to the spec's folder, for python actions


@dataclass(frozen=True)
class JobBundle:
    """A parsed spec with the contents of the files it names."""

    actions: tuple[Action, ...]
    files: dict[str, bytes] = field(default_factory=dict)   # relative path -> content
    spec: dict[str, Any] = field(default_factory=dict)

    @property
    def job_hash(self) -> str:
        digest = hashlib.sha256()
        digest.update(json.dumps(self.spec, sort_keys=True, ensure_ascii=False).encode("utf-8"))
        for path in sorted(self.files):
            digest.update(b"\0" + path.encode("utf-8") + b"\0")
            digest.update(hashlib.sha256(self.files[path]).digest())
        return digest.hexdigest()

    @property
    def datasets(self) -> tuple[str, ...]:
        return tuple(sorted({d for a in self.actions for d in a.reads}))

    def to_json(self) -> dict[str, Any]:
        return {"spec": self.spec, "files": {p: c.decode("utf-8") for p, c in self.files.items()}}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JobBundle:
        files = {p: c.encode("utf-8") for p, c in data["files"].items()}
        return parse_spec(data["spec"], files)


def _fail(message: str) -> InvalidInputError:
    return InvalidInputError(f"countyos.yaml: {message}")


def _safe_relative(path: str) -> str:
    candidate = Path(path)
    if candidate.is_absolute() or ".." in candidate.parts or not path.strip():
        raise _fail(f"file {path!r} must be a relative path inside the project folder")
    return candidate.as_posix()


def load_bundle(spec_path: Path) -> JobBundle:
    """Read ``countyos.yaml`` and every file it names from the spec's folder."""
    try:
        text = spec_path.read_text(encoding="utf-8")
    except OSError as error:
        raise InvalidInputError(f"cannot read job spec {str(spec_path)!r}: {error.strerror}") from None
    try:
        spec = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise _fail(f"not valid YAML: {error}") from None
    folder = spec_path.parent
    files: dict[str, bytes] = {}
    for action in (spec or {}).get("actions", []) if isinstance(spec, dict) else []:
        for key in ("python", "sql_file"):
            if isinstance(action, dict) and isinstance(action.get(key), str):
                relative = _safe_relative(action[key])
                path = folder / relative
                if not path.is_file():
                    raise _fail(f"action {action.get('name')!r} names {relative!r}, which does not exist")
                if path.stat().st_size > MAX_FILE_BYTES:
                    raise _fail(f"{relative!r} is larger than {MAX_FILE_BYTES} bytes")
                files[relative] = path.read_bytes()
    return parse_spec(spec, files)


def parse_spec(spec: Any, files: dict[str, bytes]) -> JobBundle:
    """Validate a spec (already loaded) against the files it names."""
    if not isinstance(spec, dict) or spec.get("version", 1) != 1:
        raise _fail("must be a mapping with `version: 1` and `actions:`")
    unknown = set(spec) - {"version", "actions"}
    if unknown:
        raise _fail(f"unknown keys {sorted(unknown)}")
    raw_actions = spec.get("actions")
    if not isinstance(raw_actions, list) or not raw_actions:
        raise _fail("`actions` must be a non-empty list")
    if len(raw_actions) > MAX_ACTIONS:
        raise _fail(f"at most {MAX_ACTIONS} actions")
    actions, outputs = [], set()
    for raw in raw_actions:
        action = _action(raw, files)
        clash = outputs & set(action.outputs)
        if clash:
            raise _fail(f"output {sorted(clash)[0]!r} is declared twice")
        outputs |= set(action.outputs)
        actions.append(action)
    if len({a.name for a in actions}) != len(actions):
        raise _fail("action names must be unique")
    used = {a.script for a in actions if a.script} | {
        _safe_relative(r["sql_file"]) for r in raw_actions if isinstance(r.get("sql_file"), str)}
    return JobBundle(actions=tuple(actions), files={p: files[p] for p in sorted(used)}, spec=spec)


def _names(value: Any, what: str, action: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise _fail(f"action {action!r}: `{what}` must be a non-empty list of names")
    for name in value:
        if not NAME_RE.match(name):
            raise _fail(f"action {action!r}: {what} name {name!r} must be lower-case letters, digits, '_'")
    return tuple(dict.fromkeys(value))


def _action(raw: Any, files: dict[str, bytes]) -> Action:
    if not isinstance(raw, dict):
        raise _fail("each action must be a mapping")
    name = raw.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise _fail(f"action name {name!r} must be lower-case letters, digits and '_'")
    kinds = [k for k in ("sql", "sql_file", "python") if k in raw]
    if len(kinds) != 1:
        raise _fail(f"action {name!r} needs exactly one of `sql`, `sql_file`, `python`")
    allowed = {"name", "sql", "sql_file", "python", "reads", "outputs"}
    if set(raw) - allowed:
        raise _fail(f"action {name!r}: unknown keys {sorted(set(raw) - allowed)}")
    if kinds[0] == "python":
        script = _safe_relative(raw["python"])
        if script not in files:
            raise _fail(f"action {name!r}: script {script!r} is missing from the bundle")
        return Action(name=name, kind="python", reads=_names(raw.get("reads"), "reads", name),
                      outputs=_names(raw.get("outputs"), "outputs", name), script=script)
    if kinds[0] == "sql_file":
        path = _safe_relative(raw["sql_file"])
        if path not in files:
            raise _fail(f"action {name!r}: SQL file {path!r} is missing from the bundle")
        sql = files[path].decode("utf-8")
    else:
        sql = raw["sql"]
        if not isinstance(sql, str) or not sql.strip():
            raise _fail(f"action {name!r}: `sql` must be a query")
    parsed = parse_read_only(sql)
    reads = tuple(sorted(parsed.tables))
    if "reads" in raw and set(_names(raw["reads"], "reads", name)) != set(reads):
        raise _fail(f"action {name!r}: `reads` {sorted(raw['reads'])} differs from the tables the "
                    f"SQL reads {list(reads)}")
    outputs = _names(raw.get("outputs", [name]), "outputs", name)
    if len(outputs) != 1:
        raise _fail(f"action {name!r}: a SQL action has exactly one output")
    return Action(name=name, kind="sql", reads=reads, outputs=outputs, sql=sql)
