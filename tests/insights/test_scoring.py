"""The scoring pipeline: micro-batches off the event loop, crash recovery, idempotent storing,
privacy masking, gating by the monitoring toggle and the opt-out. Real scorer, real sockets."""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from conversations.models import Message, ScoringStatus, Sender
from conversations.services.ingest import message_ingest, representative_reply
from insights.models import SentimentAlert
from insights.pipeline.claim import pending_message_ids, scoring_claim
from insights.pipeline.runtime import scoring_runtime_current
from insights.pipeline.store import scoring_results_store
from insights.selectors import sentiment_settings_get
from sentiment_admin import realtime
from tests.conversations.factories import ConversationFactory, MessageFactory, RepresentativeFactory
from tests.conversations.wsutil import (  # noqa: F401  (scoring_runtime is a fixture)
    ANGRY_EN,
    HAPPY_EN,
    close_all,
    drain,
    next_frame,
    scoring_runtime,
    send,
    staff_socket,
    wait_for,
)
from tests.insights.standin_scorer import result_for


@pytest.mark.django_db
def test_claim_masks_and_only_takes_pending_customer_messages():
    conversation = ConversationFactory()
    customer = message_ingest(conversation=conversation, text="I am angry, mail me at a@b.com")
    reply = representative_reply(conversation=conversation, text="sorry!")
    jobs, options = scoring_claim([customer.pk, reply.pk])
    assert [j.message_id for j in jobs] == [customer.pk]
    assert jobs[0].text == "I am angry, mail me at [email]"
    assert options.multilingual is True and options.base_language == "en"
    assert Message.objects.get(pk=customer.pk).text.endswith("a@b.com")  # stored verbatim


@pytest.mark.django_db
def test_a_result_stored_twice_is_stored_and_alerted_once():
    conversation = ConversationFactory(representative=RepresentativeFactory())
    message = message_ingest(conversation=conversation, text="level:-3")
    result = result_for("level:-3")
    assert scoring_results_store([(message.pk, result)]) == 1
    assert scoring_results_store([(message.pk, result)]) == 0  # a re-queued duplicate
    assert SentimentAlert.objects.filter(conversation=conversation).count() == 2  # one per audience
    assert pending_message_ids() == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    "probs", [(0.9, 0.1, 0.0), (0.75, 0.25, 0.0), (0.5, 0.3, 0.2), (0.1, 0.8, 0.1), (0.0, 0.15, 0.85)]
)
def test_the_stored_level_is_the_one_the_engine_computed(probs):
    """The level is computed once, in the engine's result; the store keeps it as it is."""
    import numpy as np

    from insights.levels import level_for_score
    from insights.scoring.engine import make_result

    result = make_result("en", np.array(probs), "v")
    message = message_ingest(conversation=ConversationFactory(), text="any")
    assert scoring_results_store([(message.pk, result)]) == 1
    stored = Message.objects.get(pk=message.pk)
    assert stored.sentiment_level == result.level == level_for_score(result.score)
    assert stored.sentiment_score == result.score


@pytest.mark.django_db
def test_a_message_in_an_unsupported_language_is_announced_not_scored_with_the_reason():
    from insights import frames

    message = message_ingest(conversation=ConversationFactory(), text="zzz")
    assert scoring_results_store([(message.pk, result_for("zzz"))]) == 1
    payload = frames.scored_payload_as_of(Message.objects.select_related("conversation").get(pk=message.pk))
    assert payload["supported"] is False and payload["scoring_status"] == "not_scored"
    assert payload["reason"] == "The language is not supported: xx."
    assert payload["level"] == "not_scored" and payload["level_value"] is None


def _store_queries(conversations: int, messages_each: int) -> int:
    """Queries run by storing one batch of neutral scores (no alert) of that shape."""
    results = []
    for _ in range(conversations):
        conversation = ConversationFactory(representative=RepresentativeFactory())
        for _ in range(messages_each):
            message = message_ingest(conversation=conversation, text="level:0")
            results.append((message.pk, result_for("level:0")))
    with CaptureQueriesContext(connection) as queries:
        assert scoring_results_store(results) == conversations * messages_each
    return len(queries)


