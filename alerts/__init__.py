"""Alerts: webhooks that tell operators when a field degrades, retrains, changes its best or
something breaks.

The apps that change state call `alerts.services.alert_emit` inside their own transaction: the
event row and one pending delivery per interested webhook (the outbox) commit or roll back with
the change that caused them. After commit, django-q2 tasks deliver each one (signed, retried with
backoff, at least once; `alerts.delivery`). This app sits above `access` and below every app
that emits, so it knows nothing of fields, models or jobs beyond the payloads it is given.
"""
