"""GitHub-shaped error bodies: ``{"message", "documentation_url", "status"}`` plus ``errors`` on 422."""

from __future__ import annotations

from typing import Any

DOCS = "https://docs.github.com/rest"


class ApiError(Exception):
    """Raised by handlers; the app turns it into GitHub's JSON error body."""

    def __init__(
        self,
        status: int,
        message: str,
        errors: list[dict[str, Any] | str] | None = None,  # GitHub sends some as plain sentences
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors
        self.headers = headers or {}
        self.extra = extra

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message, "documentation_url": DOCS, "status": str(self.status)}
        if self.errors is not None:
            body["errors"] = self.errors
        body.update(self.extra)
        return body


def not_found(what: str = "Not Found") -> ApiError:
    return ApiError(404, what)


def validation(resource: str, message: str, field: str | None = None, code: str = "custom") -> ApiError:
    """422 Validation Failed, with one error naming the resource (and field) like GitHub does."""
    err: dict[str, Any] = {"resource": resource, "code": code, "message": message}
    if field:
        err["field"] = field
    return ApiError(422, "Validation Failed", errors=[err])
