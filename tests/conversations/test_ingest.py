"""Ingest: a message is stored first, with its sequence number; bad input is refused with a
clear reason; sequence numbers never collide under concurrent writers."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conversations.models import ConversationStatus, Message, ScoringStatus, Sender
from conversations.services.ingest import (
    MessageRejected,
    RateLimited,
    clean_text,
    conversation_create,
    integration_token_authenticate,
    integration_token_create,
    message_ingest,
    representative_reply,
)
from insights.selectors import sentiment_settings_get
from tests.conversations.factories import ConversationFactory, QueueFactory, RepresentativeFactory


@pytest.mark.parametrize("text", ["", "   ", "\n\t  \n", "\x00\x01\x02", 17, None])
def test_empty_or_non_text_is_rejected(text):
    with pytest.raises(MessageRejected) as exc:
        clean_text(text)
    assert exc.value.code in ("empty", "invalid")


def test_too_long_is_rejected_with_the_limit_in_the_message(settings):
    settings.MESSAGE_MAX_CHARS = 10
    with pytest.raises(MessageRejected) as exc:
        clean_text("x" * 11)
    assert exc.value.code == "too_long" and "10" in exc.value.message
    assert clean_text("x" * 10) == "x" * 10


def test_control_characters_are_stripped_but_newlines_and_tabs_kept():
    assert clean_text("a\x00b\x07c\r\nd\te\x1b") == "abc\nd\te"
    assert clean_text("broken \ud800 surrogate") == "broken  surrogate"


def test_html_and_emoji_are_stored_verbatim():
    assert clean_text("<script>alert(1)</script> 😡") == "<script>alert(1)</script> 😡"


@pytest.mark.django_db
def test_customer_message_is_stored_with_the_next_sequence_number():
    conversation = ConversationFactory()
    first = message_ingest(conversation=conversation, text="hello")
    reply = representative_reply(conversation=conversation, text="hi, how can I help?")
    second = message_ingest(conversation=conversation.pk, text="my order is late")
    assert [first.seq, reply.seq, second.seq] == [1, 2, 3]
    conversation.refresh_from_db()
    assert conversation.last_seq == 3 and conversation.last_message_at is not None
    assert first.sender == Sender.CUSTOMER and first.scoring_status == ScoringStatus.PENDING
    assert reply.sender == Sender.REPRESENTATIVE and reply.scoring_status == ScoringStatus.NOT_APPLICABLE


@pytest.mark.django_db
def test_monitoring_off_stores_messages_as_skipped():
    org = sentiment_settings_get()
    org.monitoring_enabled = False
    org.save()
    message = message_ingest(conversation=ConversationFactory(), text="hello")
    assert message.scoring_status == ScoringStatus.SKIPPED


@pytest.mark.django_db
def test_opted_out_conversation_stores_messages_as_skipped():
    message = message_ingest(conversation=ConversationFactory(scoring_opt_out=True), text="hello")
    assert message.scoring_status == ScoringStatus.SKIPPED


@pytest.mark.django_db
def test_closed_conversation_refuses_messages():
    conversation = ConversationFactory(status=ConversationStatus.CLOSED)
    with pytest.raises(MessageRejected) as exc:
        message_ingest(conversation=conversation, text="hello?")
    assert exc.value.code == "conversation_closed"


@pytest.mark.django_db
def test_rate_limit_per_customer_refuses_and_stores_nothing(settings):
    settings.CUSTOMER_RATE_LIMIT_PER_MINUTE = 2
    conversation = ConversationFactory()
    message_ingest(conversation=conversation, text="1")
    message_ingest(conversation=conversation, text="2")
    with pytest.raises(RateLimited):
        message_ingest(conversation=conversation, text="3")
    conversation.refresh_from_db()
    assert conversation.last_seq == 2 and Message.objects.count() == 2


@pytest.mark.django_db
def test_rejected_message_does_not_use_a_sequence_number():
    conversation = ConversationFactory()
    with pytest.raises(MessageRejected):
        message_ingest(conversation=conversation, text="  ")
    assert message_ingest(conversation=conversation, text="ok").seq == 1


@pytest.mark.django_db
def test_conversation_create_reuses_a_customer_by_external_id():
    queue = QueueFactory()
    a = conversation_create(
        queue=queue, customer_name="Ana", customer_external_id="crm-1", scoring_opt_out=True
    )
    b = conversation_create(queue=queue, customer_name="Ana S.", customer_external_id="crm-1")
    assert a.customer_id == b.customer_id and a.scoring_opt_out and not b.scoring_opt_out
    assert a.customer_token != b.customer_token and a.status == ConversationStatus.OPEN


@pytest.mark.django_db
def test_reply_author_is_kept():
    rep = RepresentativeFactory()
    conversation = ConversationFactory(representative=rep)
    reply = representative_reply(conversation=conversation, text="Hello", author=rep)
    assert reply.author == rep


@pytest.mark.django_db
def test_integration_tokens_store_only_a_hash():
    token, raw = integration_token_create(name="Web chat")
    assert raw not in token.key_hash and len(token.key_hash) == 64
    assert integration_token_authenticate(raw) == token
    assert integration_token_authenticate(raw + "x") is None
    token.active = False
    token.save()
    assert integration_token_authenticate(raw) is None


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_never_share_a_sequence_number():
    """On PostgreSQL (DATABASE_URL): the row lock under real concurrency. SQLite serialises
    writers by design, and its in-memory shared-cache test database reports "table is
    locked" instead of waiting, so there is nothing meaningful to race there."""
    if connection.vendor == "sqlite":
        pytest.skip("needs PostgreSQL: run with DATABASE_URL=postgres://...")
    conversation = ConversationFactory()
    errors: list[Exception] = []
    per_thread = 8

    def write(n: int) -> None:
        try:
            for i in range(per_thread):
                if i % 2:
                    representative_reply(conversation=conversation.pk, text=f"reply {n}-{i}")
                else:
                    message_ingest(conversation=conversation.pk, text=f"message {n}-{i}")
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    seqs = sorted(Message.objects.filter(conversation=conversation).values_list("seq", flat=True))
    assert seqs == list(range(1, 4 * per_thread + 1))


