"""Bad input, each with a clear error and nothing lost or corrupted.

Over the customer chat websocket and the integration REST API (both reach
``message_ingest``): empty and whitespace-only messages, over-limit and 1 MB messages,
invalid UTF-8, control characters, emoji-only and mixed-language text, HTML/script text
(stored verbatim, escaped on every page), malformed JSON and unknown event types on every
websocket route, unknown and other people's conversation ids, out-of-range thresholds posted
directly, forged and replayed webhook signatures, and a flood from one customer.
"""

from __future__ import annotations

import json
import time

import pytest
from channels.db import database_sync_to_async
from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse

from conversations.models import (
    Conversation,
    ConversationStatus,
    Message,
    ScoringStatus,
    Sender,
)
from conversations.services.ingest import integration_token_create
from insights.models import (
    QueueSentimentOverride,
    SentimentSettings,
    SettingsAuditEntry,
)
from insights.selectors import sentiment_settings_get
from tests.conversations.factories import (
    AdminFactory,
    ConversationFactory,
    CustomerFactory,
    QueueFactory,
    RepresentativeFactory,
    SupervisorFactory,
)
from tests.conversations.wsutil import (
    chat_socket,
    close_all,
    connect,
    integration_socket,
    monitor_socket,
    next_frame,
    scoring_runtime,  # noqa: F401  (fixture)
    send,
    session_cookie,
    staff_socket,
    wait_for,
)

ONE_MB = "x" * (1024 * 1024)
SCRIPT = '<script>alert("pwned")</script><img src=x onerror=alert(1)>'


def _customer_messages(conversation_id: int) -> list[tuple[int, str]]:
    return list(
        Message.objects.filter(conversation_id=conversation_id, sender=Sender.CUSTOMER)
        .order_by("seq")
        .values_list("seq", "text")
    )


# --------------------------------------------------------------------------- REST


@pytest.fixture
def api(db):
    queue = QueueFactory(name="Bad input")
    rep = RepresentativeFactory(queues=[queue])
    conversation = ConversationFactory(queue=queue, representative=rep)
    _token, key = integration_token_create(name="bad input")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {key}")

    def post(conversation_id=None, *, raw: bytes | None = None, **body):
        url = reverse("api:messages", args=[conversation_id or conversation.pk])
        data = raw if raw is not None else json.dumps(body)
        return client.post(url, data=data, content_type="application/json")

    return {"conversation": conversation, "post": post, "client": client, "queue": queue}


def _error(response) -> dict:
    body = response.json()
    assert set(body) == {"error"}, body
    assert body["error"]["code"] and body["error"]["message"], body
    return body["error"]


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "empty"),
        ("   \n\t  ", "empty"),
        ("\x00\x01\x07\x1b", "empty"),  # nothing but control characters
        (None, "invalid"),
        (42, "invalid"),
        (["a"], "invalid"),
        ("x" * 4001, "too_long"),
    ],
    ids=["empty", "whitespace", "control-only", "null", "number", "list", "over-limit"],
)
def test_rest_rejects_bad_text_with_a_clear_error_and_stores_nothing(api, text, code):
    response = api["post"](text=text)
    assert response.status_code == 400
    assert _error(response)["code"] == code
    assert _customer_messages(api["conversation"].pk) == []
    assert Conversation.objects.get(pk=api["conversation"].pk).last_seq == 0


def test_message_limit_is_the_setting_and_the_limit_itself_is_accepted(api):
    assert django_settings.MESSAGE_MAX_CHARS == 4000
    response = api["post"](text="y" * 4000)
    assert response.status_code == 201
    assert _customer_messages(api["conversation"].pk) == [(1, "y" * 4000)]


def test_rest_rejects_a_one_megabyte_body(api):
    response = api["post"](text=ONE_MB)
    assert response.status_code == 400
    assert _error(response)["code"] in ("too_large", "too_long")
    assert _customer_messages(api["conversation"].pk) == []


@pytest.mark.parametrize(
    "raw",
    [b'{"text": "caf\xe9 \xff\xfe"}', b"\xc3\x28", b'{"text": "\xed\xa0\x80"}'],
    ids=["latin-1-bytes", "truncated-sequence", "encoded-surrogate"],
)
def test_rest_rejects_invalid_utf8(api, raw):
    response = api["post"](raw=raw)
    assert response.status_code == 400
    assert _error(response)["code"] == "invalid_json"
    assert _customer_messages(api["conversation"].pk) == []


@pytest.mark.parametrize(
    "raw", [b"{not json", b"[1, 2]", b'"text"', b"{" * 10000], ids=["broken", "array", "string", "deep"]
)
def test_rest_rejects_malformed_json(api, raw):
    response = api["post"](raw=raw)
    assert response.status_code == 400
    assert _error(response)["code"] in ("invalid_json", "invalid")
    assert _customer_messages(api["conversation"].pk) == []


def test_control_characters_are_stripped_but_newlines_and_tabs_kept(api):
    response = api["post"](text="hello\x00 wo\x07rld\r\n\tbye\x1b[31m")
    assert response.status_code == 201
    assert _customer_messages(api["conversation"].pk) == [(1, "hello world\n\tbye[31m")]


@pytest.mark.parametrize(
    "text",
    ["😡😡😡", "🙂👍", "Hola, I need help con mi pedido, c'est urgent!", SCRIPT, "Ω≈ç√∫˜µ≤≥÷ 𝕿𝖊𝖘𝖙 ‮reversed‬"],
    ids=["angry-emoji", "happy-emoji", "mixed-language", "html-script", "unicode"],
)
def test_unusual_but_valid_text_is_stored_verbatim(api, text):
    response = api["post"](text=text)
    assert response.status_code == 201, response.content
    assert _customer_messages(api["conversation"].pk) == [(1, text)]
    # Read back through the API exactly as stored.
    listed = api["client"].get(reverse("api:messages", args=[api["conversation"].pk])).json()
    assert [m["text"] for m in listed["messages"]] == [text]


