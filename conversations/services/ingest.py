"""Getting conversations and messages in: every message is stored (with its sequence number)
before anything else happens; events and scoring follow the commit.

Sequence numbers: ``message_ingest`` and ``representative_reply`` lock the conversation row
(``select_for_update``) and bump ``last_seq`` inside one transaction, so two writers on
PostgreSQL never get the same number (and SQLite serialises writers anyway). ``(conversation, seq)`` is also unique in the database.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from conversations import events, frames
from conversations.models import (
    Channel,
    Conversation,
    ConversationStatus,
    Customer,
    IntegrationScope,
    IntegrationToken,
    Message,
    Queue,
    ScoringStatus,
    Sender,
    StaffMember,
)
from conversations.services.queue_routing import conversation_route
from insights import for_conversations
from sentiment_admin.inputs import echo
from sentiment_admin.text import clean_single_line, is_blank, strip_controls


class MessageRejected(ValueError):
    """A message that cannot be stored. ``code`` is stable (clients switch on it)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class RateLimited(MessageRejected):
    def __init__(self, message: str, retry_after: int = 60) -> None:
        super().__init__("rate_limited", message)
        self.retry_after = retry_after


def clean_text(text) -> str:
    """Validate and normalise a message text; raise MessageRejected with a clear reason.

    Control characters (including NUL and CR) and lone surrogates are removed, except
    newline and tab; a text of only invisible characters is empty (``sentiment_admin.text``).
    HTML and bidi controls are *not* touched: text is stored verbatim, every page escapes it
    and shows it through ``display_text``.
    """
    if not isinstance(text, str):
        raise MessageRejected("invalid", "The message text must be a string.")
    cleaned = strip_controls(text)
    if is_blank(cleaned):
        raise MessageRejected("empty", "The message is empty.")
    limit = settings.MESSAGE_MAX_CHARS
    if len(cleaned) > limit:
        raise MessageRejected(
            "too_long", f"The message is {len(cleaned)} characters long; the limit is {limit}."
        )
    return cleaned


# --- Integration tokens ------------------------------------------------------------------------


def _token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def integration_scopes_clean(scopes) -> list[str]:
    """Known scopes, de-duplicated, in the canonical order; ValueError names an unknown one."""
    wanted = set()
    for scope in scopes:
        for part in str(scope).replace(",", " ").split():
            if part not in IntegrationScope.values:
                raise ValueError(f"Unknown scope {part!r}; use {', '.join(IntegrationScope.values)}.")
            wanted.add(part)
    if not wanted:
        raise ValueError(f"A key needs at least one scope: {', '.join(IntegrationScope.values)}.")
    return [s for s in IntegrationScope.values if s in wanted]


def integration_token_create(*, name: str, scopes=(IntegrationScope.INGEST,)) -> tuple[IntegrationToken, str]:
    """A new API key for a channel integration. Returns the row and the key (shown once)."""
    name = (name or "").strip()
    if not name:
        raise ValueError("A key needs a name.")
    raw = "sc_" + secrets.token_urlsafe(32)
    token = IntegrationToken.objects.create(
        name=name[:100],
        scopes=" ".join(integration_scopes_clean(scopes)),
        key_hash=_token_hash(raw),
        prefix=raw[:10],
    )
    return token, raw


def integration_token_revoke(*, token_id: int) -> IntegrationToken:
    """Deactivate exactly one key, by its id (``IntegrationToken.DoesNotExist`` otherwise)."""
    token = IntegrationToken.objects.get(pk=token_id)
    if token.active:
        token.active = False
        token.save(update_fields=["active"])
    return token


def integration_token_authenticate(raw: str | None) -> IntegrationToken | None:
    if not raw:
        return None
    token = IntegrationToken.objects.filter(key_hash=_token_hash(raw), active=True).first()
    if token is not None:
        IntegrationToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    return token


# --- Conversations -----------------------------------------------------------------------------