@pytest.mark.django_db
def test_storing_a_batch_takes_as_many_statements_for_twenty_messages_as_for_two():
    """A scoring worker at saturation is bound by storing: its messages are one UPDATE, its
    conversations another, whatever the batch's size."""
    assert _store_queries(10, 2) == _store_queries(2, 1)


@pytest.mark.django_db
def test_every_message_and_conversation_of_a_batch_gets_its_own_values():
    from conversations.models import Conversation

    texts = ("level:-3", "level:2", "zzz", "level:1")
    conversations = [ConversationFactory(representative=RepresentativeFactory()) for _ in range(2)]
    messages = [message_ingest(conversation=conversations[i % 2], text=text) for i, text in enumerate(texts)]
    assert scoring_results_store([(m.pk, result_for(m.text)) for m in messages]) == 4
    stored = {m.pk: m for m in Message.objects.filter(pk__in=[m.pk for m in messages])}
    for message in messages:
        expected, row = result_for(message.text), stored[message.pk]
        assert row.announce_pending is True and row.scored_at is not None
        assert (row.language, row.model_version) == (expected["language"], expected["model_version"])
        if expected["supported"]:
            assert row.scoring_status == ScoringStatus.SCORED
            assert (row.sentiment_score, row.sentiment_level) == (expected["score"], expected["level"])
            assert (row.probabilities, row.confidence) == (expected["probabilities"], expected["confidence"])
        else:
            assert row.scoring_status == ScoringStatus.NOT_SCORED and row.sentiment_score is None
    first, second = (Conversation.objects.get(pk=c.pk) for c in conversations)
    assert (first.sentiment_level, second.sentiment_level) != (None, None)
    assert first.sentiment_level != second.sentiment_level


@pytest.mark.django_db
def test_a_batch_raises_the_same_alerts_as_storing_its_messages_one_by_one():
    """A crossing, a sharp drop, a recovery and a second crossing within one batch, results
    handed over out of order: the same alerts and the same conversation sentiment as when each
    message is stored on its own."""
    org = sentiment_settings_get()
    org.representative_threshold, org.supervisor_threshold, org.sharp_drop_alerts = -1, -2, True
    org.save()
    levels = [1, 1, -3, -3, -3, 3, 3, 3, 3, 1, -3, -3, -3, 0]

    def outcome(conversation):
        conversation.refresh_from_db()
        kinds = list(
            SentimentAlert.objects.filter(conversation=conversation)
            .order_by("id")
            .values_list("audience", "kind", "level", "message__seq")
        )
        return kinds, conversation.sentiment_score, conversation.sentiment_level, conversation.sentiment_trend

    one_by_one = ConversationFactory(representative=RepresentativeFactory())
    for level in levels:
        message = message_ingest(conversation=one_by_one, text=f"level:{level}")
        scoring_results_store([(message.pk, result_for(message.text))])
    batched = ConversationFactory(representative=RepresentativeFactory(), queue=one_by_one.queue)
    messages = [message_ingest(conversation=batched, text=f"level:{level}") for level in levels]
    assert scoring_results_store([(m.pk, result_for(m.text)) for m in reversed(messages)]) == len(levels)

    expected, got = outcome(one_by_one), outcome(batched)
    assert {kind for _, kind, _, _ in expected[0]} >= {"threshold", "recovered", "sharp_drop"}
    assert got == expected


@pytest.mark.django_db
def test_a_message_scored_late_is_stored_but_does_not_move_the_conversation_back():
    conversation = ConversationFactory(representative=RepresentativeFactory())
    late = message_ingest(conversation=conversation, text="level:-3")
    newer = message_ingest(conversation=conversation, text="level:2")
    scoring_results_store([(newer.pk, result_for(newer.text))])
    scoring_results_store([(late.pk, result_for(late.text))])  # re-queued, scored after
    conversation.refresh_from_db()
    assert Message.objects.get(pk=late.pk).scoring_status == ScoringStatus.SCORED
    assert conversation.sentiment_level == 2
    assert not SentimentAlert.objects.filter(conversation=conversation).exists()