def test_unknown_conversation_ids_are_404(api):
    for url in (
        reverse("api:messages", args=[987654]),
        reverse("api:replies", args=[987654]),
    ):
        response = api["client"].post(url, data=json.dumps({"text": "hi"}), content_type="application/json")
        assert response.status_code == 404
        assert _error(response)["code"] == "not_found"
    assert not Message.objects.exists()


def test_a_closed_conversation_refuses_messages_with_a_clear_error(api):
    Conversation.objects.filter(pk=api["conversation"].pk).update(status=ConversationStatus.CLOSED)
    response = api["post"](text="are you there?")
    assert response.status_code == 409
    assert _error(response)["code"] == "conversation_closed"
    assert _customer_messages(api["conversation"].pk) == []


def test_a_flood_from_one_customer_is_rate_limited_with_a_clear_error(api, settings):
    settings.CUSTOMER_RATE_LIMIT_PER_MINUTE = 5
    statuses = [api["post"](text=f"message {i}").status_code for i in range(8)]
    assert statuses == [201] * 5 + [429] * 3
    response = api["post"](text="one more")
    error = _error(response)
    assert error["code"] == "rate_limited" and "5 per minute" in error["message"]
    assert int(response["Retry-After"]) > 0
    # Nothing lost or corrupted: the accepted messages have contiguous sequence numbers.
    assert _customer_messages(api["conversation"].pk) == [(i + 1, f"message {i}") for i in range(5)]
    assert Conversation.objects.get(pk=api["conversation"].pk).last_seq == 5


def test_the_rate_limit_is_per_customer(api, settings):
    settings.CUSTOMER_RATE_LIMIT_PER_MINUTE = 2
    other = ConversationFactory(queue=api["queue"], customer=CustomerFactory())
    for _ in range(2):
        assert api["post"](text="mine").status_code == 201
    assert api["post"](text="mine").status_code == 429
    assert api["post"](other.pk, text="someone else").status_code == 201


# --------------------------------------------------------------------------- thresholds


@pytest.fixture
def admin_client(db):
    admin = AdminFactory()
    client = Client()
    client.force_login(admin.user)
    return client


@pytest.mark.parametrize(
    "value", ["99", "-99", "4", "0.5", "abc", ""], ids=["99", "-99", "4", "half", "text", "blank"]
)
def test_out_of_range_thresholds_posted_directly_change_nothing(admin_client, value):
    before = sentiment_settings_get()
    form = {
        "monitoring_enabled": "on",
        "representative_threshold": value,
        "supervisor_threshold": str(before.supervisor_threshold),
        "multilingual_enabled": "on",
        "base_language": "en",
    }
    response = admin_client.post(reverse("insights:sentiment"), form)
    assert response.status_code == 400
    assert b"representative_threshold" in response.content or b"Select a valid choice" in response.content
    after = SentimentSettings.objects.get(pk=before.pk)
    assert after.representative_threshold == before.representative_threshold
    assert not SettingsAuditEntry.objects.exists()


@pytest.mark.parametrize("value", ["99", "-4", "abc"])
def test_out_of_range_queue_override_posted_directly_changes_nothing(admin_client, value):
    queue = QueueFactory()
    response = admin_client.post(
        reverse("insights:queue_override"),
        {"queue": queue.pk, "representative_threshold": value, "supervisor_threshold": ""},
        follow=True,
    )
    assert response.status_code == 200
    assert b"not saved" in response.content
    assert not QueueSentimentOverride.objects.exists()
    assert not SettingsAuditEntry.objects.exists()


def test_out_of_range_thresholds_through_the_service_are_refused(db):
    from django.core.exceptions import ValidationError

    from insights.services.settings import sentiment_settings_update

    admin = AdminFactory()
    for field in ("representative_threshold", "supervisor_threshold"):
        with pytest.raises(ValidationError):
            sentiment_settings_update(actor=admin.user, **{field: 42})
    with pytest.raises(ValidationError):
        sentiment_settings_update(actor=admin.user, retention_days=-1)
    assert not SettingsAuditEntry.objects.exists()


# --------------------------------------------------------------------------- webhooks


def test_webhook_signatures_reject_forgeries_tampering_and_replays():
    from insights.services.webhooks import webhook_signature, webhook_verify

    secret, body, now = "s3cret", b'{"event":"alert.raised","level":-2}', int(time.time())
    header = webhook_signature(secret=secret, timestamp=now, body=body)
    assert webhook_verify(secret=secret, header=header, body=body, now=now)
    # Forged: signed with another secret, or a made-up MAC.
    assert not webhook_verify(
        secret=secret, header=webhook_signature(secret="guess", timestamp=now, body=body), body=body, now=now
    )
    assert not webhook_verify(secret=secret, header=f"t={now},v1={'0' * 64}", body=body, now=now)
    # Tampered body, or a timestamp moved to make an old signature look fresh.
    assert not webhook_verify(secret=secret, header=header, body=body.replace(b"-2", b"-3"), now=now)
    moved = header.replace(f"t={now}", f"t={now + 1}")
    assert not webhook_verify(secret=secret, header=moved, body=body, now=now)
    # Replayed later than the tolerance window.
    assert not webhook_verify(secret=secret, header=header, body=body, now=now + 301)
    # Garbage headers are a clean False, never an exception.
    for garbage in ("", "v1=abc", "t=notanumber,v1=abc", "t=1", ",,,", "t=1,v1=" + "é" * 10):
        assert not webhook_verify(secret=secret, header=garbage, body=body, now=now)


