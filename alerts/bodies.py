"""What a receiver gets: the event as JSON, or Slack's `{"text": …}` (Slack, Mattermost,
Rocket.Chat and other incoming webhooks that take Slack's shape)."""

from __future__ import annotations

import json

from alerts.models import Format


def slack_text(payload: dict) -> str:
    """The summary with the links in Slack's `<url|label>` form."""
    links = " · ".join(f"<{url}|{name.replace('_', ' ')}>" for name, url in (payload.get("links") or {}).items())
    return f"*cellwise* `{payload['type']}`: {payload['text']}" + (f"\n{links}" if links else "")


def render(payload: dict, format: str) -> bytes:
    """The request body; the same bytes on every attempt (keys sorted)."""
    document = {"text": slack_text(payload)} if format == Format.SLACK else payload
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