@pytest.mark.django_db
def test_a_message_resent_with_the_same_client_id_is_stored_once():
    conversation = ConversationFactory()
    first = message_ingest(conversation=conversation, text="where is my refund?", client_id="c-1")
    again = message_ingest(conversation=conversation, text="where is my refund?", client_id="c-1")
    other = message_ingest(conversation=conversation, text="hello?", client_id="c-2")
    assert again.pk == first.pk and again.seq == first.seq == 1
    assert other.seq == 2
    assert Message.objects.filter(conversation=conversation).count() == 2
    # Without a client id every send is a new message, and the same id in another
    # conversation is another message.
    message_ingest(conversation=conversation, text="hello?")
    assert message_ingest(conversation=ConversationFactory(), text="x", client_id="c-1").seq == 1
    assert Message.objects.filter(conversation=conversation).count() == 3


@pytest.mark.django_db
def test_a_client_id_reused_for_another_text_or_sender_is_a_conflict_not_a_silent_replay():
    conversation = ConversationFactory()
    message_ingest(conversation=conversation, text="where is my refund?", client_id="c-1")
    with pytest.raises(MessageRejected) as other_text:
        message_ingest(conversation=conversation, text="hello?", client_id="c-1")
    assert other_text.value.code == "client_id_conflict"
    with pytest.raises(MessageRejected) as other_sender:
        representative_reply(conversation=conversation, text="where is my refund?", client_id="c-1")
    assert other_sender.value.code == "client_id_conflict"
    assert Message.objects.filter(conversation=conversation).count() == 1


@pytest.mark.django_db
def test_a_reply_resent_with_the_same_client_id_is_stored_once():
    rep = RepresentativeFactory()
    conversation = ConversationFactory(representative=rep)
    first = representative_reply(conversation=conversation, text="On its way", author=rep, client_id=9)
    again = representative_reply(conversation=conversation, text="On its way", author=rep, client_id="9")
    assert (first.replayed, again.replayed) == (False, True) and again.pk == first.pk and again.seq == 1