@pytest.mark.parametrize(
    "header",
    [
        None,
        42,
        b"t=1,v1=00",
        "t=1,v1=" + "é" * 64,
        "t=" + "9" * 400 + ",v1=" + "0" * 64,
        "t=-5,v1=" + "0" * 64,
        "t=١٢٣,v1=" + "0" * 64,
        "t=1,v1=" + "0" * 63,
        "t=1,v1=" + "Z" * 64,
        "x" * 100_000,
        "t=1,v1=\x00" + "0" * 63,
        "t=1e9,v1=" + "0" * 64,
        "t=NaN,v1=" + "0" * 64,
    ],
    ids=[
        "none",
        "int",
        "bytes",
        "non-ascii-mac",
        "400-digit-timestamp",
        "negative",
        "arabic-digits",
        "short-mac",
        "not-hex",
        "huge",
        "nul",
        "float-timestamp",
        "nan",
    ],
)
def test_webhook_verify_is_false_for_any_malformed_header_and_never_raises(header):
    from insights.services.webhooks import webhook_verify

    assert webhook_verify(secret="s3cret", header=header, body=b"{}") is False


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://localhost:8000/hook",
        "http://10.0.0.5/hook",
        "http://192.168.1.1/",
        "http://172.16.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hook",
        "http://[fd00:ec2::254]/",
        "http://[::ffff:127.0.0.1]/",
        "http://0.0.0.0/",
        "http://2130706433/",
        "http://100.64.0.1/",
        "ftp://hooks.example.com/",
    ],
)
def test_webhooks_refuse_private_loopback_link_local_and_metadata_addresses(db, settings, url):
    from django.core.exceptions import ValidationError

    from insights.services.settings import sentiment_settings_update

    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    with pytest.raises(ValidationError) as refused:
        sentiment_settings_update(actor=AdminFactory().user, webhook_url=url, webhook_secret="s3cret")
    assert "webhook_url" in refused.value.message_dict
    assert sentiment_settings_get().webhook_url == ""
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    if url not in ("ftp://hooks.example.com/", "http://2130706433/"):  # those two are not URLs Django accepts
        sentiment_settings_update(actor=AdminFactory().user, webhook_url=url, webhook_secret="s3cret")
        assert sentiment_settings_get().webhook_url == url


def test_a_webhook_saved_before_its_address_turned_private_is_not_delivered(db, settings):
    import httpx

    from insights.models import OutboxStatus, WebhookDelivery, WebhookEvent
    from insights.sender import outbox_send_due

    SentimentSettings.objects.update_or_create(
        pk=SentimentSettings.SINGLETON_PK,
        defaults={"webhook_url": "http://169.254.169.254/latest/meta-data/", "webhook_secret": "s3cret"},
    )
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    _stored_webhook_alert()
    seen = []
    client = httpx.Client(
        transport=httpx.MockTransport(lambda request: seen.append(request) or httpx.Response(200))
    )
    assert outbox_send_due(client=client) == 0
    assert outbox_send_due(client=client) == 0  # given up at once: no retry
    assert seen == []
    delivery = WebhookDelivery.objects.get()
    assert (delivery.attempt, delivery.succeeded, delivery.status_code) == (1, False, None)
    assert "link-local or metadata" in delivery.error
    assert WebhookEvent.objects.get().status == OutboxStatus.FAILED


def _stored_webhook_alert():
    """An alert and its webhook event, stored together as the scoring store does."""
    from django.db import transaction

    from insights.models import AlertAudience, AlertKind, SentimentAlert
    from insights.services.webhooks import webhook_alert_enqueue

    with transaction.atomic():
        alert = SentimentAlert.objects.create(
            conversation=ConversationFactory(),
            audience=AlertAudience.SUPERVISOR,
            kind=AlertKind.THRESHOLD,
            level=-2,
            threshold=-2,
        )
        webhook_alert_enqueue(alert=alert)
    return alert


def test_a_webhook_without_a_secret_cannot_be_turned_on(db):
    from django.core.exceptions import ValidationError

    from insights.services.settings import sentiment_settings_update

    admin = AdminFactory()
    with pytest.raises(ValidationError) as refused:
        sentiment_settings_update(actor=admin.user, webhook_url="https://hooks.example.com/x")
    assert refused.value.messages == [
        "A webhook needs a signing secret: set one before turning the webhook on."
    ]
    assert sentiment_settings_get().webhook_url == ""
    sentiment_settings_update(actor=admin.user, webhook_url="https://hooks.example.com/x", webhook_secret="s")
    with pytest.raises(ValidationError):
        sentiment_settings_update(actor=admin.user, webhook_secret="")
    assert sentiment_settings_get().webhook_secret == "s"


def test_every_delivery_carries_an_id_that_stays_the_same_across_retries(db, settings):
    import httpx

    from insights.sender import outbox_send_due
    from insights.services.webhooks import DELIVERY_HEADER

    settings.WEBHOOK_RETRY_BASE_SECONDS = 0.0
    SentimentSettings.objects.update_or_create(
        pk=SentimentSettings.SINGLETON_PK,
        defaults={"webhook_url": "http://127.0.0.1:9/hook", "webhook_secret": "s"},
    )
    alert = _stored_webhook_alert()
    seen = []

    def handler(request):
        seen.append(request)
        return httpx.Response(500 if len(seen) < 3 else 200)

    client = httpx.Client(transport=httpx.MockTransport(handler))
    assert [outbox_send_due(client=client) for _ in range(3)] == [0, 0, 1]
    ids = [(r.headers[DELIVERY_HEADER], json.loads(r.content)["id"]) for r in seen]
    assert ids == [(f"alert-{alert.pk}", f"alert-{alert.pk}")] * 3


