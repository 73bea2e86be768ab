"""The audit log: append-only, each entry chained to the previous by sha256 over canonical JSON.

Owns appending entries (inside the caller's transaction, so an action and its audit entry commit
together or not at all) and verifying the chain, which detects an edited, inserted or deleted
entry. Knows nothing about what the actions mean.
"""

from countyos.audit.chain import AuditProblem, append, entry_hash, verify

__all__ = ["AuditProblem", "append", "entry_hash", "verify"]
