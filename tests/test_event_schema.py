"""The event contract is checked, in the spirit of Zulip's event-schema tests.

``docs/events.schema.json`` (JSON Schema 2020-12) describes every frame the websockets send,
the server-internal group events, and every webhook body. Here every builder of the apps'
frames modules (``conversations.frames``, ``insights.frames``) and of the webhook bodies is
run on stored rows made by factories and the real services, and each result is validated
against the schema entry of its ``type``. The test fails when:

- a built frame does not match its schema (a field added, renamed, removed or mistyped);
- a frames module gains a builder this test does not run (add it to ``BUILDERS``);
- a frame is built outside the frames modules (a dict with ``"type": realtime.X``);
- code can build a frame type the schema does not know;
- the schema lists a type that ``docs/events.md`` does not document.
"""

from __future__ import annotations

import ast
import inspect
import json
import re
from pathlib import Path

import httpx
import pytest
from django.utils import timezone
from jsonschema import Draft202012Validator

from conversations import frames as conversation_frames
from conversations.models import ConversationStatus, Presence, Role, Sender
from conversations.services.ingest import message_ingest, representative_reply
from insights import frames as insight_frames
from insights.levels import SentimentLevel, level_slug
from insights.models import AlertAudience, AlertKind, NotificationRecipient, SentimentAlert
from insights.pipeline.claim import scoring_claim
from insights.pipeline.store import scoring_results_store
from insights.selectors import sentiment_settings_get
from insights.services import webhooks
from sentiment_admin import realtime
from tests.conversations.factories import (
    ConversationFactory,
    QueueFactory,
    RepresentativeFactory,
    SupervisorFactory,
)
from tests.insights.standin_scorer import result_for

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((ROOT / "docs" / "events.schema.json").read_text())
EVENTS_MD = (ROOT / "docs" / "events.md").read_text()
FRAMES_MODULES = (conversation_frames, insight_frames)


def _validator(kind: str, name: str) -> Draft202012Validator:
    """The schema entry ``<kind>:<name>`` with the schema's shared definitions."""
    key = f"{kind}:{name}"
    assert key in SCHEMA["$defs"], f"docs/events.schema.json does not know {key}"
    return Draft202012Validator({"$defs": SCHEMA["$defs"], "$ref": f"#/$defs/{key}"})


def assert_valid(kind: str, body: dict) -> None:
    name = body["event"] if kind == "webhook" else body["type"]
    errors = sorted(_validator(kind, name).iter_errors(body), key=lambda e: list(e.path))
    assert not errors, f"{kind} {name}: " + "; ".join(f"{list(e.path)}: {e.message}" for e in errors)


def schema_names(kind: str) -> set[str]:
    return {key.split(":", 1)[1] for key in SCHEMA["$defs"] if key.startswith(f"{kind}:")}


# --- stored rows, made the way the center makes them -----------------------------------------


def _score(conversation, *levels: int):
    """Customer messages through ingest and the pipeline's claim + store (the stand-in scorer
    reads ``level:<n>``), so alerts and notifications are raised by the real rules."""
    for level in levels:
        message = message_ingest(conversation=conversation, text=f"level:{level}")
        jobs, _options = scoring_claim([message.pk])
        scoring_results_store([(job.message_id, result_for(f"level:{level}")) for job in jobs])


@pytest.fixture
def world(db):
    queue = QueueFactory()
    rep = RepresentativeFactory(queues=[queue], presence=Presence.AVAILABLE)
    supervisor = SupervisorFactory(queues=[queue], presence=Presence.AVAILABLE)
    org = sentiment_settings_get()
    org.representative_threshold = SentimentLevel.SLIGHTLY_NEGATIVE
    org.supervisor_threshold = SentimentLevel.SLIGHTLY_NEGATIVE
    org.sharp_drop_alerts = True
    org.save()
    conversation = ConversationFactory(queue=queue, representative=rep, accepted_at=timezone.now())
    _score(conversation, 3, 1, -3, 3, 3, 3)  # a sharp drop, a crossing, then a recovery
    representative_reply(conversation=conversation.pk, text="Sorry about that.", author=rep, client_id="r-1")
    waiting = ConversationFactory(queue=queue, status=ConversationStatus.WAITING)
    conversation.refresh_from_db()
    alerts = list(SentimentAlert.objects.filter(conversation=conversation).order_by("pk"))
    kinds = {a.kind for a in alerts}
    assert {AlertKind.THRESHOLD, AlertKind.SHARP_DROP, AlertKind.RECOVERED} <= kinds
    recipient = NotificationRecipient.objects.filter(staff=supervisor).select_related("alert").first()
    recipient.acknowledged_at = timezone.now()
    recipient.save()
    return {
        "queue": queue,
        "rep": rep,
        "supervisor": supervisor,
        "conversation": conversation,
        "waiting": waiting,
        "messages": list(
            conversation.messages.select_related("author__user", "conversation").order_by("seq")
        ),
        "alerts": alerts,
        "recipient": recipient,
        "org": org,
    }