def test_webhook_delivery_is_signed_so_receivers_can_verify_it(db):
    import httpx

    from insights.sender import outbox_send_due
    from insights.services.webhooks import SIGNATURE_HEADER, webhook_verify

    SentimentSettings.objects.update_or_create(
        pk=SentimentSettings.SINGLETON_PK,
        defaults={"webhook_url": "http://127.0.0.1:9/hook", "webhook_secret": "receiver-secret"},
    )
    _stored_webhook_alert()
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    assert outbox_send_due(client=httpx.Client(transport=httpx.MockTransport(handler))) == 1
    request = seen[0]
    assert webhook_verify(
        secret="receiver-secret", header=request.headers[SIGNATURE_HEADER], body=request.content
    )
    assert not webhook_verify(
        secret="another-secret", header=request.headers[SIGNATURE_HEADER], body=request.content
    )


# --------------------------------------------------------------------------- pages escape


@pytest.fixture
def hostile(db):
    queue = QueueFactory(name="Hostile")
    rep = RepresentativeFactory(queues=[queue])
    sup = SupervisorFactory(queues=[queue])
    admin = AdminFactory()
    customer = CustomerFactory(name=SCRIPT)
    conversation = ConversationFactory(queue=queue, representative=rep, customer=customer, subject=SCRIPT)
    Message.objects.create(
        conversation=conversation,
        seq=1,
        sender=Sender.CUSTOMER,
        text=SCRIPT,
        scoring_status=ScoringStatus.SCORED,
        sentiment_score=-0.5,
        sentiment_level=-2,
    )
    Conversation.objects.filter(pk=conversation.pk).update(
        last_seq=1, sentiment_level=-2, sentiment_score=-0.5
    )
    return {"rep": rep, "sup": sup, "admin": admin, "conversation": conversation}


def _pages(conversation):
    from tests.test_access_matrix import http_endpoints

    for name, _route, kwargs in http_endpoints():
        if name in ("logout",) or name.startswith("api:"):
            continue
        values = {}
        for k in kwargs:
            if k == "conversation_id":
                values[k] = conversation.pk
            elif k == "token":
                values[k] = conversation.customer_token
            elif k == "seq":
                values[k] = 1
            else:
                values = None
                break
        if values is not None:
            yield name, reverse(name, kwargs=values)


def test_html_in_customer_text_is_stored_verbatim_and_escaped_on_every_page(hostile):
    conversation = hostile["conversation"]
    assert Message.objects.get(conversation=conversation, seq=1).text == SCRIPT
    rendered = []
    for role in ("rep", "sup", "admin", None):
        client = Client()
        if role:
            client.force_login(hostile[role].user)
        for name, url in _pages(conversation):
            response = client.get(url)
            if response.status_code != 200 or "html" not in response.get("Content-Type", ""):
                continue
            body = response.content.decode()
            assert "<script>alert(" not in body, f"{name} as {role} renders customer HTML unescaped"
            assert "onerror=alert(1)>" not in body.replace("&gt;", ""), (
                f"{name} as {role}: unescaped attribute"
            )
            if "&lt;script&gt;alert(" in body:
                rendered.append((role, name))
    # The hostile text did reach the pages that show it (escaped).
    names = {name for _role, name in rendered}
    assert {"conversations:monitor", "conversations:workspace", "conversations:chat"} <= names, rendered


FORMULAS = ['=HYPERLINK("http://evil.example","x")', "+1+2", "-3*4", "@SUM(A1:A9)", "\tcmd", "\rcmd"]


def _csv_rows(response) -> list[list[str]]:
    import csv
    import io

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(response.content.decode("utf-8"), newline="")))


def test_the_corrections_export_neutralises_formula_cells(hostile):
    conversation, rep = hostile["conversation"], hostile["rep"]
    from insights.services.corrections import sentiment_correction_create

    for seq, text in enumerate(FORMULAS[:4], start=2):
        message = Message.objects.create(
            conversation=conversation,
            seq=seq,
            sender=Sender.CUSTOMER,
            text=text,
            scoring_status=ScoringStatus.SCORED,
            sentiment_level=0,
        )
        sentiment_correction_create(message=message, staff=rep, corrected_level=-2)
    client = Client()
    client.force_login(hostile["admin"].user)
    rows = _csv_rows(client.get(reverse("insights:corrections") + "?format=csv"))
    assert rows == [["text", "label"], *[["'" + text, "0"] for text in FORMULAS[:4]]]


def test_the_dashboard_export_neutralises_formula_cells(hostile):
    conversation = hostile["conversation"]
    from conversations.models import Queue

    for i, name in enumerate(FORMULAS):
        queue = Queue.objects.create(name=f"{name}{i}")
        ConversationFactory(queue=queue, language=name[:16])
    client = Client()
    client.force_login(hostile["admin"].user)
    rows = _csv_rows(client.get(reverse("insights:dashboard_export")))
    header, body = rows[0], rows[1:]
    assert len(body) == len(FORMULAS) + 1
    queues = {row[header.index("queue")] for row in body}
    assert queues == {"Hostile", *("'" + f"{name}{i}" for i, name in enumerate(FORMULAS))}
    languages = {row[header.index("language")] for row in body} - {""}
    assert languages == {"'" + name[:16] for name in FORMULAS}

    def is_number(cell: str) -> bool:
        try:
            float(cell)
        except ValueError:
            return False
        return True

    for row in body:  # negative scores are numbers, which spreadsheets do not run
        assert not any(
            cell.startswith(("=", "+", "-", "@", "\t", "\r")) and not is_number(cell) for cell in row
        ), row
    assert conversation.pk in {int(row[0]) for row in body}


# --------------------------------------------------------------------------- websockets


@pytest.fixture
def no_model(settings):
    """Input handling is measured here, not scoring: keep the model out of these sockets."""
    settings.SENTIMENT_SCORER = "tests.test_access_matrix.no_scorer"