@transaction.atomic
def conversation_create(
    *,
    queue: Queue,
    customer_name: str,
    customer_email: str = "",
    customer_external_id: str = "",
    customer_phone: str = "",
    channel: str = Channel.CHAT,
    subject: str = "",
    scoring_opt_out: bool = False,
    external_id: str = "",
) -> Conversation:
    """Open a conversation in a queue and offer it to the queue's representatives (queue
    routing). A known customer ``external_id`` reuses its customer.

    With an ``external_id`` (the integration's own id for the conversation) the call is
    idempotent: creating it again returns the stored conversation, marked ``replayed``, and
    changes nothing (whatever the other arguments say).
    """
    if channel not in Channel.values:
        raise MessageRejected(
            "invalid_channel", f"Unknown channel {echo(channel)}; use one of {', '.join(Channel.values)}."
        )
    external_id = external_id_clean(external_id)
    if external_id:
        existing = _by_external_id(external_id)
        if existing is not None:
            return existing
    name = clean_single_line(customer_name or "")[:150] or "Customer"
    customer = None
    if customer_external_id:
        customer = Customer.objects.filter(external_id=customer_external_id).first()
    if customer is None:
        customer = Customer.objects.create(
            name=name,
            email=customer_email or "",
            phone=customer_phone or "",
            external_id=customer_external_id or "",
        )
    try:
        with transaction.atomic():  # a savepoint: a concurrent create with the same id loses cleanly
            conversation = Conversation.objects.create(
                queue=queue,
                customer=customer,
                channel=channel,
                subject=(subject or "")[:200],
                scoring_opt_out=bool(scoring_opt_out),
                status=ConversationStatus.OPEN,
                external_id=external_id,
            )
    except IntegrityError:
        existing = _by_external_id(external_id) if external_id else None
        if existing is None:
            raise
        return existing
    conversation = Conversation.objects.select_related("queue", "customer", "representative__user").get(
        pk=conversation.pk
    )
    payload = frames.conversation_payload(conversation)
    transaction.on_commit(lambda: events.broadcast_conversation_updated(payload=payload))
    if conversation_route(conversation=conversation) is not None:
        conversation = Conversation.objects.select_related("queue", "customer", "representative__user").get(
            pk=conversation.pk
        )
    return conversation


def _by_external_id(external_id: str) -> Conversation | None:
    conversation = (
        Conversation.objects.select_related("queue", "customer", "representative__user")
        .filter(external_id=external_id)
        .first()
    )
    if conversation is not None:
        conversation.replayed = True
    return conversation


def _rate_limit_check(conversation: Conversation) -> None:
    limit = settings.CUSTOMER_RATE_LIMIT_PER_MINUTE
    if not limit:
        return
    since = timezone.now() - timedelta(seconds=60)
    recent = Message.objects.filter(
        conversation__customer_id=conversation.customer_id, sender=Sender.CUSTOMER, created_at__gte=since
    ).count()
    if recent >= limit:
        raise _rate_limited(limit)


def _rate_limited(limit: int) -> RateLimited:
    return RateLimited(f"Too many messages: at most {limit} per minute. Please wait a moment and try again.")


def _locked(conversation_id: int) -> Conversation:
    """The conversation row, locked until the transaction ends."""
    return (
        Conversation.objects.select_for_update(of=("self",))
        .select_related("queue", "customer", "representative__user")
        .get(pk=conversation_id)
    )


def _next_seq(conversation: Conversation) -> Conversation:
    """Allocate the next sequence number of a locked conversation; return the fresh row."""
    if conversation.status == ConversationStatus.CLOSED:
        raise MessageRejected("conversation_closed", "This conversation is closed.")
    # The row was read under its lock (SQLite: inside the writer's IMMEDIATE transaction), so
    # its last_seq is the current one: no F() expression and re-read needed.
    conversation.last_seq += 1
    conversation.last_message_at = timezone.now()
    conversation.save(update_fields=["last_seq", "last_message_at"])
    return conversation


MAX_CLIENT_ID = 100


def client_id_clean(value, *, field: str = "client_id") -> str:
    """A sender's own id for its message ("" when it gave none): a string or a number, of
    printable characters only (no NUL: PostgreSQL refuses it)."""
    if value is None:
        return ""
    if (
        isinstance(value, bool)
        or not isinstance(value, (str, int))
        or (isinstance(value, int) and abs(value) >= 10**MAX_CLIENT_ID)
        or (isinstance(value, str) and not value.isprintable())
        or len(str(value)) > MAX_CLIENT_ID
    ):
        raise MessageRejected(
            "invalid", f"'{field}' must be a string or number of at most {MAX_CLIENT_ID} characters."
        )
    return str(value)