@pytest.mark.django_db
def test_one_unstorable_result_does_not_hold_back_the_other_conversations_scores():
    good = message_ingest(
        conversation=ConversationFactory(representative=RepresentativeFactory()), text="level:-2"
    )
    bad = message_ingest(
        conversation=ConversationFactory(representative=RepresentativeFactory()), text="level:1"
    )
    garbage = {**result_for("level:1"), "score": "not a number"}  # a broken scorer's answer
    with pytest.raises(ValueError):
        scoring_results_store([(good.pk, result_for(good.text)), (bad.pk, garbage)])
    assert Message.objects.get(pk=good.pk).scoring_status == ScoringStatus.SCORED
    assert Message.objects.get(pk=bad.pk).scoring_status == ScoringStatus.PENDING  # retried, then swept
    assert SentimentAlert.objects.filter(conversation=good.conversation).exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("scoring_runtime")
async def test_messages_left_pending_by_a_crash_are_scored_at_start():
    rep = await database_sync_to_async(RepresentativeFactory)()
    conversation = await database_sync_to_async(ConversationFactory)(representative=rep, last_seq=2)
    # Stored before the crash, never scored.
    for seq, text in ((1, ANGRY_EN), (2, HAPPY_EN)):
        await database_sync_to_async(MessageFactory)(
            conversation=conversation,
            seq=seq,
            text=text,
            sender=Sender.CUSTOMER,
            scoring_status=ScoringStatus.PENDING,
        )
    rep_ws = await staff_socket(rep)  # the first socket starts this process's scoring runtime
    try:
        first = await next_frame(rep_ws, "conversation.scored", seq=1)
        second = await next_frame(rep_ws, "conversation.scored", seq=2)
        assert first["level_value"] < 0 < second["level_value"]
        assert await database_sync_to_async(pending_message_ids)() == []
    finally:
        await close_all(rep_ws)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("scoring_runtime")
async def test_a_burst_is_scored_in_micro_batches_not_one_pass_per_message(settings):
    settings.SENTIMENT_BATCH_WINDOW_MS = 150
    settings.CUSTOMER_RATE_LIMIT_PER_MINUTE = 100
    rep = await database_sync_to_async(RepresentativeFactory)()
    conversation = await database_sync_to_async(ConversationFactory)(representative=rep)
    rep_ws = await staff_socket(rep)
    try:

        def burst():  # twelve messages arriving together (one commit, twelve enqueues)
            with transaction.atomic():
                for i in range(12):
                    message_ingest(conversation=conversation, text=f"{ANGRY_EN} ({i})")

        before = scoring_runtime_current().batches if scoring_runtime_current() else 0
        await database_sync_to_async(burst)()
        for seq in range(1, 13):
            await next_frame(rep_ws, "conversation.scored", seq=seq)
        # Frames leave on the commit, a moment before the batcher counts its pass.
        for _ in range(100):
            if scoring_runtime_current().batches > before:
                break
            await asyncio.sleep(0.02)
        passes = scoring_runtime_current().batches - before
        assert 1 <= passes <= 2, f"{passes} forward passes for 12 messages"
        frames = await drain(rep_ws, quiet=0.3)
        assert len([f for f in frames if f["type"] == "alert.raised"]) == 1
    finally:
        await close_all(rep_ws)


@pytest.mark.django_db(transaction=True)
async def test_worker_mode_scores_through_the_scoring_channel(settings):
    """The Redis topology's code path, on whatever layer this run uses: ingest sends
    ``score.messages`` to the ``sentiment-scoring`` channel and a Channels worker scores."""
    import asyncio

    from channels.layers import get_channel_layer
    from channels.routing import ChannelNameRouter
    from channels.worker import Worker

    from insights.pipeline.runtime import scoring_runtime_stop
    from sentiment_admin.routing import channel_routes
    from tests.conversations.wsutil import _require_scorer, chat_socket

    settings.SENTIMENT_SCORING_MODE = "worker"
    await _require_scorer()
    rep = await database_sync_to_async(RepresentativeFactory)()
    conversation = await database_sync_to_async(ConversationFactory)(representative=rep)
    worker = Worker(
        ChannelNameRouter(channel_routes),
        [realtime.SCORING_CHANNEL],
        get_channel_layer(realtime.WORKERS_LAYER),
    )
    task = asyncio.get_running_loop().create_task(worker.handle())
    rep_ws = await staff_socket(rep)
    customer = await chat_socket(conversation)
    try:
        await customer.send_json_to({"type": "message.send", "text": ANGRY_EN})
        scored = await next_frame(rep_ws, "conversation.scored", seq=1)
        assert scored["level_value"] < 0
    finally:
        await close_all(rep_ws, customer)
        task.cancel()
        await scoring_runtime_stop()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("scoring_runtime")