@database_sync_to_async
def _ws_world():
    queue = QueueFactory(name="WS bad input")
    rep = RepresentativeFactory(queues=[queue])
    sup = SupervisorFactory(queues=[queue])
    other_queue = QueueFactory(name="Someone else's")
    other = ConversationFactory(queue=other_queue, representative=RepresentativeFactory(queues=[other_queue]))
    conversation = ConversationFactory(queue=queue, representative=rep)
    return {"rep": rep, "sup": sup, "conversation": conversation, "other": other}


async def _raw(comm, text: str | None = None, data: bytes | None = None) -> None:
    await comm.send_to(text_data=text, bytes_data=data)


async def _socket_still_works(comm) -> None:
    await send(comm, type="ping")
    await next_frame(comm, "pong", timeout=10)


MALFORMED = [
    ("{not json", None, "invalid_json"),
    ("   ", None, "invalid_json"),
    ("[1, 2, 3]", None, "invalid"),
    ('"just a string"', None, "invalid"),
    ("null", None, "invalid"),
    ('{"no_type": 1}', None, "invalid"),
    ('{"type": 5}', None, "invalid"),
    ('{"type": "no.such.event"}', None, "unknown_type"),
    ('{"type": "' + "x" * 5000 + '"}', None, "unknown_type"),
    ("[" * 100000 + "]" * 100000, None, "invalid_json"),
    (None, b"\xff\xfe binary", "invalid_json"),
]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("no_model")
async def test_malformed_frames_and_unknown_event_types_on_every_websocket_route():
    w = await _ws_world()
    sockets = {
        "staff": await staff_socket(w["rep"]),
        "monitor": await monitor_socket(w["sup"], w["conversation"].pk),
        "chat": await chat_socket(w["conversation"]),
        "integrations": await integration_socket(
            (
                await database_sync_to_async(integration_token_create)(
                    name="bad input", scopes=["read_sentiment"]
                )
            )[1]
        ),
    }
    from sentiment_admin.routing import websocket_urlpatterns

    # The last route is the catch-all that refuses every other path (no frames ever reach it).
    assert len(websocket_urlpatterns) - 1 == len(sockets), "a new websocket route: add it to this test"
    try:
        for route, comm in sockets.items():
            for text, data, code in MALFORMED:
                await _raw(comm, text, data)
                error = await next_frame(comm, "error", timeout=10)
                assert error["code"] == code, (route, (text or "")[:40], error)
                assert error["message"], error
                assert len(json.dumps(error)) < 1000, "errors must not echo huge input back"
            await _socket_still_works(comm)
    finally:
        await close_all(*sockets.values())
    assert not await database_sync_to_async(Message.objects.exists)()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("no_model")
async def test_bad_field_values_in_known_events_get_clear_errors():
    w = await _ws_world()
    rep = await staff_socket(w["rep"])
    chat = await chat_socket(w["conversation"])
    try:
        for frame, code in (
            ({"type": "catch_up", "conversation": "abc", "after_seq": 0}, "invalid"),
            ({"type": "catch_up", "conversation": 1.5, "after_seq": 0}, "invalid"),
            ({"type": "catch_up", "conversation": w["conversation"].pk, "after_seq": -1}, "invalid"),
            ({"type": "catch_up", "conversation": True, "after_seq": 0}, "invalid"),
            ({"type": "catch_up", "conversation": 987654, "after_seq": 0}, "not_found"),
            ({"type": "catch_up", "conversation": w["other"].pk, "after_seq": 0}, "not_found"),
            ({"type": "message.send", "conversation": w["other"].pk, "text": "hi"}, "not_found"),
            ({"type": "conversation.snooze", "conversation": w["other"].pk, "minutes": 5}, "not_found"),
            ({"type": "conversation.snooze", "conversation": w["conversation"].pk, "minutes": -5}, "invalid"),
            ({"type": "notification.ack", "notification": 987654}, "not_found"),
            ({"type": "presence.set", "presence": "on_the_moon"}, "invalid_presence"),
            (
                {
                    "type": "message.send",
                    "conversation": w["conversation"].pk,
                    "text": "x",
                    "client_id": "c" * 500,
                },
                "invalid",
            ),
        ):
            await rep.send_json_to(frame)
            error = await next_frame(rep, "error", timeout=10)
            assert error["code"] == code, (frame, error)
        for frame, code in (
            ({"type": "message.send", "text": ""}, "empty"),
            ({"type": "message.send", "text": " \n\t "}, "empty"),
            ({"type": "message.send", "text": None}, "invalid"),
            ({"type": "message.send", "text": {"nested": "object"}}, "invalid"),
            ({"type": "message.send", "text": "x" * 4001}, "too_long"),
            ({"type": "message.send", "text": ONE_MB, "client_id": "big"}, "too_long"),
            ({"type": "catch_up", "after_seq": "zero"}, "invalid"),
        ):
            await chat.send_json_to(frame)
            error = await next_frame(chat, "error", timeout=10)
            assert error["code"] == code, (frame["type"], str(frame.get("text"))[:20], error)
            assert len(json.dumps(error)) < 2000, "errors must not echo the 1 MB message back"
        await _socket_still_works(rep)
        await _socket_still_works(chat)
    finally:
        await close_all(rep, chat)
    assert not await database_sync_to_async(Message.objects.exists)()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("no_model")
async def test_unknown_and_other_peoples_conversations_cannot_be_monitored_or_chatted():
    w = await _ws_world()
    cookie = await session_cookie(w["rep"])
    for path in (f"/ws/monitor/{w['other'].pk}/", "/ws/monitor/987654/", "/ws/monitor/0/"):
        await connect(path, cookie=cookie, expect=False)
    for token in ("unknown-token-0123456789", "a" * 64, "../../etc/passwd"):
        from channels.testing import WebsocketCommunicator

        from sentiment_admin.asgi import application
        from tests.conversations.wsutil import open_socket

        comm = WebsocketCommunicator(
            application, f"/ws/chat/{token}/", headers=[(b"origin", b"http://testserver")]
        )
        connected, code = await open_socket(comm, timeout=10)
        assert not connected and code == 4404, (token, code)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("no_model")