def _customer_message(w):
    return next(m for m in w["messages"] if m.sender == Sender.CUSTOMER)


def _raised(w):
    return next(a for a in w["alerts"] if a.kind == AlertKind.THRESHOLD)


# Every public function of the frames modules: how to run it, as a list of built frames.
BUILDERS = {
    conversation_frames: {
        "message_payload": lambda w: [
            conversation_frames.message_payload(m, for_customer=c)
            for m in w["messages"]
            for c in (False, True)
        ],
        "conversation_payload": lambda w: [
            conversation_frames.conversation_payload(c) for c in (w["conversation"], w["waiting"])
        ],
        "chat_payload": lambda w: [
            conversation_frames.chat_payload(w["waiting"], position=1),
            conversation_frames.chat_payload(w["conversation"], position=None),
        ],
        "assigned_payload": lambda w: [
            conversation_frames.assigned_payload(conversation_id=1, queue_id=2, representative_id=3),
            conversation_frames.assigned_payload(conversation_id=1, queue_id=2, representative_id=None),
        ],
        "presence_payload": lambda w: [
            conversation_frames.presence_payload(
                staff_id=w["rep"].pk, presence=Presence.AWAY, label="Away", name="Rita"
            )
        ],
        "error_frame": lambda w: [
            conversation_frames.error_frame("invalid", "A frame is a JSON object."),
            conversation_frames.error_frame("rate_limited", "Wait.", retry_after=3, client_id="c-1"),
        ],
        "pong_frame": lambda w: [conversation_frames.pong_frame()],
        "staff_message_ack": lambda w: [
            conversation_frames.staff_message_ack(
                conversation_id=w["conversation"].pk, seq=4, client_id="r-1"
            )
        ],
        "customer_message_ack": lambda w: [
            conversation_frames.customer_message_ack(_customer_message(w), client_id=17)
        ],
        "snoozed_frame": lambda w: [
            conversation_frames.snoozed_frame(conversation_id=w["conversation"].pk, until=timezone.now()),
            conversation_frames.snoozed_frame(conversation_id=w["conversation"].pk, until=None),
        ],
        "removed_frame": lambda w: [conversation_frames.removed_frame(w["conversation"].pk)],
        "access_changed_frame": lambda w: [conversation_frames.access_changed_frame(Role.SUPERVISOR)],
        "catch_up_done": lambda w: [
            conversation_frames.catch_up_done(conversation_id=w["conversation"].pk, last_seq=0)
        ],
        "catch_up_frames": lambda w: [
            *conversation_frames.catch_up_frames(conversation=w["conversation"], after_seq=0)[0],
            *conversation_frames.catch_up_frames(
                conversation=w["conversation"], after_seq=0, for_customer=True
            )[0],
        ],
        "conversation_access_event": lambda w: [
            conversation_frames.conversation_access_event(w["conversation"].pk)
        ],
        "staff_access_event": lambda w: [
            conversation_frames.staff_access_event(),
            conversation_frames.staff_access_event(signed_out_session="ab12"),
        ],
    },
    insight_frames: {
        "scored_payload": lambda w: [
            insight_frames.scored_payload(
                _customer_message(w), conversation_score=None, conversation_level=None, trend="steady"
            )
        ],
        "scored_payload_as_of": lambda w: [
            insight_frames.scored_payload_as_of(m) for m in w["messages"] if m.sender == Sender.CUSTOMER
        ],
        "scored_catch_up": lambda w: list(
            insight_frames.scored_catch_up(
                conversation=w["conversation"], messages=w["messages"], after_seq=0
            ).values()
        ),
        "alert_payload": lambda w: [insight_frames.alert_payload(a, seq=None) for a in w["alerts"]],
        "alert_state_payload": lambda w: [
            insight_frames.alert_state_payload(conversation_id=w["conversation"].pk, alerts=[_raised(w)]),
            insight_frames.alert_state_payload(conversation_id=w["conversation"].pk, alerts=[]),
        ],
        "alert_state_frame": lambda w: [insight_frames.alert_state_frame(w["conversation"].pk)],
        "notification_payload": lambda w: [
            insight_frames.notification_payload(w["recipient"], w["recipient"].alert, w["conversation"])
        ],
        "notification_acknowledged_payload": lambda w: [
            insight_frames.notification_acknowledged_payload(
                w["recipient"], conversation_id=w["conversation"].pk, by=w["supervisor"]
            ),
            insight_frames.notification_acknowledged_payload(
                w["recipient"], conversation_id=w["conversation"].pk, resolved="moved"
            ),
        ],
        "settings_changed_payload": lambda w: [insight_frames.settings_changed_payload(w["org"])],
    },
}

