"""The live scoring pipeline: pending customer messages → scorer (micro-batches) → stored
results → conversation sentiment → alerts → events.

Flow
----
1. ``message_ingest`` stores a customer message as ``pending`` (or ``skipped`` when monitoring
   is off or the conversation opted out) and, after commit, calls ``scoring_enqueue([id])``.
2. ``scoring_enqueue`` hands the ids to the scoring runtime:

   - **inprocess** (embedded default): a ``ScoringBatcher`` task on the server's event loop
     (Daphne's loop). The hand-over is ``loop.call_soon_threadsafe``, so it works from a sync
     view's thread, a ``database_sync_to_async`` thread, or the loop itself.
   - **worker** (``SENTIMENT_SCORING_MODE=worker``, Redis): ``{"type": "score.messages",
     "message_ids": [...]}`` is sent to the ``sentiment-scoring`` channel and served by
     ``manage.py runworker sentiment-scoring`` (``insights.consumers.ScoringWorkerConsumer``),
     each running the same batcher. Any number of workers on any number of machines.
3. The batcher waits ``SENTIMENT_BATCH_WINDOW_MS`` after the first id, drains what arrived
   (up to ``SENTIMENT_MAX_BATCH`` per forward pass), then:
   ``scoring_claim`` (DB, via ``database_sync_to_async``) → ``scorer.score`` **in a worker
   thread** (``asyncio.to_thread``; never on the event loop) → ``scoring_results_store`` (DB).
   Events are sent by ``transaction.on_commit`` callbacks in the ``database_sync_to_async``
   thread; ``async_to_sync`` runs them on the batcher's own loop, so the in-memory layer is
   only ever used from its loop.
4. Crash recovery: when a runtime starts (the first consumer connecting in a Daphne process,
   or a worker's first message) every message still ``pending`` is queued again, and every
   runtime sweeps every 15 s for messages pending for more than 10 s (stored by another
   process, lost with a Redis restart, or waiting for a model that was unavailable). Storing is
   conditional on the message still being ``pending`` (under the conversation's row lock), so
   a message scored twice is stored once and announced once.
5. Announcements: a stored score is in the outbox (``Message.announce_pending``, set in the
   storing transaction) until its ``conversation.scored`` reached the channel layer. The
   sweepers send again, every 2 s, what is still there after 3 s: a send that failed while
   Redis restarted, or a process that died between commit and send. A screen that caught up
   in between still gets the score; one that already has it drops the repeat (per-socket
   ``(conversation, seq)`` log in ``conversations.consumers``).

Privacy: ``mask_personal_data`` replaces e-mail addresses, card numbers and phone numbers
before any text reaches the model.
"""

from __future__ import annotations

import asyncio
import bisect
import contextvars
import logging
import threading
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from asgiref.sync import SyncToAsync, async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from conversations import events as conversation_events
from conversations import frames as conversation_frames
from conversations.models import Conversation, Message, ScoringStatus, Sender
from conversations.selectors import scored_tails
from insights import rules
from insights.levels import level_for_score
from insights.privacy import mask_personal_data
from insights.selectors import alert_states, effective_thresholds_for_queues, sentiment_settings_get
from insights.services.alerts import alerts_evaluate
from insights.services.webhooks import webhook_dispatch_scored
from sentiment_admin import realtime

logger = logging.getLogger(__name__)

DEFAULT_SCORER = "insights.scoring.get_scorer"
RETRY_DELAYS = (0.5, 2.0, 5.0)
# Every runtime also sweeps for messages pending longer than SWEEP_MIN_AGE (a message stored
# by another process, a channel message lost with a Redis restart, a model that came back).
SWEEP_INTERVAL_SECONDS = 15.0
SWEEP_MIN_AGE_SECONDS = 10.0
# ... and, more often, for stored scores whose announcement has not reached the channel layer.
ANNOUNCE_RETRY_INTERVAL_SECONDS = 2.0
ANNOUNCE_RETRY_AGE_SECONDS = 3.0

# --- privacy: insights.privacy.mask_personal_data runs on every text before the model ---