async def test_messages_stored_by_another_process_are_swept_up(monkeypatch):
    from insights.pipeline import batcher

    monkeypatch.setattr(batcher, "SWEEP_INTERVAL_SECONDS", 0.2)
    monkeypatch.setattr(batcher, "SWEEP_MIN_AGE_SECONDS", 0)
    rep = await database_sync_to_async(RepresentativeFactory)()
    conversation = await database_sync_to_async(ConversationFactory)(representative=rep, last_seq=1)
    rep_ws = await staff_socket(rep)  # the runtime is running
    try:
        await drain(rep_ws, quiet=0.3)
        # Stored by a process with no scoring runtime (nobody queued it).
        await database_sync_to_async(MessageFactory)(
            conversation=conversation, seq=1, text=ANGRY_EN, scoring_status=ScoringStatus.PENDING
        )
        scored = await next_frame(rep_ws, "conversation.scored", seq=1)
        assert scored["level_value"] < 0
    finally:
        await close_all(rep_ws)


class _LayerDown:
    """The channel layer while Redis restarts: every group send fails until ``up()``."""

    def __init__(self, layer) -> None:
        self.layer, self.real_group_send, self.failed = layer, layer.group_send, 0

    async def group_send(self, group, message):
        self.failed += 1
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379")

    def __enter__(self):
        self.layer.group_send = self.group_send
        return self

    def up(self) -> None:
        self.layer.group_send = self.real_group_send

    def __exit__(self, *exc) -> None:
        self.up()


@pytest.mark.django_db(transaction=True)
def test_scores_announced_to_the_layer_leave_the_outbox():
    messages = [
        message_ingest(conversation=ConversationFactory(representative=RepresentativeFactory()), text=text)
        for text in ("level:-3", "level:1", "level:2")
    ]
    results = [(m.pk, result_for(m.text)) for m in messages]
    assert scoring_results_store(results) == 3  # three conversations, one batch
    assert not Message.objects.filter(pk__in=[m.pk for m in messages], announce_pending=True).exists()


@pytest.mark.django_db(transaction=True)
async def test_scores_sent_from_the_event_loop_leave_the_outbox_once_sent_and_only_then():
    """A scoring worker stores on its database thread and its announcements go out on the
    loop afterwards: what reached the layer leaves the outbox, what did not stays."""
    from channels.layers import get_channel_layer

    def ingest(texts):
        return [
            message_ingest(
                conversation=ConversationFactory(representative=RepresentativeFactory()), text=text
            )
            for text in texts
        ]

    def still_pending(messages):
        return Message.objects.filter(pk__in=[m.pk for m in messages], announce_pending=True).count()

    async def settled(messages, expected):
        for _ in range(100):
            if await database_sync_to_async(still_pending)(messages) == expected:
                return True
            await asyncio.sleep(0.02)
        return False

    sent = await database_sync_to_async(ingest)(["level:-3", "level:1"])
    assert (
        await database_sync_to_async(scoring_results_store)([(m.pk, result_for(m.text)) for m in sent]) == 2
    )
    assert await settled(sent, 0)

    unsent = await database_sync_to_async(ingest)(["level:2"])
    with _LayerDown(get_channel_layer(realtime.SCREENS_LAYER)) as layer:
        assert (
            await database_sync_to_async(scoring_results_store)([(unsent[0].pk, result_for("level:2"))]) == 1
        )
        await asyncio.sleep(0.2)
        assert layer.failed
        assert await database_sync_to_async(still_pending)(unsent) == 1