@pytest.mark.django_db
def test_a_conversation_created_twice_with_one_external_id_is_created_once():
    queue = QueueFactory()
    first = conversation_create(queue=queue, customer_name="Ana", external_id="t-1")
    again = conversation_create(queue=QueueFactory(), customer_name="Someone else", external_id="t-1")
    assert (
        (first.replayed, again.replayed) == (False, True)
        and again.pk == first.pk
        and again.queue_id == queue.pk
    )
    assert conversation_create(queue=queue, customer_name="Bo").pk != first.pk  # no id: always new


def _statements(queries) -> list[str]:
    """What an ingest ran, without the savepoints of the test's own transaction."""
    return [q["sql"] for q in queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))]


@pytest.mark.django_db
def test_a_customer_message_is_stored_in_two_statements(settings):
    """The web process runs every ingest on its one database thread: the row lock, the seq,
    the replay lookup and the rate-limit count are one UPDATE … RETURNING, then the INSERT;
    the settings come from the process's copy."""
    settings.CUSTOMER_RATE_LIMIT_PER_MINUTE = 30
    conversation = ConversationFactory()
    message_ingest(conversation=conversation.pk, text="first", client_id="s-1")  # reads the settings
    with CaptureQueriesContext(connection) as queries:
        message = message_ingest(conversation=conversation.pk, text="second", client_id="s-2")
        plain = message_ingest(conversation=conversation.pk, text="third")
    assert (message.seq, plain.seq) == (2, 3)
    statements = _statements(queries.captured_queries)
    assert len(statements) == 4, statements
    assert [sql.split()[0] for sql in statements] == ["UPDATE", "INSERT", "UPDATE", "INSERT"]


@pytest.mark.django_db
def test_a_replay_found_by_the_one_statement_takes_no_sequence_number():
    conversation = ConversationFactory()
    first = message_ingest(conversation=conversation.pk, text="where is my refund?", client_id="r-1")
    again = message_ingest(conversation=conversation.pk, text="where is my refund?", client_id="r-1")
    assert again.replayed and again.pk == first.pk
    conversation.refresh_from_db()
    assert conversation.last_seq == 1
    assert message_ingest(conversation=conversation.pk, text="next").seq == 2


@pytest.mark.django_db(transaction=True)
def test_copies_of_one_message_racing_in_are_stored_once():
    """On PostgreSQL: copies that wait for the row while the first commits find it through
    the unique client_id, not a second row."""
    if connection.vendor == "sqlite":
        pytest.skip("needs PostgreSQL: run with DATABASE_URL=postgres://...")
    conversation = ConversationFactory()
    results: list = []
    errors: list[Exception] = []
    start = threading.Barrier(4)

    def send() -> None:
        try:
            start.wait()
            results.append(message_ingest(conversation=conversation.pk, text="hello?", client_id="race-1"))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert {m.pk for m in results} == {Message.objects.get(conversation=conversation).pk}
    assert sum(not m.replayed for m in results) == 1
    conversation.refresh_from_db()
    assert conversation.last_seq == 1


@pytest.mark.django_db
def test_monitoring_turned_off_in_another_process_is_seen_once_the_copy_is_old(monkeypatch):
    from insights import selectors
    from insights.models import SentimentSettings

    conversation = ConversationFactory()
    assert message_ingest(conversation=conversation.pk, text="one").scoring_status == ScoringStatus.PENDING
    # Another process saved it: no signal here, only settings.changed on the staff sockets.
    SentimentSettings.objects.update(monitoring_enabled=False)
    assert message_ingest(conversation=conversation.pk, text="two").scoring_status == ScoringStatus.PENDING
    monkeypatch.setattr(selectors, "SETTINGS_CACHE_SECONDS", 0)
    assert message_ingest(conversation=conversation.pk, text="three").scoring_status == ScoringStatus.SKIPPED


@pytest.mark.django_db
def test_settings_changed_heard_by_a_socket_clears_the_process_copy():
    from insights import for_conversations
    from insights.models import SentimentSettings

    conversation = ConversationFactory()
    message_ingest(conversation=conversation.pk, text="one")
    SentimentSettings.objects.update(monitoring_enabled=False)
    for_conversations.settings_changed_heard()
    assert message_ingest(conversation=conversation.pk, text="two").scoring_status == ScoringStatus.SKIPPED
