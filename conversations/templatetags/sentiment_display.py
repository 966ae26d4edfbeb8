"""Template filters for the staff pages."""

from django import template

from insights.scoring.language import language_name as _language_name

register = template.Library()


@register.filter
def language_name(code: str | None) -> str:
    """``sr-Latn`` → "Serbian (Latin)" (see ``insights.scoring.language.language_name``)."""
    return _language_name(code)
