"""The error answers /v1 operations declare in the OpenAPI: one schema, `{"detail": ...}` plus
optional details (the validation `errors`, `found`/`needed`, the `dependency` that is down).

Which codes an operation lists is written at the operation. Most list 401 (no credentials),
422 (bad parameters) and 503 (a dependency down, or the process shedding load); writes and
other non-GET calls add 403 (viewers, or a session without its CSRF token); those with a body
add 400 (a body that is not JSON).
"""

from __future__ import annotations

from ninja import Schema
from pydantic import ConfigDict


class ErrorOut(Schema):
    model_config = ConfigDict(extra="allow")

    detail: str


def errors(*codes: int) -> dict[int, type[ErrorOut]]:
    """`response={200: Out, **errors(401, 404, 422, 503)}`."""
    return {code: ErrorOut for code in codes}