def external_id_clean(value) -> str:
    """An integration's own id for a conversation: the same rule as a message's client_id."""
    return client_id_clean(value, field="external_id")


def _replayed(conversation_id: int, client_key: str, *, text: str, sender: str) -> Message | None:
    """The stored message with this client_id (marked ``replayed``), if any. The same id with
    another text or sender is a different message reusing the id: ``client_id_conflict``."""
    already = Message.objects.filter(conversation_id=conversation_id, client_id=client_key).first()
    if already is None:
        return None
    return _replay_checked(already, client_key, text=text, sender=sender)


def _replay_checked(already: Message, client_key: str, *, text: str, sender: str) -> Message:
    if already.text != text or already.sender != sender:
        raise MessageRejected(
            "client_id_conflict",
            f"client_id {client_key!r} already names message {already.seq} of this conversation, with another "
            "text or sender; use a new client_id for a new message.",
        )
    already.replayed = True
    return already


class _Replay(Exception):
    """Rolls back an ingest that found its client_id already stored (the seq it took back)."""

    def __init__(self, message_id: int) -> None:
        super().__init__(message_id)
        self.message_id = message_id


def message_ingest(*, conversation: Conversation | int, text, client_id: str | int | None = None) -> Message:
    """Store a customer message and queue it for scoring (after commit).

    Raises MessageRejected (``empty``, ``too_long``, ``invalid``, ``conversation_closed``,
    ``client_id_conflict``) or RateLimited. Monitoring off or an opted-out conversation → stored
    as ``skipped``. With a ``client_id`` the call is idempotent: sending the same message again
    (after a lost acknowledgement) returns the stored one, with its sequence number, and stores
    nothing; the same ``client_id`` with another text is refused (``client_id_conflict``).

    Two statements in the usual case (the web process's one database thread runs every
    ingest): ``_take_seq``'s UPDATE … RETURNING, and the INSERT. Anything unusual (a closed
    or missing conversation, a copy racing in with the same client_id) takes the
    row-lock-first path, ``_message_ingest_locked``.
    """
    conversation_id = conversation if isinstance(conversation, int) else conversation.pk
    client_key = client_id_clean(client_id)
    cleaned = clean_text(text)
    try:
        with transaction.atomic():
            taken = _take_seq(conversation_id, client_key)
            if taken is None:
                return _message_ingest_locked(conversation_id, client_key, cleaned)
            return _store_customer_message(taken, client_key, cleaned)
    except _Replay as replay:  # the seq it took is rolled back
        return _replayed_message(replay.message_id, client_key, text=cleaned, sender=Sender.CUSTOMER)
    except IntegrityError:
        if not client_key:
            raise
        # A copy with the same client_id committed while this one waited for the row: the
        # locked path finds it.
        with transaction.atomic():
            return _message_ingest_locked(conversation_id, client_key, cleaned)


def _take_seq(conversation_id: int, client_key: str) -> Conversation | None:
    """One statement: lock the open conversation's row and take its next seq, and read what
    the ingest needs beside (the stored message with this client_id, the customer's messages
    of the last minute for the rate limit). None when the row is missing or closed.

    PostgreSQL (and SQLite ≥ 3.35) ``UPDATE … RETURNING``. The subqueries read as of the
    statement's start: a copy of the same client_id committed while this one waited for the
    lock is caught by the unique constraint instead, and the rate limit may miss messages of
    the same instant, as a COUNT outside the transaction would."""
    conv_table = connection.ops.quote_name(Conversation._meta.db_table)
    msg_table = connection.ops.quote_name(Message._meta.db_table)
    now = timezone.now()
    limit = settings.CUSTOMER_RATE_LIMIT_PER_MINUTE
    adapt = connection.ops.adapt_datetimefield_value
    params: list = [adapt(now), conversation_id, ConversationStatus.CLOSED]
    if client_key:
        replay_sql = (
            f"(SELECT m.id FROM {msg_table} m WHERE m.conversation_id = {conv_table}.id AND m.client_id = %s)"
        )
        params.append(client_key)
    else:
        replay_sql = "NULL"
    if limit:
        recent_sql = (
            f"(SELECT COUNT(*) FROM {msg_table} m INNER JOIN {conv_table} c ON m.conversation_id = c.id"
            f" WHERE c.customer_id = {conv_table}.customer_id AND m.sender = %s AND m.created_at >= %s)"
        )
        params += [Sender.CUSTOMER, adapt(now - timedelta(seconds=60))]
    else:
        recent_sql = "0"
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {conv_table} SET last_seq = last_seq + 1, last_message_at = %s"
            f" WHERE id = %s AND status <> %s"
            f" RETURNING last_seq, queue_id, representative_id, customer_id, scoring_opt_out,"
            f" {replay_sql}, {recent_sql}",
            params,
        )
        row = cursor.fetchone()
    if row is None:
        return None
    last_seq, queue_id, representative_id, customer_id, opted_out, replayed_id, recent = row
    if replayed_id is not None:
        raise _Replay(replayed_id)
    if limit and recent >= limit:
        raise _rate_limited(limit)
    return Conversation(
        pk=conversation_id,
        queue_id=queue_id,
        representative_id=representative_id,
        customer_id=customer_id,
        scoring_opt_out=bool(opted_out),
        status=ConversationStatus.OPEN,
        last_seq=last_seq,
        last_message_at=now,
    )