@pytest.mark.django_db(transaction=True)
async def test_a_batch_of_announced_scores_leaves_the_outbox_in_one_update(monkeypatch):
    """Each score's send finishes on its own; clearing each at once cost an UPDATE and a
    commit per score."""
    from insights.pipeline import outbox

    clears: list[list[int]] = []
    clear = outbox.outbox_clear
    monkeypatch.setattr(outbox, "outbox_clear", lambda ids: (clears.append(sorted(ids)), clear(ids)))

    def ingest_and_store():
        messages = [
            message_ingest(
                conversation=ConversationFactory(representative=RepresentativeFactory()),
                text=f"level:{level}",
            )
            for level in (-3, -2, -1, 0, 1, 2, 3, -3, 0, 3)
        ]
        scoring_results_store([(m.pk, result_for(m.text)) for m in messages])
        return sorted(m.pk for m in messages)

    ids = await database_sync_to_async(ingest_and_store)()
    for _ in range(200):
        if not await Message.objects.filter(pk__in=ids, announce_pending=True).aexists():
            break
        await asyncio.sleep(0.02)
    assert clears == [ids]


@pytest.mark.django_db(transaction=True)
async def test_a_score_whose_announcement_failed_reaches_a_screen_that_already_caught_up():
    """Redis restarting: the score is stored but its send fails; the representative's screen
    has already caught up, so only the outbox can bring the score to it."""
    from channels.layers import get_channel_layer

    from insights.pipeline.outbox import scored_announcements_resend
    from insights.pipeline.runtime import scoring_runtime_stop

    rep = await database_sync_to_async(RepresentativeFactory)()
    conversation = await database_sync_to_async(ConversationFactory)(representative=rep, last_seq=1)
    rep_ws = await staff_socket(rep)
    await scoring_runtime_stop()  # this test plays the scorer itself
    try:
        message = await database_sync_to_async(MessageFactory)(
            conversation=conversation, seq=1, text="level:-3", scoring_status=ScoringStatus.PENDING
        )
        await drain(rep_ws, quiet=0.3)
        with _LayerDown(get_channel_layer(realtime.SCREENS_LAYER)) as layer:
            await database_sync_to_async(scoring_results_store)([(message.pk, result_for("level:-3"))])
            assert layer.failed > 0
            assert (await Message.objects.aget(pk=message.pk)).announce_pending is True
            assert await database_sync_to_async(scored_announcements_resend)(older_than_seconds=0) == 0
        assert await drain(rep_ws, quiet=0.2) == [], "nothing reached the screen while the layer was down"

        assert await database_sync_to_async(scored_announcements_resend)(older_than_seconds=0) == 1
        scored = await next_frame(rep_ws, "conversation.scored", seq=message.seq)
        assert scored["level_value"] < 0 and scored["conversation_level_value"] == scored["level_value"]
        assert (await Message.objects.aget(pk=message.pk)).announce_pending is False
        assert await database_sync_to_async(scored_announcements_resend)(older_than_seconds=0) == 0
    finally:
        await close_all(rep_ws)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("scoring_runtime")
async def test_the_sweeper_announces_scores_that_missed_the_layer(monkeypatch):
    from channels.layers import get_channel_layer

    from insights.pipeline import batcher, outbox

    monkeypatch.setattr(batcher, "ANNOUNCE_RETRY_INTERVAL_SECONDS", 0.2)
    monkeypatch.setattr(outbox, "ANNOUNCE_RETRY_AGE_SECONDS", 0)
    rep = await database_sync_to_async(RepresentativeFactory)()
    conversation = await database_sync_to_async(ConversationFactory)(representative=rep, last_seq=1)
    rep_ws = await staff_socket(rep)  # the runtime (and its sweeper) is running
    try:
        await drain(rep_ws, quiet=0.3)
        message = await database_sync_to_async(MessageFactory)(
            conversation=conversation, seq=1, text="level:2", scoring_status=ScoringStatus.PENDING
        )
        with _LayerDown(get_channel_layer(realtime.SCREENS_LAYER)):
            stored = await database_sync_to_async(scoring_results_store)(
                [(message.pk, result_for("level:2"))]
            )
        assert stored == 1
        scored = await next_frame(rep_ws, "conversation.scored", seq=message.seq, timeout=10)
        assert scored["level_value"] > 0
    finally:
        await close_all(rep_ws)


