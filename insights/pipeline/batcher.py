"""The asyncio micro-batcher: collects message ids on one event loop, claims, scores in a
worker thread (never on the loop) and stores, in batches of up to ``SENTIMENT_MAX_BATCH``; and
the sweepers that queue again what was left pending and announce what missed the layer."""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Iterable, Sequence

from channels.db import database_sync_to_async
from django.conf import settings
from django.utils.module_loading import import_string

from insights.pipeline.claim import pending_message_ids, scoring_claim, scoring_release
from insights.pipeline.outbox import scored_announcements_resend
from insights.pipeline.store import scoring_failed_store, scoring_results_store

logger = logging.getLogger(__name__)

DEFAULT_SCORER = "insights.scoring.get_scorer"
RETRY_DELAYS = (0.5, 2.0, 5.0)
# Every runtime also sweeps for messages pending longer than SWEEP_MIN_AGE (a message stored
# by another process, a channel message lost with a Redis restart, a model that came back).
SWEEP_INTERVAL_SECONDS = 15.0
SWEEP_MIN_AGE_SECONDS = 10.0
# ... and, more often, for stored scores whose announcement has not reached the channel layer.
ANNOUNCE_RETRY_INTERVAL_SECONDS = 2.0


def pipeline_scorer():
    """The scorer the pipeline calls: ``settings.SENTIMENT_SCORER`` (a dotted path to a
    zero-argument factory), by default the engine's process singleton ``get_scorer``."""
    return import_string(getattr(settings, "SENTIMENT_SCORER", DEFAULT_SCORER))()


def _warm_up() -> None:
    scorer = pipeline_scorer()
    if hasattr(scorer, "warm_up"):
        scorer.warm_up()


def _score_texts(texts: list[str], **options) -> list:
    """Runs in a worker thread: getting the scorer may load the model, scoring is CPU work."""
    return pipeline_scorer().score(texts, **options)


class ScorerFailed(Exception):
    """The scorer itself raised on these texts (not the database, not a missing model)."""


async def score_batch(message_ids: Sequence[int]) -> int:
    """Claim, score (in a thread) and store one batch. Returns how many texts went through
    the model (0 when everything was already scored or skipped)."""
    jobs, options = await database_sync_to_async(scoring_claim)(list(message_ids))
    if not jobs:
        return 0
    from insights.scoring import ModelUnavailable

    try:
        results = await asyncio.to_thread(
            _score_texts,
            [job.text for job in jobs],
            language_hints=[job.language_hint for job in jobs],
            multilingual=options.multilingual,
            base_language=options.base_language,
        )
    except ModelUnavailable:
        await database_sync_to_async(scoring_release)([job.message_id for job in jobs])
        raise
    except Exception as exc:
        raise ScorerFailed(f"{type(exc).__name__}: {exc}") from exc
    # strict: a scorer that returned fewer results must not leave messages silently unscored.
    pairs = [(job.message_id, result) for job, result in zip(jobs, results, strict=True)]
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

        await sweep_forever(submit)

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

    async def _score_one_by_one(self, chunk: list[int]) -> None:
        """After a batch failed in the scorer: each message once, at once; only those that
        fail alone are retried (so the good ones are not held back by the retries)."""
        from insights.scoring import ModelUnavailable

        failed = []
        for message_id in chunk:
            try:
                if await score_batch([message_id]):
                    self.batches += 1
            except asyncio.CancelledError:
                raise
            except ScorerFailed:
                failed.append(message_id)
            except ModelUnavailable:
                return
            except Exception:
                logger.exception("scoring message %s failed; it stays pending", message_id)
        for message_id in failed:
            await self._score_with_retries([message_id], tried=1)

    async def _score_with_retries(self, chunk: list[int], *, tried: int = 0) -> None:
        """Score a chunk. When a chunk of several fails, each message is scored alone at once
        (a poison message never holds back the ones batched with it); a message that still
        fails alone is retried after ``RETRY_DELAYS`` and then stored as ``failed`` with the
        reason. A missing model keeps everything pending (it is not the messages' fault)."""
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
            except ScorerFailed as exc:
                if len(chunk) > 1:
                    logger.warning(
                        "scoring a batch of %d failed; scoring them one by one", len(chunk), exc_info=True
                    )
                    await self._score_one_by_one(chunk)
                    return
                if delay is None:
                    attempts = tried + attempt + 1
                    logger.exception(
                        "scoring message %s failed %d times; stored as failed", chunk[0], attempts
                    )
                    reason = f"The scorer failed {attempts} times: {exc}"
                    await database_sync_to_async(scoring_failed_store)(chunk, reason=reason)
                    return
                logger.warning(
                    "scoring failed (attempt %d), retrying in %.1fs", attempt + 1, delay, exc_info=True
                )
                await asyncio.sleep(delay)
            except Exception:  # the database or the layer: the messages stay pending (swept later)
                if delay is None:
                    logger.exception(
                        "scoring failed %d times; %d message(s) stay pending", attempt + 1, len(chunk)
                    )
                    return
                logger.warning(
                    "scoring failed (attempt %d), retrying in %.1fs", attempt + 1, delay, exc_info=True
                )
                await asyncio.sleep(delay)

    async def stop(self) -> None:
        for task in (self.sweeper, self.task):
            if task is not None and not task.done():
                task.cancel()
                try:
                    await task
                except (asyncio.CancelledError, Exception):
                    pass


async def sweep_forever(submit) -> None:
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