def _replayed_message(message_id: int, client_key: str, *, text: str, sender: str) -> Message:
    already = Message.objects.get(pk=message_id)
    return _replay_checked(already, client_key, text=text, sender=sender)


def _message_ingest_locked(conversation_id: int, client_key: str, cleaned: str) -> Message:
    """The row lock first, then the replay lookup and the seq: one statement each."""
    conv = _locked(conversation_id)
    if client_key:
        # Under the conversation's row lock, so two copies racing in cannot both be stored.
        already = _replayed(conversation_id, client_key, text=cleaned, sender=Sender.CUSTOMER)
        if already is not None:
            return already
    conv = _next_seq(conv)
    _rate_limit_check(conv)
    return _store_customer_message(conv, client_key, cleaned)


def _store_customer_message(conv: Conversation, client_key: str, cleaned: str) -> Message:
    status = ScoringStatus.PENDING if for_conversations.should_score(conv) else ScoringStatus.SKIPPED
    message = Message.objects.create(
        conversation=conv,
        seq=conv.last_seq,
        sender=Sender.CUSTOMER,
        text=cleaned,
        client_id=client_key,
        scoring_status=status,
    )
    message.conversation = conv
    payload = frames.message_payload(message)
    rep_id = conv.representative_id
    conversation_id = conv.pk

    def after_commit() -> None:
        events.broadcast_message_created(payload=payload, customer_payload=None, representative_id=rep_id)
        if status == ScoringStatus.PENDING:
            for_conversations.scoring_enqueue([message.pk], conversation_id=conversation_id)

    transaction.on_commit(after_commit)
    return message


@transaction.atomic
def representative_reply(
    *,
    conversation: Conversation | int,
    text,
    author: StaffMember | None = None,
    sender: str = Sender.REPRESENTATIVE,
    client_id: str | int | None = None,
) -> Message:
    """Store a representative (or bot) reply; it is never scored and reaches the customer.

    Idempotent by ``client_id`` like ``message_ingest`` (a replay is marked ``replayed``; the
    same id with another text is ``client_id_conflict``). Who may be the author is the door's
    business (the staff socket and the API allow only the conversation's representative).
    """
    if sender not in (Sender.REPRESENTATIVE, Sender.BOT, Sender.SYSTEM):
        raise MessageRejected(
            "invalid_sender", f"A reply's sender is representative, bot or system, not {echo(sender)}."
        )
    conversation_id = conversation if isinstance(conversation, int) else conversation.pk
    client_key = client_id_clean(client_id)
    cleaned = clean_text(text)
    conv = _locked(conversation_id)
    if client_key:
        already = _replayed(conversation_id, client_key, text=cleaned, sender=sender)
        if already is not None:
            return already
    conv = _next_seq(conv)
    message = Message.objects.create(
        conversation=conv,
        seq=conv.last_seq,
        sender=sender,
        author=author,
        text=cleaned,
        client_id=client_key,
        scoring_status=ScoringStatus.NOT_APPLICABLE,
    )
    message.conversation = conv
    if author is not None:
        message.author = author
    payload = frames.message_payload(message)
    customer_payload = frames.message_payload(message, for_customer=True)
    rep_id = conv.representative_id
    transaction.on_commit(
        lambda: events.broadcast_message_created(
            payload=payload, customer_payload=customer_payload, representative_id=rep_id
        )
    )
    return message
