"""SQLAlchemy models of differential privacy in the lab: budgets, the ledger, stored answers.

Amounts are exact decimal strings (OpenDP accounting is exact; floats would drift when summed).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from countyos.db.models import Base, utcnow


class DPBudget(Base):
    """The budget of one (project, dataset), set by the dataset's steward, and what is spent."""

    __tablename__ = "dp_budgets"
    __table_args__ = (UniqueConstraint("project", "dataset"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project: Mapped[str] = mapped_column(String(64))
    dataset: Mapped[str] = mapped_column(String(63))
    accounting: Mapped[str] = mapped_column(String(8))
    epsilon: Mapped[str] = mapped_column(String(64))
    delta: Mapped[str] = mapped_column(String(64), default="0")
    spent_epsilon: Mapped[str] = mapped_column(String(64), default="0")
    spent_rho: Mapped[str] = mapped_column(String(64), default="0")
    spent_delta: Mapped[str] = mapped_column(String(64), default="0")
    answers_charged: Mapped[int] = mapped_column(Integer, default=0)
    set_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class DPLedgerEntry(Base):
    """One charge on one budget (audited too)."""

    __tablename__ = "dp_ledger"

    id: Mapped[int] = mapped_column(primary_key=True)
    project: Mapped[str] = mapped_column(String(64), index=True)
    dataset: Mapped[str] = mapped_column(String(63))
    member: Mapped[str] = mapped_column(String(64))
    query_key: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text, default="")
    cost: Mapped[dict[str, Any]] = mapped_column(JSON)
    spent_after: Mapped[dict[str, Any]] = mapped_column(JSON)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class DPStoredAnswer(Base):
    """An answer already paid for: a repeat of the same query returns it without a charge."""

    __tablename__ = "dp_answers"

    id: Mapped[int] = mapped_column(primary_key=True)
    query_key: Mapped[str] = mapped_column(String(64), unique=True)
    project: Mapped[str] = mapped_column(String(64), index=True)
    answer: Mapped[dict[str, Any]] = mapped_column(JSON)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