# --- the scorer seam -------------------------------------------------------------------------


def pipeline_scorer():
    """The scorer the pipeline calls: ``settings.SENTIMENT_SCORER`` (a dotted path to a
    zero-argument factory), by default the engine's process singleton ``get_scorer``."""
    return import_string(getattr(settings, "SENTIMENT_SCORER", DEFAULT_SCORER))()


# --- synchronous steps (database) -------------------------------------------------------------


@dataclass(frozen=True)
class ScoringJob:
    message_id: int
    conversation_id: int
    text: str
    language_hint: str | None


@dataclass(frozen=True)
class ScoringOptions:
    multilingual: bool
    base_language: str


def pending_message_ids(*, limit: int = 10_000, older_than_seconds: float | None = None) -> list[int]:
    """Customer messages stored but never scored (crash recovery), oldest first."""
    qs = Message.objects.filter(scoring_status=ScoringStatus.PENDING, sender=Sender.CUSTOMER)
    if older_than_seconds:
        qs = qs.filter(created_at__lt=timezone.now() - timedelta(seconds=older_than_seconds))
    return list(qs.order_by("created_at", "id").values_list("id", flat=True)[:limit])


def scoring_claim(message_ids: Sequence[int]) -> tuple[list[ScoringJob], ScoringOptions]:
    """Load what is still pending; skip it instead when monitoring is off or opted out."""
    org = sentiment_settings_get()
    options = ScoringOptions(multilingual=org.multilingual_enabled, base_language=org.base_language or "en")
    messages = list(
        Message.objects.filter(pk__in=list(message_ids), scoring_status=ScoringStatus.PENDING, sender=Sender.CUSTOMER)
        .select_related("conversation")
        .order_by("conversation_id", "seq")
    )
    skip = [m.pk for m in messages if not org.monitoring_enabled or m.conversation.scoring_opt_out]
    if skip:
        Message.objects.filter(pk__in=skip, scoring_status=ScoringStatus.PENDING).update(
            scoring_status=ScoringStatus.SKIPPED
        )
    jobs = [
        ScoringJob(
            message_id=m.pk,
            conversation_id=m.conversation_id,
            text=mask_personal_data(m.text).strip(),
            language_hint=m.conversation.language or None,
        )
        for m in messages
        if m.pk not in set(skip)
    ]
    return jobs, options


def _as_dict(result) -> dict:
    if isinstance(result, dict):
        return result
    if hasattr(result, "as_dict"):
        return result.as_dict()
    return dict(vars(result))


def scoring_results_store(results: Iterable[tuple[int, object]]) -> int:
    """Store scorer results (``(message_id, ScoreResult or its dict)``), recompute each
    conversation, evaluate alerts, announce after commit. Returns how many were stored.

    A batch is stored in one transaction: its reads do not grow with its size (one UPDATE per
    message and per conversation it moves are the only per-row queries). Should it fail, each
    conversation is stored in its own, so that one conversation's failure does not hold back
    the others' scores (the failure is raised after them).
    Only messages still ``pending`` are stored, under their conversation's row lock, so a
    result delivered twice (a re-queued message) is stored and announced once.
    """
    by_message = {int(message_id): _as_dict(result) for message_id, result in results}
    if not by_message:
        return 0
    delivered: list[int] = []  # filled by the on_commit sends, then cleared from the outbox at once
    try:
        with transaction.atomic():
            return _store_batch(by_message, delivered)
    except Exception:
        by_conversation: dict[int, list[int]] = {}
        for message_id, conversation_id in Message.objects.filter(pk__in=list(by_message)).values_list(
            "id", "conversation_id"
        ):
            by_conversation.setdefault(conversation_id, []).append(message_id)
        if len(by_conversation) < 2:
            raise
        logger.warning("storing a batch of %d conversations failed; storing them one by one", len(by_conversation))
        return _store_one_by_one(by_message, by_conversation, delivered)
    finally:
        # Runs now (the batch has committed and announced), or after the callers' own
        # transaction commits: either way after every send.
        transaction.on_commit(partial(_outbox_clear, delivered))


