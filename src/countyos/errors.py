"""The exception tree of CountyOS.

Every error a user can cause is a ``UserError``: it carries a stable machine code, an HTTP status
and a message that names what is wrong; the web layer turns it into
``{"error": {"code", "message", "details"}}`` and the CLI prints its message on one line and exits
with status 2. Anything else is a bug and surfaces as an internal error.

    CountyOSError
    ├── UserError                      (HTTP 400, CLI exit 2)
    │   ├── InvalidInputError          bad file, bad value, bad parameter (400)
    │   │   └── ImportFileError        a file that cannot be imported; names file, row, column
    │   ├── QueryRefusedError          SQL that is not one read-only query, or not allowed (400)
    │   ├── TooLargeError              over a configured size limit (413)
    │   ├── AuthenticationError        no or bad credentials (401)
    │   ├── PermissionDeniedError      authenticated but not allowed (403)
    │   ├── NotFoundError              no such thing, or not visible to the caller (404)
    │   └── ConflictError              duplicate name, stale state (409)
    └── InternalError                  a bug or a broken installation (500)

Error messages never quote row values of protected data.
"""

from __future__ import annotations

from typing import Any


class CountyOSError(Exception):
    """Root of all CountyOS errors."""

    code = "internal_error"
    status = 500
    exit_code = 1

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}

    def to_body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class UserError(CountyOSError):
    """A problem the caller can fix."""

    code = "bad_request"
    status = 400
    exit_code = 2


class InvalidInputError(UserError):
    code = "invalid_input"
    status = 400


class ImportFileError(InvalidInputError):
    """A file that cannot be imported. ``details`` names ``file`` and, where known, ``row``
    (1-based data row, header excluded) and ``column``."""

    code = "import_failed"

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        row: int | None = None,
        column: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        merged = {k: v for k, v in {"file": file, "row": row, "column": column}.items() if v is not None}
        merged.update(details or {})
        super().__init__(message, details=merged)
        self.file, self.row, self.column = file, row, column


class QueryRefusedError(UserError):
    code = "query_refused"
    status = 400


class TooLargeError(UserError):
    code = "too_large"
    status = 413


class AuthenticationError(UserError):
    code = "unauthenticated"
    status = 401


class PermissionDeniedError(UserError):
    code = "forbidden"
    status = 403


class NotFoundError(UserError):
    code = "not_found"
    status = 404


class ConflictError(UserError):
    code = "conflict"
    status = 409


class InternalError(CountyOSError):
    code = "internal_error"
    status = 500
