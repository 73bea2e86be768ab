"""Appending to and verifying the hash-chained audit log.

Entry ``n`` stores ``hash = sha256(canonical_json({seq, ts, actor, action, target, details,
prev_hash}))`` with ``prev_hash`` the hash of entry ``n - 1`` (``GENESIS`` for the first). The
``audit_head`` row names the last entry; appends lock it (``SELECT … FOR UPDATE`` on PostgreSQL;
SQLite serialises writers), so concurrent appends cannot fork the chain. ``verify`` walks the whole
chain and reports every break: an edited entry no longer matches its hash, an inserted or deleted
entry breaks the ``prev_hash`` links or the sequence, and a truncated tail no longer matches the
head row.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from countyos.db.models import AuditEntry, AuditHead

GENESIS = "0" * 64
_HEAD_ID = 1


def canonical_json(value: Any) -> str:
    """JSON with sorted keys, no insignificant whitespace and UTF-8 text kept as is."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def entry_hash(
    *, seq: int, ts: str, actor: str, action: str, target: str, details: dict, prev_hash: str
) -> str:
    body = {
        "seq": seq,
        "ts": ts,
        "actor": actor,
        "action": action,
        "target": target,
        "details": details,
        "prev_hash": prev_hash,
    }
    return hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()


def append(
    session: Session, *, actor: str, action: str, target: str = "", details: dict | None = None
) -> AuditEntry:
    """Append one entry in the session's transaction and return it.

    Args:
        session: the caller's session; the entry commits with the caller's own changes.
        actor: who did it (a username, or ``cli:<os user>``).
        action: a dotted verb such as ``dataset.import`` or ``user.role_change``.
        target: what it was done to, e.g. ``dataset:population_registry``.
        details: JSON-serialisable facts (never row values of protected data).
    """
    details = json.loads(canonical_json(details or {}))
    head = session.execute(
        select(AuditHead).where(AuditHead.id == _HEAD_ID).with_for_update()
    ).scalar_one_or_none()
    if head is None:
        head = AuditHead(id=_HEAD_ID, seq=0, hash=GENESIS)
        session.add(head)
        session.flush()
    seq = head.seq + 1
    ts = datetime.now(UTC).isoformat(timespec="microseconds")
    digest = entry_hash(
        seq=seq, ts=ts, actor=actor, action=action, target=target, details=details,
        prev_hash=head.hash,
    )
    entry = AuditEntry(
        seq=seq, ts=ts, actor=actor, action=action, target=target, details=details,
        prev_hash=head.hash, hash=digest,
    )
    session.add(entry)
    head.seq, head.hash = seq, digest
    session.flush()
    return entry


@dataclass(frozen=True)
class AuditProblem:
    seq: int
    problem: str

    def __str__(self) -> str:
        return f"entry {self.seq}: {self.problem}"


def verify(session: Session, *, batch: int = 5000) -> tuple[int, list[AuditProblem]]:
    """Walk the chain; return (entries checked, problems found). No problems means intact."""
    problems: list[AuditProblem] = []
    expected_prev, expected_seq, count, last = GENESIS, 1, 0, None
    after = 0
    while True:
        rows = session.execute(
            select(AuditEntry).where(AuditEntry.seq > after).order_by(AuditEntry.seq).limit(batch)
        ).scalars().all()
        if not rows:
            break
        for entry in rows:
            count += 1
            if entry.seq != expected_seq:
                problems.append(AuditProblem(entry.seq, f"sequence gap: expected {expected_seq} "
                                             "(an entry was deleted or inserted)"))
            if entry.prev_hash != expected_prev:
                problems.append(AuditProblem(entry.seq, "previous-hash link broken "
                                             "(an entry before it was changed, deleted or inserted)"))
            recomputed = entry_hash(
                seq=entry.seq, ts=entry.ts, actor=entry.actor, action=entry.action,
                target=entry.target, details=entry.details, prev_hash=entry.prev_hash,
            )
            if recomputed != entry.hash:
                problems.append(AuditProblem(entry.seq, "content does not match its hash (edited)"))
            expected_prev, expected_seq, last = entry.hash, entry.seq + 1, entry
        after = rows[-1].seq
        session.expunge_all()
    head = session.get(AuditHead, _HEAD_ID)
    if head is not None:
        last_seq, last_hash = (last.seq, last.hash) if last else (0, GENESIS)
        if (head.seq, head.hash) != (last_seq, last_hash):
            problems.append(AuditProblem(head.seq, "the chain does not end where the head says "
                                         "(entries at the end were deleted or added)"))
    elif last is not None:
        problems.append(AuditProblem(last.seq, "the audit head row is missing"))
    return count, problems
