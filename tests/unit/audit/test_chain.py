"""The audit chain detects an edited, inserted or deleted entry — on both metadata backends."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import delete, text, update

from countyos import audit
from countyos.audit.chain import entry_hash
from countyos.db import Database
from countyos.db.models import AuditEntry


@pytest.fixture
def db(metadata_url: str, tmp_path: Path) -> Database:
    (tmp_path / "home").mkdir(exist_ok=True)
    database = Database(metadata_url)
    database.migrate()
    yield database
    database.dispose()


def _fill(db: Database, n: int = 5) -> None:
    for i in range(n):
        with db.session() as session:
            audit.append(session, actor="alice", action="dataset.import",
                         target=f"dataset:d{i}", details={"rows": i, "名称": "人口"})


def _problems(db: Database) -> list[str]:
    with db.session() as session:
        _, problems = audit.verify(session)
    return [p.problem for p in problems]


def test_intact_chain_verifies(db: Database) -> None:
    _fill(db)
    with db.session() as session:
        checked, problems = audit.verify(session)
    assert checked == 5 and problems == []


def test_entries_chain_to_their_predecessor(db: Database) -> None:
    _fill(db, 3)
    with db.session() as session:
        entries = session.query(AuditEntry).order_by(AuditEntry.seq).all()
    assert entries[0].prev_hash == "0" * 64
    assert [e.prev_hash for e in entries[1:]] == [e.hash for e in entries[:-1]]
    assert len({e.hash for e in entries}) == 3


def test_edited_entry_is_detected(db: Database) -> None:
    _fill(db)
    with db.session() as session:
        session.execute(update(AuditEntry).where(AuditEntry.seq == 3).values(actor="mallory"))
    problems = _problems(db)
    assert any("edited" in p for p in problems)


def test_edited_details_are_detected(db: Database) -> None:
    _fill(db)
    with db.session() as session:
        session.execute(update(AuditEntry).where(AuditEntry.seq == 2).values(details={"rows": 999}))
    assert any("edited" in p for p in _problems(db))


def test_edit_with_recomputed_own_hash_breaks_the_next_link(db: Database) -> None:
    _fill(db)
    with db.session() as session:
        entry = session.get(AuditEntry, 3)
        forged = entry_hash(seq=3, ts=entry.ts, actor="mallory", action=entry.action,
                            target=entry.target, details=entry.details, prev_hash=entry.prev_hash)
        entry.actor, entry.hash = "mallory", forged
    problems = _problems(db)
    assert any("previous-hash link broken" in p for p in problems)


def test_deleted_entry_is_detected(db: Database) -> None:
    _fill(db)
    with db.session() as session:
        session.execute(delete(AuditEntry).where(AuditEntry.seq == 3))
    problems = _problems(db)
    assert any("sequence gap" in p for p in problems)
    assert any("link broken" in p for p in problems)


def test_deleted_last_entry_is_detected(db: Database) -> None:
    _fill(db)
    with db.session() as session:
        session.execute(delete(AuditEntry).where(AuditEntry.seq == 5))
    assert any("does not end where the head says" in p for p in _problems(db))


def test_inserted_entry_is_detected(db: Database) -> None:
    _fill(db)
    with db.session() as session:
        # shift the tail up to make room, then insert a forged entry with a self-consistent hash
        for seq in (5, 4):
            session.execute(update(AuditEntry).where(AuditEntry.seq == seq).values(seq=seq + 1))
        prev = session.get(AuditEntry, 3)
        ts = prev.ts
        forged = entry_hash(seq=4, ts=ts, actor="mallory", action="user.create", target="user:x",
                            details={}, prev_hash=prev.hash)
        session.add(AuditEntry(seq=4, ts=ts, actor="mallory", action="user.create",
                               target="user:x", details={}, prev_hash=prev.hash, hash=forged))
    problems = _problems(db)
    assert problems, "an inserted entry must break the chain"
    assert any("link broken" in p or "sequence" in p for p in problems)


def test_append_rolls_back_with_the_callers_transaction(db: Database) -> None:
    _fill(db, 2)
    with pytest.raises(RuntimeError):
        with db.session() as session:
            audit.append(session, actor="bob", action="x")
            raise RuntimeError("the action failed")
    with db.session() as session:
        checked, problems = audit.verify(session)
        assert checked == 2 and problems == []
        assert session.execute(text("SELECT count(*) FROM audit_entries")).scalar() == 2
