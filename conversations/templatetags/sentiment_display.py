"""Template filters for the staff pages."""

from django import template
from django.utils import timezone
from django.utils.dateformat import format as date_format

from insights import for_conversations

register = template.Library()


@register.filter
def language_name(code: str | None) -> str:
    """``sr-Latn`` → "Serbian (Latin)" (see ``insights.scoring.language.language_name``)."""
    return for_conversations.language_name(code)


@register.filter
def when(value) -> str:
    """A time of today as "14:03:07"; of another day with its date, "2 Dec 14:03" (the list
    keeps items of earlier days, and a bare time would pass them off as today's)."""
    if not value:
        return "–"
    local = timezone.localtime(value)
    if local.date() == timezone.localdate():
        return date_format(local, "H:i:s")
    return date_format(local, "j M H:i")