# Public functions of the frames modules that build parts of an answer, not a frame.
NOT_FRAMES = {
    conversation_frames: {"sentiment_fields"},  # the sentiment fields of a row (page and frames)
    insight_frames: {"alert_summary", "not_scored_reason"},  # REST alert fields; a frame's reason
}

# Channel-layer messages: the scoring worker channel's, between processes, never to a client; the pub/sub
# layer's own notice to a socket that may have missed frames (sentiment_admin.layers), which
# the consumer acts on and never forwards.
CHANNEL_MESSAGES = {"SCORE_MESSAGES", "LAYER_RESYNC"}

# Built on sockets' groups only, acted on by consumers and never forwarded as they are.
INTERNAL_BUILDERS = {"conversation_access_event", "staff_access_event"}


def _public_functions(module) -> set[str]:
    return {
        name
        for name, value in vars(module).items()
        if inspect.isfunction(value) and value.__module__ == module.__name__ and not name.startswith("_")
    }


def test_the_schema_is_a_valid_draft_2020_12_schema():
    Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"


@pytest.mark.parametrize("module", FRAMES_MODULES, ids=lambda m: m.__name__)
def test_every_builder_of_a_frames_module_is_run_here(module):
    missing = _public_functions(module) - set(BUILDERS[module]) - NOT_FRAMES[module]
    assert not missing, f"add {sorted(missing)} to BUILDERS (and its frames to the schema)"


@pytest.mark.django_db
def test_every_frame_the_apps_build_matches_the_schema(world):
    built: set[str] = set()
    for module, builders in BUILDERS.items():
        for name, build in builders.items():
            frames = build(world)
            assert frames, f"{module.__name__}.{name} built nothing"
            kind = "internal" if name in INTERNAL_BUILDERS else "frame"
            for frame in frames:
                assert_valid(kind, frame)
                if kind == "frame":
                    built.add(frame["type"])
    # Every client frame of the schema was built at least once: none is documented but dead.
    assert built == schema_names("frame")


@pytest.mark.django_db
def test_every_webhook_body_matches_the_schema(world, settings):
    for alert in world["alerts"]:
        assert_valid("webhook", webhooks.webhook_body(alert))
    scored = insight_frames.scored_payload_as_of(_customer_message(world))
    assert_valid("webhook", webhooks.scored_webhook_body(scored))

    # The test event is built inside webhook_test_send: catch what it POSTs at the HTTP edge.
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    org = world["org"]
    org.webhook_url, org.webhook_secret = "http://127.0.0.1:9/hook", "s3cret"
    org.save()
    posted = []

    def answer(request):
        posted.append(json.loads(request.content))
        return httpx.Response(204)

    webhooks.webhook_test_send(client=httpx.Client(transport=httpx.MockTransport(answer)))
    assert [p["event"] for p in posted] == [webhooks.EVENT_TEST]
    assert_valid("webhook", posted[0])
    events = {webhooks.EVENT_ALERT, webhooks.EVENT_RECOVERED, webhooks.EVENT_SCORED, webhooks.EVENT_TEST}
    assert events == schema_names("webhook")


