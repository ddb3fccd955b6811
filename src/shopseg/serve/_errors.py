"""The service's errors, translated once: :class:`ApiError` and the JSON error body, and the JSON parsing rules of
``POST /events`` (finite numbers, bounded integers)."""

from __future__ import annotations

import math

from fastapi.responses import JSONResponse

from . import models as M


class ApiError(Exception):
    def __init__(self, status: int, error: str, message: str, hint: str | None = None,
                 details: list | None = None):
        super().__init__(message)
        self.status, self.error, self.message, self.hint, self.details = status, error, message, hint, details


MAX_PAGE = 1_000_000_000  # (page - 1) * size stays a 64-bit OFFSET


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a JSON number; expected a finite number")


def _finite_float(text: str) -> float:
    v = float(text)
    if not math.isfinite(v):
        raise ValueError(f"the number {text[:30]} is out of range; expected a finite number")
    return v


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > 19:
        raise ValueError(f"an integer of {len(text.lstrip('-')):,} digits is out of range; expected at most 19")
    return int(text)


def _error(status: int, error: str, message: str, hint: str | None = None, details: list | None = None,
           headers: dict | None = None) -> JSONResponse:
    body = M.ErrorBody(error=error, message=message, hint=hint, details=details).model_dump(exclude_none=True)
    return JSONResponse(body, status_code=status, headers=headers)


def _jsonable(errs: list[dict]) -> list[dict]:
    out = []
    for e in errs:
        out.append({"loc": [str(x) for x in e.get("loc", ())], "msg": e.get("msg"), "type": e.get("type"),
                    "input": e.get("input") if isinstance(e.get("input"), (str, int, float, bool, type(None)))
                    else str(e.get("input"))[:200]})
    return out


def _validation_message(errs) -> str:
    if not errs:
        return "Invalid request."
    e = errs[0]
    loc = ".".join(str(x) for x in e.get("loc", ()) if x != "body")
    more = f" (and {len(errs) - 1} more)" if len(errs) > 1 else ""
    return f"{loc}: {e.get('msg')}{more}"
