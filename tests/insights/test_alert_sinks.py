"""Adapters hear of alerts through the sink registry, inside the alert's transaction."""

from __future__ import annotations

import pytest

from insights import alert_sinks
from insights.chatwoot.services.outbound import chatwoot_alert_enqueue
from insights.models import SentimentAlert
from tests.conversations.factories import ConversationFactory, RepresentativeFactory
from tests.insights.test_alerts import score, set_thresholds

pytestmark = pytest.mark.django_db


def test_the_chatwoot_adapter_registers_its_sink_when_django_starts():
    assert chatwoot_alert_enqueue in alert_sinks._sinks


def test_a_registered_sink_gets_every_alert_as_it_is_stored(monkeypatch):
    heard: list[tuple[int, bool]] = []
    monkeypatch.setattr(alert_sinks, "_sinks", list(alert_sinks._sinks))
    alert_sinks.alert_sink_register(
        lambda *, alert: heard.append((alert.pk, SentimentAlert.objects.filter(pk=alert.pk).exists()))
    )
    set_thresholds(-1, 0)
    conversation = ConversationFactory(representative=RepresentativeFactory())

    score(conversation, -2)

    alert = SentimentAlert.objects.get(conversation=conversation)
    assert heard == [(alert.pk, True)]