def _store_one_by_one(by_message: dict[int, dict], by_conversation: dict[int, list[int]], delivered: list[int]) -> int:
    stored = 0
    failure: Exception | None = None
    for message_ids in by_conversation.values():
        try:
            with transaction.atomic():
                stored += _store_batch({i: by_message[i] for i in message_ids}, delivered)
        except Exception as exc:
            logger.exception("could not store the scores of %d message(s); they stay pending", len(message_ids))
            failure = failure or exc
    if failure is not None:
        raise failure
    return stored


MESSAGE_SCORE_FIELDS = (
    "language",
    "model_version",
    "scored_at",
    "sentiment_score",
    "sentiment_level",
    "confidence",
    "probabilities",
    "scoring_status",
    "announce_pending",
)
CONVERSATION_SENTIMENT_FIELDS = ("sentiment_score", "sentiment_level", "sentiment_trend", "start_sentiment_level", "language")


def _store_batch(by_message: dict[int, dict], delivered: list[int]) -> int:
    """Inside a transaction: lock the batch's conversations (in id order, so that two workers
    never wait on each other in a circle), store what is still pending in each one's seq
    order, continue each conversation's sentiment and alert state from one read of each."""
    conversations = {
        c.pk: c
        for c in Conversation.objects.select_for_update(of=("self",))
        .select_related("queue", "customer", "representative__user")
        .filter(pk__in=Message.objects.filter(pk__in=list(by_message)).values("conversation_id"))
        .order_by("pk")
    }
    messages = list(
        Message.objects.filter(pk__in=list(by_message), scoring_status=ScoringStatus.PENDING, sender=Sender.CUSTOMER)
        .order_by("conversation_id", "seq")
    )  # read under the locks: what another batch or worker stored meanwhile is no longer pending
    if not messages:
        return 0
    org = sentiment_settings_get()
    thresholds = effective_thresholds_for_queues({c.queue_id for c in conversations.values()}, org=org)
    tails = scored_tails(conversations)
    in_alert = alert_states(conversations)
    webhook_payloads: list[dict] = []
    now = timezone.now()
    moved: dict[int, Conversation] = {}
    for message in messages:
        conversation = conversations[message.conversation_id]
        message.conversation = conversation
        supported = _apply_result(message, by_message[message.pk], now)
        tail = tails.setdefault(conversation.pk, [])
        # The conversation's sentiment follows its latest scored message; an older message
        # scored late (re-queued) is announced but does not move the conversation backwards.
        moves_conversation = supported and (not tail or message.seq > tail[-1][0])
        if supported:
            bisect.insort(tail, (message.seq, message.sentiment_score, message.sentiment_level))
        if moves_conversation:
            recent = tail[-rules.AGGREGATE_WINDOW :]
            sentiment = rules.conversation_sentiment([score for _, score, _ in recent])
            conversation.sentiment_score = sentiment.score
            conversation.sentiment_level = sentiment.level
            conversation.sentiment_trend = sentiment.trend
            if conversation.start_sentiment_level is None:
                conversation.start_sentiment_level = sentiment.level
            if message.language:
                conversation.language = message.language
            moved[conversation.pk] = conversation
        payload = conversation_frames.scored_payload(
            message,
            conversation_score=conversation.sentiment_score,
            conversation_level=conversation.sentiment_level,
            trend=conversation.sentiment_trend,
        )
        transaction.on_commit(
            partial(_announce_scored, payload, conversation.representative_id, message.pk, delivered)
        )
        webhook_payloads.append(payload)
        if moves_conversation:
            alerts_evaluate(
                conversation=conversation,
                message=message,
                message_levels=[level for _, _, level in recent],
                org=org,
                thresholds=thresholds[conversation.queue_id],
                in_alert=in_alert.setdefault(conversation.pk, set()),
            )
    # One UPDATE a row: Django's bulk_update (CASE WHEN per field) measured 3x slower for 8 rows.
    for message in messages:
        message.save(update_fields=MESSAGE_SCORE_FIELDS)
    for conversation in moved.values():
        conversation.save(update_fields=CONVERSATION_SENTIMENT_FIELDS)
    if org.webhook_url and org.webhook_scored_messages:
        transaction.on_commit(partial(webhook_dispatch_scored, payloads=webhook_payloads))
    return len(messages)


