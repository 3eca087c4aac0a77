"""The login page, with the same attempt limits as the token endpoint."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import views as auth_views

from access import throttle
from access.clients import client_address
from core.errors import TooManyRequests


class LoginView(auth_views.LoginView):
    """At most LOGIN_RATE_LIMIT attempts per client address and per user name; beyond, the page
    answers 429 with the reason and the password is not checked."""

    def post(self, request, *args, **kwargs):
        try:
            throttle.attempt("login", settings.LOGIN_RATE_LIMIT, address=client_address(request),
                             user=request.POST.get("username", ""))
        except TooManyRequests as error:
            form = self.get_form_class()(request)  # unbound: validating it would check the password
            response = self.render_to_response(self.get_context_data(form=form, throttled=error.message), status=429)
            response["Retry-After"] = str(error.retry_after)
            return response
        return super().post(request, *args, **kwargs)
