"""Request ids for logs, a Content-Security-Policy for the pages, JSON 405s for the API."""

from __future__ import annotations

import re
import uuid

import structlog
from django.http import JsonResponse

_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# Everything is served from here (vendored htmx/uPlot, ninja's Swagger UI); inline style
# attributes and Swagger's data: images are allowed, scripts only from files.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "frame-ancestors 'none'; base-uri 'self'; form-action 'self'")


class RequestIdMiddleware:
    """Bind X-Request-ID (or a new one) to every log line of the request, and echo it back."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            response = self.get_response(request)
        finally:
            structlog.contextvars.clear_contextvars()
        response["X-Request-ID"] = request_id
        return response


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.setdefault("Content-Security-Policy", CSP)
        return response


class ApiMethodNotAllowedMiddleware:
    """A method an /v1 path does not take: ninja answers Django's plain-text 405; the API answers
    JSON errors only, naming the methods the path takes (the Allow header is kept)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (response.status_code != 405 or not request.path.startswith("/v1/")
                or response.get("Content-Type", "").startswith("application/json")):
            return response
        allowed = response.get("Allow", "")
        answer = JsonResponse({"detail": f"{request.method} is not allowed on {request.path}; it takes "
                                         f"{allowed or 'no method'}"}, status=405)
        if allowed:
            answer["Allow"] = allowed
        return answer
