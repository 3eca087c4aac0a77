"""Small formatting helpers for the operator pages."""

from __future__ import annotations

import math

from django import template
from django.utils.html import format_html
from django.utils.safestring import mark_safe

register = template.Library()


@register.filter
def num(value, digits: int = 4):
    """A score for humans: 4 significant digits, a dash when missing."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or math.isnan(value):
        return "–"  # None, or a missing attribute (the template engine gives "")
    return f"{value:.{digits}g}"


@register.filter
def skill(value):
    """Skill over a baseline as a coloured signed percentage."""
    if not isinstance(value, (int, float)):
        return "–"
    css = "skill-pos" if value > 0 else "skill-neg" if value < 0 else ""
    return format_html('<span class="{}">{}</span>', css, f"{value:+.1%}")


@register.simple_tag
def sparkline(values, width: int = 120, height: int = 28, label: str = "recent scores"):
    """An inline SVG polyline of recent values (oldest first); no JavaScript needed."""
    points = [v for v in values if v is not None]
    if len(points) < 2:
        return mark_safe('<span class="muted">–</span>')
    low, high = min(points), max(points)
    span = (high - low) or 1.0
    step = width / (len(points) - 1)
    coords = " ".join(
        f"{i * step:.1f},{height - 2 - (v - low) / span * (height - 4):.1f}" for i, v in enumerate(points)
    )
    return format_html(
        '<svg class="sparkline" width="{}" height="{}" role="img" aria-label="{}: {} to {}">'
        '<polyline fill="none" stroke="#1d4ed8" stroke-width="1.5" points="{}"/></svg>',
        width, height, label, f"{points[0]:.3g}", f"{points[-1]:.3g}", coords,
    )