@pytest.mark.django_db(transaction=True)
async def test_a_poison_message_is_marked_failed_and_never_holds_back_its_batch(settings, monkeypatch):
    from insights.pipeline import batcher as batcher_module
    from insights.pipeline.runtime import scoring_runtime_stop
    from tests.conversations.factories import QueueFactory, SupervisorFactory
    from tests.insights.poison_scorer import PoisonScorer

    settings.SENTIMENT_SCORER = "tests.insights.poison_scorer.poison_scorer"
    monkeypatch.setattr(batcher_module, "RETRY_DELAYS", (0.01, 0.01))
    PoisonScorer.calls = []

    def world():
        queue = QueueFactory()
        rep = RepresentativeFactory(queues=[queue])
        supervisor = SupervisorFactory(queues=[queue])
        conversation = ConversationFactory(queue=queue, representative=rep, last_seq=3)
        return rep, supervisor, conversation

    rep, supervisor, conversation = await database_sync_to_async(world)()
    rep_ws, supervisor_ws = await staff_socket(rep), await staff_socket(supervisor)
    await scoring_runtime_stop()  # this test drives the batcher itself

    def pending():
        texts = ["level:-2", "POISON level:1", "level:2"]
        return [
            MessageFactory(conversation=conversation, seq=i, text=t, scoring_status=ScoringStatus.PENDING).pk
            for i, t in enumerate(texts, start=1)
        ]

    try:
        await drain(rep_ws, quiet=0.2)
        await drain(supervisor_ws, quiet=0.2)
        ids = await database_sync_to_async(pending)()
        runner = batcher_module.ScoringBatcher(asyncio.get_running_loop())
        await runner._score_with_retries(ids)

        def rows():
            return list(
                Message.objects.filter(pk__in=ids)
                .order_by("seq")
                .values_list("scoring_status", "sentiment_level", "scoring_error")
            )

        good_first, poison, good_last = await database_sync_to_async(rows)()
        assert good_first == (ScoringStatus.SCORED, -2, "")
        assert good_last == (ScoringStatus.SCORED, 2, "")
        reason = "The scorer failed 4 times: ValueError: tensor shape mismatch"
        assert poison == (ScoringStatus.FAILED, None, reason)
        # One batch attempt, then each alone once (the good ones are stored before any retry),
        # then the poison one alone, retried after each of RETRY_DELAYS.
        assert PoisonScorer.calls == [
            ["level:-2", "POISON level:1", "level:2"],
            ["level:-2"],
            ["POISON level:1"],
            ["level:2"],
            ["POISON level:1"],
            ["POISON level:1"],
            ["POISON level:1"],
        ]
        # It left the pending set (no sweep queues it again) and the outbox (it was announced).
        assert await database_sync_to_async(pending_message_ids)() == []
        await wait_for(lambda: not Message.objects.filter(pk__in=ids, announce_pending=True).exists())

        # The representative's panel and the supervisor's Ongoing report are told live: the
        # good messages' scores, and "not scored" with the reason for the poison one.
        for ws in (rep_ws, supervisor_ws):
            assert (await next_frame(ws, "conversation.scored", seq=1))["level_value"] == -2
            assert (await next_frame(ws, "conversation.scored", seq=3))["level_value"] == 2
            failed = await next_frame(ws, "conversation.scored", seq=2)
            assert failed["supported"] is False and failed["scoring_status"] == "failed"
            assert failed["reason"] == reason
            assert failed["level"] == "not_scored" and failed["level_value"] is None
            assert failed["conversation_level_value"] == -2  # the conversation as of seq 2
        # A screen that reconnects gets the same frame on catch-up.
        again = await staff_socket(rep)
        await send(again, type="catch_up", conversation=conversation.pk, after_seq=1)
        caught = await next_frame(again, "conversation.scored", seq=2)
        await close_all(again)
        assert caught == failed
    finally:
        await close_all(rep_ws, supervisor_ws)
        await scoring_runtime_stop()