async def test_a_flood_on_the_chat_socket_is_rate_limited_and_nothing_is_lost(settings):
    settings.CUSTOMER_RATE_LIMIT_PER_MINUTE = 5
    w = await _ws_world()
    chat = await chat_socket(w["conversation"])
    try:
        for i in range(8):
            await send(chat, type="message.send", text=f"flood {i}", client_id=f"f-{i}")
        acks = [await next_frame(chat, "message.ack", client_id=f"f-{i}", timeout=10) for i in range(5)]
        errors = [await next_frame(chat, "error", timeout=10) for _ in range(3)]
    finally:
        await close_all(chat)
    assert [a["seq"] for a in acks] == [1, 2, 3, 4, 5]
    assert {e["code"] for e in errors} == {"rate_limited"}
    assert all(e["retry_after"] > 0 and "per minute" in e["message"] for e in errors)
    assert sorted(e["client_id"] for e in errors) == ["f-5", "f-6", "f-7"]
    stored = await database_sync_to_async(_customer_messages)(w["conversation"].pk)
    assert stored == [(i + 1, f"flood {i}") for i in range(5)]


@pytest.mark.model
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("scoring_runtime")
async def test_emoji_mixed_language_and_html_messages_are_scored_and_delivered_verbatim():
    w = await _ws_world()
    rep = await staff_socket(w["rep"])
    chat = await chat_socket(w["conversation"])
    texts = ["😡😡😡", "Hola, I need help con mi pedido, c'est urgent!", SCRIPT, "\u200b\u200bok\u200b"]
    try:
        for i, text in enumerate(texts):
            await send(chat, type="message.send", text=text, client_id=i)
            await next_frame(chat, "message.ack", client_id=i)
        created = [await next_frame(rep, "message.created", seq=i + 1) for i in range(len(texts))]
        scored = [
            await next_frame(rep, "conversation.scored", seq=i + 1, timeout=60) for i in range(len(texts))
        ]
    finally:
        await close_all(rep, chat)
    assert [c["text"] for c in created] == texts
    assert all("level" in s for s in scored)
    conversation_id = w["conversation"].pk

    def statuses():
        return list(
            Message.objects.filter(conversation_id=conversation_id)
            .order_by("seq")
            .values_list("scoring_status", flat=True)
        )

    final = await wait_for(lambda: (s := statuses()) and ScoringStatus.PENDING not in s and s)
    assert set(final) <= {ScoringStatus.SCORED, ScoringStatus.NOT_SCORED}
    assert await database_sync_to_async(_customer_messages)(conversation_id) == list(
        enumerate(texts, start=1)
    )


# --------------------------------------------------------------------------- numbers, dates, JSON, NUL
# One parsing helper (sentiment_admin.inputs) behind every door: query strings, forms, REST
# bodies and websocket frames answer 400 with the API's JSON error body (or an error frame).

BAD_WHOLE_NUMBERS = ["²", "١٢", "1" * 4000, "1.9", "Infinity", "NaN", "1e400", "0x10", " 1", "", "9" * 20]


def _whole_number_error(name: str) -> dict:
    return {"error": {"code": "invalid", "message": f"'{name}' must be a whole number."}}


@pytest.mark.parametrize("value", BAD_WHOLE_NUMBERS[:-2] + ["9" * 20])
def test_rest_query_string_numbers_are_parsed_strictly(api, value):
    url = reverse("api:messages", args=[api["conversation"].pk])
    response = api["client"].get(url, {"after_seq": value})
    assert response.status_code == 400
    assert response.json() == _whole_number_error("after_seq")


@pytest.mark.parametrize(
    "raw",
    [
        b'{"text": "hi", "client_id": NaN}',
        b'{"text": "hi", "client_id": Infinity}',
        b'{"text": "hi", "client_id": -Infinity}',
        b'{"text": "hi", "client_id": 1e400}',
    ],
    ids=["nan", "infinity", "minus-infinity", "1e400"],
)
def test_rest_refuses_non_finite_json_numbers(api, raw):
    response = api["post"](raw=raw)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"
    assert _customer_messages(api["conversation"].pk) == []


@pytest.mark.parametrize("depth", [33, 500, 5000])
def test_rest_refuses_deeply_nested_json(api, depth):
    raw = b'{"text": "hi", "extra": ' + b"[" * depth + b"]" * depth + b"}"
    response = api["post"](raw=raw)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"
    assert _customer_messages(api["conversation"].pk) == []


