"""Template filters for the staff pages."""

from django import template

from insights import for_conversations

register = template.Library()


@register.filter
def language_name(code: str | None) -> str:
    """``sr-Latn`` → "Serbian (Latin)" (see ``insights.scoring.language.language_name``)."""
    return for_conversations.language_name(code)
