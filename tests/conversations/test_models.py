import pytest
from django.db import IntegrityError

from conversations.models import Conversation, ConversationStatus, Presence, Role
from tests.conversations.factories import ConversationFactory, MessageFactory


def test_presence_offers_the_five_contact_center_states():
    assert [p.label for p in Presence] == ["Available", "Busy", "Busy - Do not disturb", "Away", "Offline"]


def test_roles_are_representative_supervisor_admin():
    assert [r.value for r in Role] == ["representative", "supervisor", "admin"]


def test_conversation_statuses_follow_the_lifecycle():
    assert [s.value for s in ConversationStatus] == ["open", "active", "waiting", "wrap_up", "closed"]


@pytest.mark.django_db
def test_each_conversation_gets_its_own_unguessable_customer_token():
    first, second = ConversationFactory(), ConversationFactory()
    assert first.customer_token != second.customer_token
    assert len(first.customer_token) >= 32


@pytest.mark.django_db
def test_a_sequence_number_is_unique_within_a_conversation():
    conversation = ConversationFactory()
    MessageFactory(conversation=conversation, seq=1)
    MessageFactory(conversation=ConversationFactory(), seq=1)  # other conversations may reuse it
    with pytest.raises(IntegrityError):
        MessageFactory(conversation=conversation, seq=1)


@pytest.mark.django_db
def test_new_conversations_start_unscored_and_steady():
    conversation = ConversationFactory()
    fresh = Conversation.objects.get(pk=conversation.pk)
    assert fresh.sentiment_level is None and fresh.sentiment_trend == "steady"
    assert fresh.scoring_opt_out is False