def _apply_result(message: Message, result: dict, now) -> bool:
    """Copy one scorer result onto its message; whether it was scored (a supported language)."""
    supported = bool(result.get("supported")) and result.get("score") is not None
    message.language = (result.get("language") or "")[:16]
    message.model_version = (result.get("model_version") or "")[:100]
    message.scored_at = now
    if supported:
        score = float(result["score"])
        message.sentiment_score = score
        # insights.levels is the one place for the bands (the scorer's own level agrees).
        message.sentiment_level = int(level_for_score(score))
        message.confidence = result.get("confidence")
        message.probabilities = result.get("probabilities")
        message.scoring_status = ScoringStatus.SCORED
    else:
        message.scoring_status = ScoringStatus.NOT_SCORED
    message.announce_pending = True
    return supported


def _announce_scored(payload: dict, representative_id: int | None, message_id: int, delivered: list[int]) -> None:
    if conversation_events.broadcast_conversation_scored(payload=payload, representative_id=representative_id):
        delivered.append(message_id)


def _outbox_clear(message_ids: list[int]) -> None:
    if not message_ids:
        return
    try:
        Message.objects.filter(pk__in=message_ids).update(announce_pending=False)
    except Exception:  # the sweeper announces them again; screens drop a repeated (conversation, seq)
        logger.exception("could not clear %d announced score(s) from the outbox", len(message_ids))


def scored_announcements_resend(*, older_than_seconds: float | None = None, limit: int = 500) -> int:
    """Announce again the scores whose ``conversation.scored`` never reached the channel layer
    (a send failed while Redis restarted, or the process died between commit and send).
    Oldest first; stops at the first failure, the layer being still down. Returns how many
    went out. Screens drop a score they already have: the same (conversation, seq)."""
    age = ANNOUNCE_RETRY_AGE_SECONDS if older_than_seconds is None else older_than_seconds
    messages = list(
        Message.objects.filter(announce_pending=True, scored_at__lt=timezone.now() - timedelta(seconds=age))
        .select_related("conversation")
        .order_by("scored_at", "id")[:limit]
    )
    delivered: list[int] = []
    for message in messages:
        payload = conversation_frames.scored_payload_as_of(message)
        if not conversation_events.broadcast_conversation_scored(
            payload=payload, representative_id=message.conversation.representative_id
        ):
            break
        delivered.append(message.pk)
    _outbox_clear(delivered)
    if delivered:
        logger.info("announced %d score(s) again that had not reached the channel layer", len(delivered))
    return len(delivered)


# --- the asynchronous runtime ------------------------------------------------------------------


def _warm_up() -> None:
    scorer = pipeline_scorer()
    if hasattr(scorer, "warm_up"):
        scorer.warm_up()


def _score_texts(texts: list[str], **options) -> list:
    """Runs in a worker thread: getting the scorer may load the model, scoring is CPU work."""
    return pipeline_scorer().score(texts, **options)


async def score_batch(message_ids: Sequence[int]) -> int:
    """Claim, score (in a thread) and store one batch. Returns how many texts went through
    the model (0 when everything was already scored or skipped)."""
    jobs, options = await database_sync_to_async(scoring_claim)(list(message_ids))
    if not jobs:
        return 0
    results = await asyncio.to_thread(
        _score_texts,
        [job.text for job in jobs],
        language_hints=[job.language_hint for job in jobs],
        multilingual=options.multilingual,
        base_language=options.base_language,
    )
    pairs = [(job.message_id, result) for job, result in zip(jobs, results)]
    await database_sync_to_async(scoring_results_store)(pairs)
    return len(jobs)


