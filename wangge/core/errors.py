"""The one application error type; APIs and pages turn it into one error format."""

from __future__ import annotations

from typing import Any


class ApplicationError(Exception):
    """A rule of the domain refused the request.

    ``code`` is a stable machine-readable identifier, ``message`` is for people (already
    translated where it reaches the UI), ``status`` is the HTTP status an API answers with and
    ``details`` carries structured context (e.g. the offending feature index of an import).
    """

    status = 400
    code = "invalid"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        details: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.details = details

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details is not None:
            body["details"] = self.details
        return {"error": body}


class ValidationError(ApplicationError):
    """Input that can never succeed as given (answers 422)."""

    status = 422
    code = "validation_error"


class NotFound(ApplicationError):
    """Missing, or outside the caller's scope: the two are never told apart (answers 404)."""

    status = 404
    code = "not_found"


class PermissionDenied(ApplicationError):
    """The post's role may not do this action (answers 403). For *reading* an object outside the
    scope use ``NotFound`` instead, so existence does not leak."""

    status = 403
    code = "permission_denied"


class Conflict(ApplicationError):
    """The request is well formed but the object has moved on (already done, closed, taken by
    someone else); answers 409 with what it is now."""

    status = 409
    code = "conflict"
