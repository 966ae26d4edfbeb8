"""The live pipeline over real websockets (WebsocketCommunicator on the real router, real
sessions, the real scorer): customer message → stored → scored in a thread → pushed to the
representative, the eligible supervisors and monitors. Runs on the in-memory layer and, with
REDIS_URL, on Redis with a scoring worker."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from conversations.consumers.base import CLOSE_CATCH_UP
from conversations.models import Message, Presence, ScoringStatus, Sender
from insights.levels import level_slug
from insights.models import AlertAudience, SentimentAlert
from insights.selectors import sentiment_settings_get
from insights.services.settings import sentiment_settings_update
from sentiment_admin import realtime
from tests.conversations.factories import (
    AdminFactory,
    ConversationFactory,
    MessageFactory,
    QueueFactory,
    RepresentativeFactory,
    SupervisorFactory,
)
from tests.conversations.wsutil import (
    ANGRY_EN,
    ANGRY_ES,
    DEFAULT_TIMEOUT,
    HAPPY_EN,
    chat_socket,
    close_all,
    connect,
    drain,
    monitor_socket,
    next_frame,
    scoring_runtime,  # noqa: F401  (fixture)
    send,
    staff_socket,
    wait_for,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("scoring_runtime")]

SENTIMENT_KEYS = {"score", "level", "level_value", "label", "confidence", "trend", "conversation_score"}


@database_sync_to_async
def make_world():
    queue = QueueFactory()
    other_queue = QueueFactory()
    rep = RepresentativeFactory(queues=[queue])
    other_rep = RepresentativeFactory(queues=[queue])
    sup_available = SupervisorFactory(queues=[queue], presence=Presence.AVAILABLE)
    sup_away = SupervisorFactory(queues=[queue], presence=Presence.AWAY)
    sup_elsewhere = SupervisorFactory(queues=[other_queue], presence=Presence.AVAILABLE)
    conversation = ConversationFactory(queue=queue, representative=rep)
    # Alert at "Slightly negative" for both audiences, so the tests do not hang on how far
    # below zero the model puts a clearly angry message (the table test covers each level).
    org = sentiment_settings_get()
    org.representative_threshold = -1
    org.supervisor_threshold = -1
    org.save()
    return {
        "queue": queue,
        "rep": rep,
        "other_rep": other_rep,
        "sup": sup_available,
        "sup_away": sup_away,
        "sup_elsewhere": sup_elsewhere,
        "conversation": conversation,
    }


async def test_customer_message_reaches_representative_and_eligible_supervisors_with_its_score():
    w = await make_world()
    conv = w["conversation"]
    rep_ws = await staff_socket(w["rep"])
    sup_ws = await staff_socket(w["sup"])
    away_ws = await staff_socket(w["sup_away"])
    elsewhere_ws = await staff_socket(w["sup_elsewhere"])
    other_rep_ws = await staff_socket(w["other_rep"])
    monitor_ws = await monitor_socket(w["sup"], conv.pk)
    customer = await chat_socket(conv)
    try:
        await send(customer, type="message.send", text=ANGRY_EN, client_id="c-1")
        ack = await next_frame(customer, "message.ack")
        assert ack["seq"] == 1 and ack["client_id"] == "c-1"

        created = await next_frame(rep_ws, "message.created", conversation=conv.pk)
        assert created["seq"] == 1 and created["sender"] == "customer" and created["text"] == ANGRY_EN
        assert created["queue"] == w["queue"].pk

        scored = await next_frame(rep_ws, "conversation.scored", conversation=conv.pk, seq=1)
        assert scored["supported"] is True and scored["language"] == "en"
        assert scored["level_value"] < 0 and scored["level"] == level_slug(scored["level_value"])
        assert scored["score"] < -0.1 and 0 <= scored["confidence"] <= 1
        assert scored["conversation_level_value"] == scored["level_value"]
        assert scored["label"] and scored["trend"] == "steady"

        alert = await next_frame(rep_ws, "alert.raised", conversation=conv.pk)
        assert alert["audience"] == "representative" and alert["kind"] == "threshold" and alert["seq"] == 1

        # The supervisor watching the queue: the message, its score, and a notification.
        await next_frame(sup_ws, "message.created", conversation=conv.pk, seq=1)
        sup_scored = await next_frame(sup_ws, "conversation.scored", conversation=conv.pk, seq=1)
        assert sup_scored["score"] == scored["score"]
        note = await next_frame(sup_ws, "notification.created", conversation=conv.pk)
        assert note["queue"] == w["queue"].pk and note["kind"] == "threshold"
        assert note["customer"] and note["representative"] == w["rep"].display_name

        # Monitoring the conversation: the same live transcript with sentiment.
        await next_frame(monitor_ws, "message.created", seq=1)
        await next_frame(monitor_ws, "conversation.scored", seq=1)

        # The Away supervisor still sees the report move, but gets no notification.
        await next_frame(away_ws, "conversation.scored", conversation=conv.pk, seq=1)
        assert not [f for f in await drain(away_ws) if f["type"] == "notification.created"]
        # Other queues' supervisors and other representatives hear nothing of it.
        for ws in (elsewhere_ws, other_rep_ws):
            assert not [f for f in await drain(ws, quiet=0.2) if f.get("conversation") == conv.pk]
        # The customer never sees sentiment.
        for frame in await drain(customer, quiet=0.2):
            assert not SENTIMENT_KEYS & set(frame)
    finally:
        await close_all(rep_ws, sup_ws, away_ws, elsewhere_ws, other_rep_ws, monitor_ws, customer)


async def test_spanish_message_is_scored_negative_in_spanish():
    w = await make_world()
    rep_ws = await staff_socket(w["rep"])
    customer = await chat_socket(w["conversation"])
    try:
        await send(customer, type="message.send", text=ANGRY_ES, client_id=7)
        assert (await next_frame(customer, "message.ack"))["client_id"] == 7
        scored = await next_frame(rep_ws, "conversation.scored", seq=1)
        assert scored["language"] == "es" and scored["supported"] is True
        assert scored["level_value"] < 0
    finally:
        await close_all(rep_ws, customer)


async def test_no_alert_storm_one_alert_for_a_customer_who_stays_angry():
    w = await make_world()
    rep_ws = await staff_socket(w["rep"])
    customer = await chat_socket(w["conversation"])
    try:
        for i in range(3):
            await send(customer, type="message.send", text=ANGRY_EN, client_id=i)
            await next_frame(customer, "message.ack", client_id=i)
            await next_frame(rep_ws, "conversation.scored", seq=i + 1)
        frames = await drain(rep_ws)
        raised = [f for f in [*frames] if f["type"] == "alert.raised"]
        assert len(raised) == 1
        await send(customer, type="message.send", text=HAPPY_EN, client_id="h1")
        await send(customer, type="message.send", text=HAPPY_EN, client_id="h2")
        await send(customer, type="message.send", text=HAPPY_EN, client_id="h3")
        recovered = await next_frame(rep_ws, "alert.recovered")
        assert recovered["audience"] == "representative"
        count = await database_sync_to_async(
            SentimentAlert.objects.filter(audience=AlertAudience.REPRESENTATIVE, kind="threshold").count
        )()
        assert count == 1
    finally:
        await close_all(rep_ws, customer)


async def test_only_customer_messages_are_scored():
    w = await make_world()
    conv = w["conversation"]
    rep_ws = await staff_socket(w["rep"])
    customer = await chat_socket(conv)
    try:
        await send(rep_ws, type="message.send", conversation=conv.pk, text=ANGRY_EN, client_id="r1")
        ack = await next_frame(rep_ws, "message.ack")
        assert ack["seq"] == 1 and ack["client_id"] == "r1"
        reply = await next_frame(customer, "message.created", seq=1)
        assert reply["sender"] == "representative" and reply["text"] == ANGRY_EN
        assert not SENTIMENT_KEYS & set(reply)
        await send(customer, type="message.send", text=HAPPY_EN)
        await next_frame(rep_ws, "conversation.scored", seq=2)
        frames = await drain(rep_ws)
        assert not [f for f in frames if f["type"] == "conversation.scored" and f["seq"] == 1]
        statuses = await database_sync_to_async(
            lambda: dict(Message.objects.filter(conversation=conv).values_list("sender", "scoring_status"))
        )()
        assert statuses == {
            Sender.REPRESENTATIVE: ScoringStatus.NOT_APPLICABLE,
            Sender.CUSTOMER: ScoringStatus.SCORED,
        }
    finally:
        await close_all(rep_ws, customer)


async def test_monitoring_off_stops_scoring_and_on_resumes_with_the_next_message():
    w = await make_world()
    conv = w["conversation"]
    admin = await database_sync_to_async(AdminFactory)()
    rep_ws = await staff_socket(w["rep"])
    customer = await chat_socket(conv)
    try:
        await database_sync_to_async(sentiment_settings_update)(actor=admin.user, monitoring_enabled=False)
        await next_frame(rep_ws, "settings.changed")
        await send(customer, type="message.send", text=ANGRY_EN)
        await next_frame(rep_ws, "message.created", seq=1)
        frames = await drain(rep_ws, quiet=1.0)
        assert not [f for f in frames if f["type"] in ("conversation.scored", "alert.raised")]
        message = await database_sync_to_async(Message.objects.get)(conversation=conv, seq=1)
        assert message.scoring_status == ScoringStatus.SKIPPED and message.sentiment_score is None

        await database_sync_to_async(sentiment_settings_update)(actor=admin.user, monitoring_enabled=True)
        await send(customer, type="message.send", text=ANGRY_EN)
        scored = await next_frame(rep_ws, "conversation.scored", seq=2)
        assert scored["supported"] is True
        message = await database_sync_to_async(Message.objects.get)(conversation=conv, seq=1)
        assert message.scoring_status == ScoringStatus.SKIPPED  # not scored retroactively
    finally:
        await close_all(rep_ws, customer)


async def test_opted_out_conversation_is_never_scored():
    w = await make_world()
    conv = w["conversation"]
    conv.scoring_opt_out = True
    await database_sync_to_async(conv.save)()
    rep_ws = await staff_socket(w["rep"])
    customer = await chat_socket(conv)
    try:
        await send(customer, type="message.send", text=ANGRY_EN)
        await next_frame(rep_ws, "message.created", seq=1)
        assert not [f for f in await drain(rep_ws, quiet=0.8) if f["type"] == "conversation.scored"]
        message = await database_sync_to_async(Message.objects.get)(conversation=conv, seq=1)
        assert message.scoring_status == ScoringStatus.SKIPPED
    finally:
        await close_all(rep_ws, customer)


async def test_reconnect_catch_up_loses_nothing_and_duplicates_nothing():
    w = await make_world()
    conv = w["conversation"]
    customer = await chat_socket(conv)
    rep_ws = await staff_socket(w["rep"])
    try:
        await send(customer, type="message.send", text=ANGRY_EN)
        await next_frame(rep_ws, "conversation.scored", seq=1)
        await rep_ws.disconnect()

        # While the representative is away: two customer messages and a reply.
        await send(customer, type="message.send", text=HAPPY_EN)
        await send(customer, type="message.send", text=ANGRY_ES)
        await next_frame(customer, "message.ack", seq=2)
        await next_frame(customer, "message.ack", seq=3)
        await wait_for(
            lambda: (
                Message.objects.filter(conversation=conv, scoring_status=ScoringStatus.SCORED).count() == 3
            )
        )

        rep_ws = await staff_socket(w["rep"])
        # A message that arrives live after the reconnect but before the catch-up request.
        await send(customer, type="message.send", text=HAPPY_EN)
        await next_frame(rep_ws, "message.created", seq=4)
        await send(rep_ws, type="catch_up", conversation=conv.pk, after_seq=1)
        done = await next_frame(rep_ws, "catch_up.done", conversation=conv.pk)
        assert done["last_seq"] == 4
        await next_frame(rep_ws, "conversation.scored", seq=4)
        frames = [*await drain(rep_ws, quiet=0.5)]
        created = [f["seq"] for f in frames if f["type"] == "message.created"]
        scored = [f["seq"] for f in frames if f["type"] == "conversation.scored"]
        # seq 4's message.created and score came live (consumed above): never again.
        assert sorted(created) == [2, 3]
        assert sorted(scored) == [2, 3]
        caught = [f for f in frames if f["type"] == "conversation.scored"]
        assert {f["seq"]: f["language"] for f in caught} == {2: "en", 3: "es"}

        # A second catch-up from the start, on a new socket: everything, each once, in order.
        await rep_ws.disconnect()
        rep_ws = await staff_socket(w["rep"])
        await send(rep_ws, type="catch_up", conversation=conv.pk, after_seq=0)
        await next_frame(rep_ws, "catch_up.done", conversation=conv.pk)
        frames = rep_ws.pending
        assert [f["seq"] for f in frames if f["type"] == "message.created"] == [1, 2, 3, 4]
        assert [f["seq"] for f in frames if f["type"] == "conversation.scored"] == [1, 2, 3, 4]
    finally:
        await close_all(rep_ws, customer)


async def test_a_customer_resend_after_a_lost_ack_is_acknowledged_with_the_same_seq_and_scored_once():
    w = await make_world()
    conv = w["conversation"]
    rep_ws = await staff_socket(w["rep"])
    customer = await chat_socket(conv)
    try:
        await send(customer, type="message.send", text=ANGRY_EN, client_id="m-1")
        first = await next_frame(customer, "message.ack", client_id="m-1")
        await customer.disconnect()  # the ack was "lost": the page reconnects and sends again
        customer = await chat_socket(conv)
        await send(customer, type="message.send", text=ANGRY_EN, client_id="m-1")
        again = await next_frame(customer, "message.ack", client_id="m-1")
        assert again["seq"] == first["seq"] == 1
        await next_frame(rep_ws, "conversation.scored", seq=1)
        frames = await drain(rep_ws, quiet=0.5)
        assert not [f for f in frames if f["type"] == "conversation.scored"]
        assert await database_sync_to_async(Message.objects.filter(conversation=conv).count)() == 1
    finally:
        await close_all(rep_ws, customer)


async def test_customer_catch_up_has_replies_and_no_sentiment():
    w = await make_world()
    conv = w["conversation"]
    rep_ws = await staff_socket(w["rep"])
    customer = await chat_socket(conv)
    try:
        await send(customer, type="message.send", text=ANGRY_EN)
        await next_frame(rep_ws, "conversation.scored", seq=1)
        await send(rep_ws, type="message.send", conversation=conv.pk, text="Sorry! Let me help.")
        await next_frame(customer, "message.created", seq=2)
        await customer.disconnect()
        customer = await chat_socket(conv)
        await send(customer, type="catch_up", after_seq=0)
        done = await next_frame(customer, "catch_up.done")
        assert done["last_seq"] == 2
        frames = customer.pending
        assert [(f["type"], f["seq"]) for f in frames] == [("message.created", 1), ("message.created", 2)]
        for frame in frames:
            assert not SENTIMENT_KEYS & set(frame) and "scoring_status" not in frame
        customer.pending.clear()
        await send(customer, type="catch_up", after_seq=1000)  # a cursor past the conversation
        assert (await next_frame(customer, "catch_up.done"))["last_seq"] == 2
        await send(rep_ws, type="catch_up", conversation=conv.pk, after_seq=1000)
        assert (await next_frame(rep_ws, "catch_up.done", conversation=conv.pk))["last_seq"] == 2
    finally:
        await close_all(rep_ws, customer)


@pytest.mark.parametrize("presence", list(Presence.values))
async def test_presence_and_queue_gate_notifications_over_websockets(presence):
    w = await make_world()
    conv = w["conversation"]
    sup_ws = await staff_socket(w["sup"])
    outsider = await database_sync_to_async(
        lambda: SupervisorFactory(queues=[QueueFactory()], presence=Presence.AVAILABLE)
    )()
    outsider_ws = await staff_socket(outsider)
    customer = await chat_socket(conv)
    try:
        await send(sup_ws, type="presence.set", presence=presence)
        if presence != Presence.AVAILABLE:  # already Available: no change, no event
            changed = await next_frame(sup_ws, "presence.changed", staff=w["sup"].pk, presence=presence)
            assert changed["label"]
        await send(customer, type="message.send", text=ANGRY_EN)
        await next_frame(sup_ws, "conversation.scored", seq=1)
        await wait_for(lambda: SentimentAlert.objects.filter(audience=AlertAudience.SUPERVISOR).exists())
        eligible = presence in (Presence.AVAILABLE, Presence.BUSY)
        if eligible:
            await next_frame(sup_ws, "notification.created", conversation=conv.pk)
        frames = await drain(sup_ws, quiet=0.5)
        assert not [f for f in frames if f["type"] == "notification.created"]  # none, or no second one
        outsider_frames = await drain(outsider_ws, quiet=0.1)
        assert not [f for f in outsider_frames if f.get("conversation") == conv.pk]
    finally:
        await close_all(sup_ws, outsider_ws, customer)


async def test_acknowledge_and_snooze_from_the_staff_socket():
    w = await make_world()
    conv = w["conversation"]
    sup_ws = await staff_socket(w["sup"])
    customer = await chat_socket(conv)
    try:
        await send(customer, type="message.send", text=ANGRY_EN)
        note = await next_frame(sup_ws, "notification.created")
        await send(sup_ws, type="notification.ack", notification=note["notification"])
        acked = await next_frame(sup_ws, "notification.acknowledged")
        assert acked["by"] == w["sup"].pk and acked["notification"] == note["notification"]
        await send(sup_ws, type="conversation.snooze", conversation=conv.pk, minutes=15)
        snoozed = await next_frame(sup_ws, "conversation.snoozed")
        assert snoozed["until"]
    finally:
        await close_all(sup_ws, customer)


@pytest.mark.parametrize(
    "raw, code",
    [
        ("{not json", "invalid_json"),
        ("[1, 2]", "invalid"),
        (json.dumps({"type": "does.not.exist"}), "unknown_type"),
        (json.dumps({"type": "catch_up", "conversation": "abc", "after_seq": 0}), "invalid"),
        (json.dumps({"type": "catch_up", "conversation": 999999, "after_seq": 0}), "not_found"),
        (json.dumps({"type": "catch_up", "conversation": 1, "after_seq": -1}), "invalid"),
        (json.dumps({"type": "presence.set", "presence": "sleeping"}), "invalid_presence"),
        (json.dumps({"type": "notification.ack", "notification": 424242}), "not_found"),
        (json.dumps({"type": "message.send", "conversation": 999999, "text": "hi"}), "not_found"),
    ],
)
async def test_staff_socket_errors_keep_the_socket_open(raw, code):
    w = await make_world()
    rep_ws = await staff_socket(w["rep"])
    try:
        await rep_ws.send_to(text_data=raw)
        error = await next_frame(rep_ws, "error")
        assert error["code"] == code and error["message"]
        await send(rep_ws, type="ping")
        await next_frame(rep_ws, "pong")
    finally:
        await close_all(rep_ws)


async def test_representative_cannot_reach_someone_elses_conversation():
    w = await make_world()
    conv = w["conversation"]
    other_ws = await staff_socket(w["other_rep"])
    try:
        await send(other_ws, type="catch_up", conversation=conv.pk, after_seq=0)
        assert (await next_frame(other_ws, "error"))["code"] == "not_found"
        await send(other_ws, type="message.send", conversation=conv.pk, text="hello")
        assert (await next_frame(other_ws, "error"))["code"] == "not_found"
    finally:
        await close_all(other_ws)
    await monitor_socket(w["other_rep"], conv.pk, expect=False)


@pytest.mark.parametrize(
    "frame, code",
    [
        ({"type": "message.send", "text": "   \n\t "}, "empty"),
        ({"type": "message.send", "text": "x" * 5000}, "too_long"),
        ({"type": "message.send", "text": 42}, "invalid"),
        ({"type": "message.send", "text": "hi", "client_id": {"a": 1}}, "invalid"),
        ({"type": "catch_up", "after_seq": "x"}, "invalid"),
        ({"type": "presence.set", "presence": "available"}, "unknown_type"),
    ],
)
async def test_customer_socket_errors_keep_the_socket_open(frame, code):
    w = await make_world()
    customer = await chat_socket(w["conversation"])
    try:
        await customer.send_json_to(frame)
        assert (await next_frame(customer, "error"))["code"] == code
        await send(customer, type="ping")
        await next_frame(customer, "pong")
    finally:
        await close_all(customer)


async def test_anonymous_and_unknown_tokens_are_refused_with_the_documented_close_codes():
    await connect("/ws/staff/", expect=False, close_code=4401)
    await connect("/ws/chat/not-a-real-token-000000/", expect=False, close_code=4404)
    await connect("/ws/chat/nope/", expect=False, close_code=4404)  # malformed: not a server error
    await connect("/ws/no-such-route/", expect=False, close_code=4404)
    w = await make_world()
    await connect(f"/ws/monitor/{w['conversation'].pk}/", expect=False, close_code=4401)


async def test_customer_flood_is_rate_limited_with_a_clear_error(settings):
    settings.CUSTOMER_RATE_LIMIT_PER_MINUTE = 3
    w = await make_world()
    customer = await chat_socket(w["conversation"])
    try:
        for i in range(3):
            await send(customer, type="message.send", text=f"message {i}", client_id=i)
            await next_frame(customer, "message.ack", client_id=i)
        await send(customer, type="message.send", text="one more", client_id="x")
        error = await next_frame(customer, "error")
        assert error["code"] == "rate_limited" and error["retry_after"] > 0 and error["client_id"] == "x"
        count = await database_sync_to_async(Message.objects.filter(conversation=w["conversation"]).count)()
        assert count == 3
    finally:
        await close_all(customer)


async def test_nothing_is_pushed_when_the_transaction_rolls_back():
    from django.db import transaction

    from conversations.services.ingest import message_ingest

    w = await make_world()
    rep_ws = await staff_socket(w["rep"])

    def failing():
        with transaction.atomic():
            message_ingest(conversation=w["conversation"], text=ANGRY_EN)
            raise RuntimeError("something later in the same transaction failed")

    try:
        with pytest.raises(RuntimeError):
            await database_sync_to_async(failing)()
        assert not [
            f
            for f in await drain(rep_ws, quiet=0.5)
            if f["type"] in ("message.created", "conversation.scored")
        ]
        assert not await database_sync_to_async(Message.objects.exists)()
    finally:
        await close_all(rep_ws)


async def test_group_events_reach_the_screen_while_the_database_thread_is_busy():
    """A score is forwarded even while every database_sync_to_async call of the process waits
    on one slow query (under load: a queue of customer messages being stored)."""
    world = await make_world()
    rep = await staff_socket(world["rep"])
    busy = asyncio.ensure_future(database_sync_to_async(time.sleep)(3))
    await asyncio.sleep(0.05)  # the slow call now holds the thread-sensitive thread
    event = {"type": realtime.CONVERSATION_UPDATED, "conversation": world["conversation"].pk}
    started = time.monotonic()
    await get_channel_layer(realtime.SCREENS_LAYER).group_send(realtime.staff_group(world["rep"].pk), event)
    frame = await next_frame(rep, realtime.CONVERSATION_UPDATED, timeout=2)
    assert frame["conversation"] == world["conversation"].pk
    assert time.monotonic() - started < 1.5
    await busy
    await close_all(rep)


async def test_a_socket_that_may_have_missed_frames_closes_so_its_client_catches_up():
    """The channel layer's resync notice (a reconnected Redis subscription, a full queue)
    closes the socket with 4503; the reconnected client's catch-up brings what it missed."""
    world = await make_world()
    rep = await staff_socket(world["rep"])
    missed = await database_sync_to_async(MessageFactory)(conversation=world["conversation"], seq=1)
    await get_channel_layer(realtime.SCREENS_LAYER).group_send(
        realtime.staff_group(world["rep"].pk), {"type": realtime.LAYER_RESYNC}
    )
    while True:
        output = await rep.receive_output(timeout=DEFAULT_TIMEOUT)
        if output["type"] == "websocket.close":
            break
        assert json.loads(output["text"])["type"] != realtime.LAYER_RESYNC, "an internal event"
    assert output["code"] == CLOSE_CATCH_UP

    rep = await staff_socket(world["rep"])
    await send(rep, type="catch_up", conversation=world["conversation"].pk, after_seq=0)
    created = await next_frame(rep, realtime.MESSAGE_CREATED, conversation=world["conversation"].pk)
    assert created["seq"] == 1 and created["text"] == missed.text
    await close_all(rep)