class ScoringBatcher:
    """Collects message ids on one event loop and scores them in micro-batches."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[list[int]] = asyncio.Queue()
        self.task: asyncio.Task | None = None
        self.sweeper: asyncio.Task | None = None
        self.batches = 0  # forward passes run (tests and benchmarks read it)

    def alive(self) -> bool:
        return not self.loop.is_closed() and self.task is not None and not self.task.done()

    def start(self) -> None:
        # A fresh context: the batcher may be started from inside a request (a REST message
        # before any websocket), and a task inherits its creator's context, including
        # asgiref's executor for that request, which is gone once the request ends.
        self.task = self.loop.create_task(
            self._run(), name="sentiment-scoring-batcher", context=contextvars.Context()
        )
        self.sweeper = self.loop.create_task(
            self._sweep(), name="sentiment-scoring-sweeper", context=contextvars.Context()
        )

    async def _sweep(self) -> None:
        async def submit(ids: list[int]) -> None:
            self.submit_nowait(ids)

        await _sweep_forever(submit)

    def submit_nowait(self, message_ids: Iterable[int]) -> None:
        """Queue ids; call on the batcher's loop (``loop.call_soon_threadsafe`` from elsewhere)."""
        ids = [int(i) for i in message_ids]
        if ids:
            self.queue.put_nowait(ids)

    async def _collect(self) -> list[int]:
        ids = list(await self.queue.get())
        window = settings.SENTIMENT_BATCH_WINDOW_MS / 1000
        if window > 0:
            await asyncio.sleep(window)
        while not self.queue.empty():
            ids.extend(self.queue.get_nowait())
        return list(dict.fromkeys(ids))  # de-duplicate, keep order

    async def _run(self) -> None:
        from insights.scoring import ModelUnavailable

        try:  # load the model now (in a thread), not on the first customer's message
            await asyncio.to_thread(_warm_up)
        except ModelUnavailable as exc:
            logger.error("sentiment model unavailable; messages are stored and stay pending: %s", exc)
        except Exception:
            logger.exception("could not warm up the sentiment model")
        try:
            recovered = await database_sync_to_async(pending_message_ids)()
            if recovered:
                logger.info("re-queueing %d message(s) left pending", len(recovered))
                self.submit_nowait(recovered)
        except Exception:
            logger.exception("could not look for pending messages")
        size = max(1, settings.SENTIMENT_MAX_BATCH)
        while True:
            ids = await self._collect()
            for start in range(0, len(ids), size):
                await self._score_with_retries(ids[start : start + size])

    async def _score_with_retries(self, chunk: list[int]) -> None:
        from insights.scoring import ModelUnavailable

        for attempt, delay in enumerate((*RETRY_DELAYS, None)):
            try:
                if await score_batch(chunk):
                    self.batches += 1
                return
            except asyncio.CancelledError:
                raise
            except ModelUnavailable as exc:
                logger.error("sentiment model unavailable, %d message(s) stay pending: %s", len(chunk), exc)
                return
            except Exception:
                if delay is None:
                    logger.exception("scoring failed %d times; %d message(s) stay pending", attempt + 1, len(chunk))
                    return
                logger.warning("scoring failed (attempt %d), retrying in %.1fs", attempt + 1, delay, exc_info=True)
                await asyncio.sleep(delay)

    async def stop(self) -> None:
        for task in (self.sweeper, self.task):
            if task is not None and not task.done():
                task.cancel()
                try:
                    await task
                except (asyncio.CancelledError, Exception):
                    pass


async def _sweep_forever(submit) -> None:
    loop = asyncio.get_running_loop()
    next_pending_sweep = loop.time() + SWEEP_INTERVAL_SECONDS
    while True:
        await asyncio.sleep(min(ANNOUNCE_RETRY_INTERVAL_SECONDS, SWEEP_INTERVAL_SECONDS))
        try:
            await database_sync_to_async(scored_announcements_resend)()
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("could not announce pending scores")
        if loop.time() < next_pending_sweep:
            continue
        next_pending_sweep = loop.time() + SWEEP_INTERVAL_SECONDS
        try:
            ids = await database_sync_to_async(pending_message_ids)(older_than_seconds=SWEEP_MIN_AGE_SECONDS)
            if ids:
                logger.info("sweep: %d message(s) still pending, queued again", len(ids))
                await submit(ids)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("could not sweep for pending messages")