def test_a_frame_that_breaks_the_contract_is_refused():
    """The check can fail: a renamed field, an unknown level and a missing type are refused."""
    good = {"type": realtime.CONVERSATION_REMOVED, "conversation": 3}
    assert not list(_validator("frame", realtime.CONVERSATION_REMOVED).iter_errors(good))
    for bad in ({**good, "conversation_id": 3}, {"type": realtime.CONVERSATION_REMOVED}):
        assert list(_validator("frame", realtime.CONVERSATION_REMOVED).iter_errors(bad))
    scored = {"type": realtime.CONVERSATION_SCORED, "level": "very_angry"}
    assert list(_validator("frame", realtime.CONVERSATION_SCORED).iter_errors(scored))
    assert list(Draft202012Validator(SCHEMA).iter_errors({"conversation": 3}))


# --- static checks: where frames are built, which types exist, what the docs say -------------


def _frame_type_literals(path: Path) -> list[tuple[int, str]]:
    """(line, realtime constant) of every dict literal ``{"type": realtime.X, ...}`` in a file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.Dict):
            continue
        for key, value in zip(node.keys, node.values, strict=True):
            if (
                isinstance(key, ast.Constant)
                and key.value == "type"
                and isinstance(value, ast.Attribute)
                and isinstance(value.value, ast.Name)
                and value.value.id == "realtime"
            ):
                found.append((node.lineno, value.attr))
    return found


def _app_sources() -> list[Path]:
    return [
        p
        for app in ("conversations", "insights", "sentiment_admin")
        for p in sorted((ROOT / app).rglob("*.py"))
        if "migrations" not in p.parts
    ]


def test_frames_are_built_only_in_the_frames_modules():
    frames_files = {Path(m.__file__).resolve() for m in FRAMES_MODULES}
    outside = [
        f"{path.relative_to(ROOT)}:{line} builds {name}"
        for path in _app_sources()
        if path.resolve() not in frames_files
        for line, name in _frame_type_literals(path)
        if name not in CHANNEL_MESSAGES
    ]
    assert not outside, "move these into a frames module: " + ", ".join(outside)


def test_every_frame_type_the_code_can_build_is_in_the_schema():
    types = {
        getattr(realtime, name)
        for module in FRAMES_MODULES
        for _line, name in _frame_type_literals(Path(module.__file__))
    }
    # insights.frames picks alert.raised or alert.recovered in one expression.
    types |= {realtime.ALERT_RAISED, realtime.ALERT_RECOVERED}
    known = schema_names("frame") | schema_names("internal")
    assert types - known == set()
    # And every server → client type sentiment_admin.realtime names.
    assert _realtime_server_types() - known == set()


def _realtime_server_types() -> set[str]:
    """The event types of ``sentiment_admin.realtime``, less the client's and the worker's."""
    not_frames = {
        "SCORING_CHANNEL",
        "SCORE_MESSAGES",
        "PRESENCE_GROUP",
        "INSIGHTS_GROUP",
        "INTEGRATIONS_GROUP",
        "SCREENS_LAYER",
        "WORKERS_LAYER",
    }
    return {
        value
        for name, value in vars(realtime).items()
        if name.isupper()
        and isinstance(value, str)
        and not name.startswith("CLIENT_")
        and name not in not_frames
    }


def test_every_type_in_the_schema_is_documented_in_events_md():
    headings = set(re.findall(r"`([a-z_]+(?:\.[a-z_]+)?)`", EVENTS_MD))
    names = schema_names("frame") | schema_names("internal") | schema_names("webhook")
    assert names - headings == set()


@pytest.mark.parametrize(
    "definition, choices",
    [
        ("level", [level_slug(v) for v in (*SentimentLevel.values, None)]),
        ("sender", Sender.values),
        ("status", ConversationStatus.values),
        ("presence", Presence.values),
        ("role", Role.values),
        ("audience", AlertAudience.values),
    ],
)
def test_the_schema_enumerations_are_the_models_choices(definition, choices):
    assert sorted(SCHEMA["$defs"][definition]["enum"]) == sorted(choices)