@pytest.mark.parametrize("value", [1.9, 1.0, "²", True, 10**30, "1" * 4000, [1]])
def test_rest_ids_in_bodies_are_parsed_strictly(api, value):
    url = reverse("api:replies", args=[api["conversation"].pk])
    response = api["client"].post(
        url, data=json.dumps({"text": "hi", "representative": value}), content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json() == _whole_number_error("representative")
    assert not Message.objects.exists()


@pytest.mark.parametrize("value", [1.9, 10**30, -3, 0])
def test_rest_queue_ids_are_parsed_strictly(api, value):
    response = api["client"].post(
        reverse("api:conversations"), data=json.dumps({"queue": value}), content_type="application/json"
    )
    assert response.status_code == 400
    expected = (
        _whole_number_error("queue")
        if value in (1.9, 10**30)
        else {"error": {"code": "invalid", "message": "'queue' must be at least 1."}}
    )
    assert response.json() == expected


def test_rest_unicode_digits_are_not_a_queue_id(api):
    response = api["client"].post(
        reverse("api:conversations"), data=json.dumps({"queue": "²"}), content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_queue"


def test_rest_strips_nul_and_controls_from_names_and_refuses_them_in_client_ids(api):
    response = api["client"].post(
        reverse("api:conversations"),
        data=json.dumps(
            {
                "queue": api["queue"].pk,
                "subject": "Re\x00fund",
                "customer": {"name": "Ann\x00 \u202eEvil\x07", "external_id": "ext\x00-1", "phone": 5551234},
            }
        ),
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    conversation = Conversation.objects.select_related("customer").get(pk=response.json()["id"])
    assert (conversation.customer.name, conversation.customer.external_id, conversation.subject) == (
        "Ann Evil",
        "ext-1",
        "Refund",
    )
    assert conversation.customer.phone == "5551234"
    response = api["post"](text="hi", client_id="abc\x00def")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert _customer_messages(api["conversation"].pk) == []


def test_an_unknown_api_url_answers_json_not_an_html_page(api):
    for url in ("/api/no-such-thing/", f"/api/conversations/{'9' * 5000}/messages/"):
        response = api["client"].get(url)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
        assert len(response.content) < 300


def test_errors_never_echo_unbounded_input(api, db):
    huge = "z" * 200_000  # under the 256 kB body limit
    response = api["client"].post(
        reverse("api:conversations"),
        data=json.dumps({"queue": api["queue"].pk, "channel": huge}),
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_channel"
    assert len(response.content) < 300
    url = reverse("api:replies", args=[api["conversation"].pk])
    response = api["client"].post(
        url, data=json.dumps({"text": "hi", "sender": huge}), content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_sender"
    assert len(response.content) < 300
    staff = Client()
    staff.force_login(api["conversation"].representative.user)
    response = staff.post(
        reverse("api:presence"), data=json.dumps({"presence": huge}), content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_presence"
    assert len(response.content) < 300


@pytest.mark.parametrize("minutes", [1.9, "²", 10**30, "Infinity"])
def test_snooze_minutes_are_whole_numbers(api, minutes):
    sup = SupervisorFactory(queues=[api["queue"]])
    client = Client()
    client.force_login(sup.user)
    url = reverse("api:snooze", args=[api["conversation"].pk])
    response = client.post(url, data=json.dumps({"minutes": minutes}), content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {
        "error": {"code": "invalid", "message": "minutes must be a whole number between 0 and 1440."}
    }


@pytest.fixture
def pages(db):
    queue = QueueFactory(name="Pages")
    sup = SupervisorFactory(queues=[queue])
    rep = RepresentativeFactory(queues=[queue])
    conversation = ConversationFactory(queue=queue)
    client = Client()
    client.force_login(sup.user)
    return {"client": client, "conversation": conversation, "rep": rep, "queue": queue}


@pytest.mark.parametrize("value", ["²", "1.9", "1" * 4000, "-1"])
def test_query_strings_and_forms_on_pages_answer_400_json(pages, value):
    client, conversation = pages["client"], pages["conversation"]
    name = "queue"
    response = client.get(reverse("conversations:ongoing"), {"queue": value})
    expected = (
        {"error": {"code": "invalid", "message": "'queue' must be at least 1."}}
        if value == "-1"
        else _whole_number_error(name)
    )
    assert (response.status_code, response.json()) == (400, expected)
    response = client.post(reverse("conversations:assign", args=[conversation.pk]), {"representative": value})
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("'representative' must be")
    response = client.post(reverse("conversations:transfer", args=[conversation.pk]), {"queue": value})
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("'queue' must be")
    assert Conversation.objects.get(pk=conversation.pk).representative_id is None


@pytest.mark.parametrize(
    "query", [{"to": "9999-12-31"}, {"from": "0001-01-01"}, {"to": "2026-02-30"}, {"to": "²⁰²⁶-01-01"}]
)
def test_dashboard_and_export_refuse_dates_off_the_calendar(pages, query):
    for name in ("insights:dashboard", "insights:dashboard_export"):
        response = pages["client"].get(reverse(name), query)
        assert response.status_code == 400, name
        assert response.json()["error"]["code"] == "invalid_date"


def test_dashboard_and_export_work_at_the_last_allowed_date(pages):
    for name in ("insights:dashboard", "insights:dashboard_export"):
        response = pages["client"].get(reverse(name), {"from": "1970-01-01", "to": "9999-12-30"})
        assert response.status_code == 200, name


def test_chat_start_cleans_the_name_and_refuses_a_bad_queue(db, client):
    queue = QueueFactory(name="Start")
    response = client.post(reverse("conversations:chat_start"), {"name": "Bo\x00b\u202e", "queue": "²"})
    assert (response.status_code, response.json()) == (400, _whole_number_error("queue"))
    response = client.post(
        reverse("conversations:chat_start"), {"name": "Bo\x00b\u202e", "queue": str(queue.pk)}
    )
    assert response.status_code == 302
    assert Conversation.objects.select_related("customer").get().customer.name == "Bob"
    response = client.get("/chat/abc%00def0123456789/")
    assert response.status_code == 404


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("no_model")
async def test_websocket_frames_are_parsed_by_the_same_rules():
    w = await _ws_world()
    rep = await staff_socket(w["rep"])
    cid = w["conversation"].pk
    try:
        for raw, expected in (
            (
                '{"type": "catch_up", "conversation": NaN, "after_seq": 0}',
                ("invalid_json", "NaN is not a JSON number."),
            ),
            (
                '{"type": "catch_up", "conversation": Infinity, "after_seq": 0}',
                ("invalid_json", "Infinity is not a JSON number."),
            ),
            (
                '{"type": "catch_up", "conversation": 1e400, "after_seq": 0}',
                ("invalid_json", "A number in the JSON is too large."),
            ),
            (
                '{"type": "ping", "x": ' + "[" * 40 + "]" * 40 + "}",
                ("invalid_json", "The frame is nested deeper than 32 levels."),
            ),
            (
                '{"type": "catch_up", "conversation": "²", "after_seq": 0}',
                ("invalid", "'conversation' must be a whole number."),
            ),
            (
                '{"type": "catch_up", "conversation": %d, "after_seq": 1.9}' % cid,
                ("invalid", "'after_seq' must be a whole number."),
            ),
            (
                '{"type": "catch_up", "conversation": %s, "after_seq": 0}' % ("9" * 4000),
                ("invalid", "'conversation' must be a whole number."),
            ),
            (
                '{"type": "conversation.snooze", "conversation": %d, "minutes": 1.9}' % cid,
                ("invalid", "'minutes' must be a whole number."),
            ),
            ('{"type": "presence.set", "presence": "%s"}' % ("p" * 500_000), ("invalid_presence", None)),
        ):
            await _raw(rep, raw)
            error = await next_frame(rep, "error", timeout=10)
            assert error["code"] == expected[0], (raw[:60], error)
            if expected[1] is not None:
                assert error == {"type": "error", "code": expected[0], "message": expected[1]}
            assert len(json.dumps(error)) < 300
        await _socket_still_works(rep)
    finally:
        await close_all(rep)


def test_a_correction_of_an_opted_out_conversation_is_refused_over_http(hostile):
    conversation = hostile["conversation"]
    Conversation.objects.filter(pk=conversation.pk).update(scoring_opt_out=True)
    client = Client()
    client.force_login(hostile["rep"].user)
    response = client.post(
        reverse("insights:correct", args=[conversation.pk, 1]), {"level": "2"}, HTTP_ACCEPT="application/json"
    )
    assert response.status_code == 400
    assert response.json() == {
        "ok": False,
        "error": "This customer opted out of sentiment analysis: their messages are not corrected.",
    }
    from insights.models import SentimentCorrection

    assert not SentimentCorrection.objects.exists()


# --------------------------------------------------------------------------- throttles


def test_anonymous_chat_starts_are_throttled_per_address(db, settings):
    settings.CHAT_STARTS_PER_ADDRESS = 2
    queue = QueueFactory(name="Throttle")
    for i in range(2):
        response = Client().post(
            reverse("conversations:chat_start"),
            {"name": f"C{i}", "queue": queue.pk},
            REMOTE_ADDR="203.0.113.5",
        )
        assert response.status_code == 302
    refused = Client().post(
        reverse("conversations:chat_start"), {"name": "C3", "queue": queue.pk}, REMOTE_ADDR="203.0.113.5"
    )
    assert refused.status_code == 429
    retry_after = int(refused["Retry-After"])
    assert (
        f"Too many chats started from your address. Try again in {retry_after} seconds."
        in refused.content.decode()
    )
    assert Conversation.objects.count() == 2
    elsewhere = Client().post(
        reverse("conversations:chat_start"), {"name": "D", "queue": queue.pk}, REMOTE_ADDR="198.51.100.1"
    )
    assert elsewhere.status_code == 302


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("no_model")
async def test_catch_up_and_ping_are_throttled_per_socket(settings):
    settings.SOCKET_PINGS_PER_MINUTE = 3
    settings.SOCKET_CATCH_UPS_PER_MINUTE = 2
    w = await _ws_world()
    chat = await chat_socket(w["conversation"])
    rep = await staff_socket(w["rep"])
    try:
        for comm in (chat, rep):
            for _ in range(3):
                await send(comm, type="ping")
                await next_frame(comm, "pong", timeout=10)
            await send(comm, type="ping")
            error = await next_frame(comm, "error", timeout=10)
            assert error["code"] == "rate_limited" and 0 < error["retry_after"] <= 60
            assert error == {
                "type": "error",
                "code": "rate_limited",
                "retry_after": error["retry_after"],
                "message": "Too many ping frames on this socket; wait a moment.",
            }
        for _ in range(2):
            await send(rep, type="catch_up", conversation=w["conversation"].pk, after_seq=0)
            await next_frame(rep, "catch_up.done", timeout=10)
        await send(rep, type="catch_up", conversation=w["conversation"].pk, after_seq=0)
        error = await next_frame(rep, "error", timeout=10)
        assert (error["code"], error["message"]) == (
            "rate_limited",
            "Too many catch_up frames on this socket; wait a moment.",
        )
        # Another socket of the same person is not affected.
        other = await staff_socket(w["rep"])
        await send(other, type="catch_up", conversation=w["conversation"].pk, after_seq=0)
        await next_frame(other, "catch_up.done", timeout=10)
        await close_all(other)
    finally:
        await close_all(chat, rep)


def test_every_page_sends_a_content_security_policy_without_inline_script_or_style(hostile):
    checked = set()
    for role in ("rep", "sup", "admin", None):
        client = Client()
        if role:
            client.force_login(hostile[role].user)
        for name, url in [
            *_pages(hostile["conversation"]),
            ("login", "/login/"),
            ("admin", "/django-admin/login/"),
        ]:
            response = client.get(url)
            if "html" not in response.get("Content-Type", ""):
                continue
            policy = dict(
                part.strip().split(" ", 1)
                for part in response["Content-Security-Policy"].split(";")
                if part.strip()
            )
            assert policy["script-src"] == "'self'", name
            assert policy["style-src"] == (
                "'self' 'unsafe-inline'" if url.startswith("/django-admin/") else "'self'"
            ), name
            assert policy["connect-src"] == "'self' ws://testserver wss://testserver"
            assert (policy["frame-ancestors"], policy["object-src"]) == ("'none'", "'none'")
            body = response.content.decode()
            if not url.startswith("/django-admin/"):
                assert " style=" not in body and "<style" not in body, name
                assert all(
                    'src="' in tag or "application/json" in tag for tag in body.split("<script")[1:]
                ), name
            checked.add(name)
    assert {"conversations:monitor", "conversations:workspace", "insights:dashboard", "login"} <= checked