_lock = threading.Lock()
_batcher: ScoringBatcher | None = None
_requeued_loops: weakref.WeakSet = weakref.WeakSet()
_worker_mode_sweepers: list[asyncio.Task] = []


def _batcher_for_running_loop() -> ScoringBatcher:
    global _batcher
    loop = asyncio.get_running_loop()
    with _lock:
        if _batcher is None or _batcher.loop is not loop or not _batcher.alive():
            _batcher = ScoringBatcher(loop)
            _batcher.start()
        return _batcher


def scoring_mode() -> str:
    return settings.SENTIMENT_SCORING_MODE


async def scoring_runtime_start() -> ScoringBatcher | None:
    """Make sure this process scores: called on the serving loop by every consumer's connect
    (cheap after the first) and by the scoring worker. In worker mode a Daphne process only
    re-queues what was left pending, once per loop; workers do the scoring."""
    if scoring_mode() == "worker":
        loop = asyncio.get_running_loop()
        if loop not in _requeued_loops:
            _requeued_loops.add(loop)
            _worker_mode_sweepers.append(
                loop.create_task(
                    _sweep_forever(_send_to_workers), name="sentiment-sweeper", context=contextvars.Context()
                )
            )
            try:
                ids = await database_sync_to_async(pending_message_ids)()
                await _send_to_workers(ids or [])  # an empty message still wakes a worker up
            except Exception:  # a full or unreachable layer must not refuse the socket
                logger.exception("could not hand pending messages to the scoring workers")
        return None
    return _batcher_for_running_loop()


async def scoring_worker_batcher() -> ScoringBatcher:
    """The batcher of a ``runworker sentiment-scoring`` process (whatever the mode setting)."""
    return _batcher_for_running_loop()


async def scoring_runtime_stop() -> None:
    """Cancel this process's batcher (tests, shutdown)."""
    global _batcher
    batcher = _batcher
    _batcher = None
    loop = asyncio.get_running_loop()
    if batcher is not None and batcher.loop is loop:
        await batcher.stop()
    for task in list(_worker_mode_sweepers):
        if task.get_loop() is loop:
            task.cancel()
            _worker_mode_sweepers.remove(task)
        elif task.done():
            _worker_mode_sweepers.remove(task)


def scoring_runtime_current() -> ScoringBatcher | None:
    return _batcher


async def _send_to_workers(message_ids: list[int]) -> None:
    layer = get_channel_layer()
    if not message_ids:
        await layer.send(realtime.SCORING_CHANNEL, {"type": realtime.SCORE_MESSAGES, "message_ids": []})
        return
    for start in range(0, len(message_ids), 500):
        await layer.send(
            realtime.SCORING_CHANNEL,
            {"type": realtime.SCORE_MESSAGES, "message_ids": message_ids[start : start + 500]},
        )


async def _start_and_submit(message_ids: list[int]) -> None:
    batcher = await scoring_runtime_start()
    if batcher is not None:
        batcher.submit_nowait(message_ids)


def scoring_enqueue(message_ids: Sequence[int]) -> None:
    """Hand stored messages to the scoring runtime. Sync; call after commit."""
    ids = [int(i) for i in message_ids]
    if not ids:
        return
    if scoring_mode() == "worker":
        try:
            async_to_sync(_send_to_workers)(ids)
        except Exception:
            logger.exception("could not reach the scoring workers; %d message(s) stay pending", len(ids))
        return
    batcher = _batcher
    if batcher is not None and batcher.alive():
        batcher.loop.call_soon_threadsafe(batcher.submit_nowait, ids)
        return
    if getattr(SyncToAsync.threadlocal, "main_event_loop", None) is not None:
        # A sync view or database_sync_to_async under the server's loop: start it there.
        async_to_sync(_start_and_submit)(ids)
        return
    logger.info("no scoring runtime in this process; %d message(s) stay pending until the server starts", len(ids))
