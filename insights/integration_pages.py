"""Adapters with a setup page of their own (e.g. Chatwoot) register it here from their
``AppConfig.ready()``; the Insights → Integrations page links to each without naming them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class IntegrationPage:
    title: str
    url_name: str
    description: str


_pages: list[IntegrationPage] = []


def integration_page_register(page: IntegrationPage) -> None:
    if page not in _pages:
        _pages.append(page)


def integration_pages() -> list[IntegrationPage]:
    return list(_pages)
