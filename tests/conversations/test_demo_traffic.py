from __future__ import annotations

import itertools

import pytest

from conversations.demo_traffic import SCRIPTS, DemoTraffic, DirectDriver
from conversations.models import Conversation, ConversationStatus, Message, Sender
from conversations.services.demo import demo_data_load

pytestmark = pytest.mark.django_db(transaction=True)


def test_scripts_cover_the_required_languages_and_several_queues():
    assert {"en", "es", "fr", "de", "it", "pt", "ar", "hi"} <= {s.language for s in SCRIPTS}
    assert len({s.queue for s in SCRIPTS}) >= 3
    assert all(any(sender == "customer" for sender, _ in s.turns) for s in SCRIPTS)


def _customer():
    from tests.conversations.factories import CustomerFactory

    return CustomerFactory()


def test_demo_traffic_plays_conversations_through_the_services():
    demo_data_load()
    clock = itertools.count(0, 3)  # every tick is 3 "seconds" later
    player = DemoTraffic(
        driver=DirectDriver(), concurrent=3, rate=100, seed=1, clock=lambda: next(clock), sleep=lambda s: None
    )
    for _ in range(60):
        player.tick()
    assert (
        player.stats["conversations"] >= 3 and player.stats["customer"] >= 5 and player.stats["replies"] >= 2
    )
    assert player.stats["errors"] == 0
    assert Message.objects.filter(sender=Sender.CUSTOMER).count() == player.stats["customer"]
    assert Message.objects.filter(sender=Sender.REPRESENTATIVE, author__isnull=False).exists()
    assert Conversation.objects.filter(representative__isnull=False).exists()


def test_a_restart_closes_the_demo_conversations_an_earlier_run_left_open():
    import datetime as dt

    from django.utils import timezone

    from conversations.models import Customer, Queue

    demo_data_load()
    queue = Queue.objects.get(name="Billing")
    old = timezone.now() - dt.timedelta(hours=1)
    leftover = Conversation.objects.create(
        queue=queue,
        customer=Customer.objects.create(name=SCRIPTS[0].customer),
        status=ConversationStatus.ACTIVE,
        last_message_at=old,
    )
    real = Conversation.objects.create(
        queue=queue,
        customer=Customer.objects.create(name="A real customer"),
        status=ConversationStatus.ACTIVE,
        last_message_at=old,
    )
    player = DemoTraffic(driver=DirectDriver(), seed=1)
    assert player.close_leftovers() == 1
    leftover.refresh_from_db(), real.refresh_from_db()
    assert leftover.status == ConversationStatus.CLOSED and real.status == ConversationStatus.ACTIVE