async def test_catch_up_replays_the_alerts_that_still_hold_and_none_once_recovered():
    from tests.insights.standin_scorer import store_levels

    w = await make_world()
    conv = w["conversation"]
    await database_sync_to_async(store_levels)(conv, [2, -2])  # an outburst: both audiences in alert
    rep_ws = await staff_socket(w["rep"])
    monitor = await monitor_socket(w["sup"], conv.pk)
    try:
        # A reload: the page knows every message (after_seq = last seq) and still gets the alert.
        await send(rep_ws, type="catch_up", conversation=conv.pk, after_seq=2)
        state = await next_frame(rep_ws, "alert.state", conversation=conv.pk)
        rep_alert = next(a for a in state["alerts"] if a["audience"] == "representative")
        assert (
            rep_alert["type"] == "alert.raised" and rep_alert["seq"] == 2 and rep_alert["level_value"] <= -1
        )
        await next_frame(rep_ws, "catch_up.done", conversation=conv.pk)
        await send(monitor, type="catch_up", after_seq=0)
        state = await next_frame(monitor, "alert.state", conversation=conv.pk)
        assert {a["audience"] for a in state["alerts"]} == {"representative", "supervisor"}

        await database_sync_to_async(store_levels)(conv, [3, 3, 3])  # recovered meanwhile
        await send(rep_ws, type="catch_up", conversation=conv.pk, after_seq=5)
        assert (await next_frame(rep_ws, "alert.state", conversation=conv.pk))["alerts"] == []
    finally:
        await close_all(rep_ws, monitor)
