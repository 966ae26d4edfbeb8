"""The outbox sender: stored deliveries (webhook events, calls to Chatwoot's API) sent by one
loop per process, a bounded number at a time, never by a thread per event.

An outbox row (``insights.models.OutboxEntry``'s fields) is stored in the transaction that
caused it; the commit only wakes the sender (``outbox_wake``). Each kind of row registers an
``OutboxKind``: its model and how to send one row. The sender:

- **claims** a due row with a lease, by a conditional UPDATE::

      UPDATE … SET lease_until = now + OUTBOX_LEASE_SECONDS, attempts = attempts + 1
      WHERE id = … AND status = 'pending' AND next_attempt_at <= now
            AND (lease_until IS NULL OR lease_until <= now)

  so two processes (or two sweeps of one) never hold one row at once: on PostgreSQL the second
  UPDATE waits for the first's row lock, then finds the row no longer due; SQLite runs one
  writer at a time. An attempt counts at the claim, so a row that kills its sender still
  reaches its last attempt;
- **sends** it in three steps: ``prepare`` reads what the request needs from the database,
  ``perform`` makes the HTTP request(s) and touches no database, ``record`` stores what the
  kind keeps of each attempt. At most ``OUTBOX_SENDER_CONCURRENCY`` requests are in flight (a
  pool of that many threads runs ``perform``; the loop claims only as many rows as there are
  free slots, so no claimed row waits while its lease runs). The database steps run on the
  loop's thread: one connection per process, and SQLite never sees the senders compete;
- **records** the outcome under its lease: sent; or pending again after the kind's backoff;
  or given up (``failed``, shown on the Integrations page) after the kind's last attempt, or at
  once when waiting cannot help;
- **sweeps** when woken, when the next retry is due, and at least every
  ``OUTBOX_SWEEP_SECONDS``: a row that a stopped process left leased is due again once its
  lease ran out.

One sender per process (``outbox_sender_start``): started with the scoring runtime of a Daphne
process and of each ``runworker sentiment-scoring`` (``insights.pipeline.runtime``), and by
``manage.py outbox_send`` for a deployment that wants it apart. It lives as long as the event
loop that started it. A process that stores a row while no sender runs (a management command,
a sync view before any socket opened) starts one that stops once nothing is pending.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from django.conf import settings
from django.db import close_old_connections
from django.db.models import F, Min, Q
from django.utils import timezone

logger = logging.getLogger(__name__)

PENDING, SENT, FAILED = "pending", "sent", "failed"
# How often an idle sender checks that the loop that started it still runs.
_LIVENESS_SECONDS = 1.0


@dataclass(frozen=True)
class SendOutcome:
    ok: bool
    status_code: int | None = None
    error: str = ""
    retry: bool = True  # False: give up now (another attempt cannot succeed)


@dataclass(frozen=True)
class OutboxKind:
    """One kind of outbox row and how to send one:

    - ``prepare(row)``: database reads only; the request as plain data, or a ``SendOutcome``
      to finish without sending;
    - ``perform(request, client)``: the HTTP request(s), no database; must not raise for an
      expected failure (a refusal, a timeout, a 5xx);
    - ``record(row, request, outcome)``: what the kind stores of each attempt (optional);
    - ``backoff_seconds(n)``: the wait after the n-th failed attempt.

    ``model`` has ``OutboxEntry``'s fields, ``created_at`` among them: ``manage.py
    purge_sentiment`` deletes every kind's rows created before the retention's cut-off."""

    name: str
    model: Any
    prepare: Callable[[Any], Any]
    perform: Callable[[Any, httpx.Client], SendOutcome]
    max_attempts: Callable[[], int]
    backoff_seconds: Callable[[int], float]
    timeout_seconds: Callable[[], float]
    record: Callable[[Any, Any, SendOutcome], None] | None = None
    select_related: tuple[str, ...] = ()


_kinds: dict[str, OutboxKind] = {}


def outbox_kind_register(kind: OutboxKind) -> None:
    """Called from an app's ``ready()``; registering a name again replaces it."""
    _kinds[kind.name] = kind


def outbox_kinds() -> list[OutboxKind]:
    return list(_kinds.values())


def _due(model, now):
    return model.objects.filter(status=PENDING, next_attempt_at__lte=now).filter(
        Q(lease_until__isnull=True) | Q(lease_until__lte=now)
    )


def outbox_claim(kind: OutboxKind, *, limit: int, only_pk: int | None = None, due_by=None) -> list:
    """Lease up to ``limit`` due rows of ``kind`` to the caller, oldest due first, and return
    them (``attempts`` already counting this one). ``due_by``: only rows due by then."""
    now = due_by or timezone.now()
    due = _due(kind.model, now)
    if only_pk is not None:
        due = due.filter(pk=only_pk)
    candidates = list(due.order_by("next_attempt_at", "pk").values_list("pk", flat=True)[: limit * 2])
    lease_until = timezone.now() + timedelta(seconds=settings.OUTBOX_LEASE_SECONDS)
    claimed: list[int] = []
    for pk in candidates:
        if len(claimed) >= limit:
            break
        # The same conditions again: another sender may have claimed it since the read.
        if _due(kind.model, now).filter(pk=pk).update(lease_until=lease_until, attempts=F("attempts") + 1):
            claimed.append(pk)
    if not claimed:
        return []
    rows = kind.model.objects.select_related(*kind.select_related).filter(pk__in=claimed)
    return sorted(rows, key=lambda row: (row.next_attempt_at, row.pk))


def _record(kind: OutboxKind, row, outcome: SendOutcome) -> None:
    now = timezone.now()
    fields: dict[str, Any] = {
        "lease_until": None,
        "last_status_code": outcome.status_code,
        "last_error": (outcome.error or "")[:255],
    }
    if outcome.ok:
        fields.update(status=SENT, sent_at=now)
    elif not outcome.retry or row.attempts >= kind.max_attempts():
        fields["status"] = FAILED
        logger.warning(
            "%s outbox row %s given up after %d attempt(s): %s",
            kind.name,
            row.pk,
            row.attempts,
            outcome.error,
        )
    else:
        fields["next_attempt_at"] = now + timedelta(seconds=kind.backoff_seconds(row.attempts))
    # Under the lease only: had it run out and another sender claimed the row, that one records.
    if not kind.model.objects.filter(pk=row.pk, lease_until=row.lease_until).update(**fields):
        logger.warning("%s outbox row %s: its lease ran out while it was being sent", kind.name, row.pk)


def _crashed(kind: OutboxKind, row, step: str, exc: Exception) -> SendOutcome:
    # A bug in one kind's step must not stop the sender: the row is retried, then given up.
    logger.exception("%s outbox row %s: %s crashed", kind.name, row.pk, step)
    return SendOutcome(ok=False, error=f"{type(exc).__name__}: {exc}")


def _prepare(kind: OutboxKind, row):
    try:
        return kind.prepare(row)
    except Exception as exc:
        return _crashed(kind, row, "prepare", exc)


def _perform(kind: OutboxKind, row, request, client: httpx.Client) -> SendOutcome:
    try:
        return kind.perform(request, client)
    except Exception as exc:
        return _crashed(kind, row, "perform", exc)


def _finish(kind: OutboxKind, row, request, outcome: SendOutcome) -> bool:
    """Store the attempt (the kind's record, then the row's state). True when delivered."""
    try:
        if kind.record is not None and not isinstance(request, SendOutcome):
            kind.record(row, request, outcome)
        _record(kind, row, outcome)
    except Exception:  # its lease runs out and a later sweep sends it again
        logger.exception("%s outbox row %s: could not record the outcome", kind.name, row.pk)
    return outcome.ok


def outbox_send_claimed(kind: OutboxKind, row, client: httpx.Client) -> bool:
    """Send one claimed row in the calling thread and record the outcome. True when delivered."""
    request = _prepare(kind, row)
    outcome = request if isinstance(request, SendOutcome) else _perform(kind, row, request, client)
    return _finish(kind, row, request, outcome)


class _Clients:
    """One HTTP client per kind (its own timeout), shared by the sending threads."""

    def __init__(self, client: httpx.Client | None = None) -> None:
        self._given = client
        self._made: dict[str, httpx.Client] = {}
        self._lock = threading.Lock()

    def for_kind(self, kind: OutboxKind) -> httpx.Client:
        if self._given is not None:
            return self._given
        with self._lock:
            if kind.name not in self._made:
                self._made[kind.name] = httpx.Client(timeout=kind.timeout_seconds())
            return self._made[kind.name]

    def close(self) -> None:
        for client in self._made.values():
            client.close()
        self._made.clear()


def outbox_send_due(
    *, client: httpx.Client | None = None, limit: int = 100, kinds: list[str] | None = None
) -> int:
    """One sweep in the calling thread: claim and send the rows due when it starts, one at a
    time (each sent as soon as it is claimed, each once), up to ``limit``. Returns how many
    were delivered."""
    clients = _Clients(client)
    selected = [kind for kind in outbox_kinds() if kinds is None or kind.name in kinds]
    delivered = tried = 0
    started = timezone.now()
    try:
        for kind in selected:
            while tried < limit:
                rows = outbox_claim(kind, limit=1, due_by=started)
                if not rows:
                    break
                tried += 1
                delivered += outbox_send_claimed(kind, rows[0], clients.for_kind(kind))
    finally:
        clients.close()
    return delivered


def outbox_send_now(kind_name: str, pk: int, *, client: httpx.Client | None = None) -> bool:
    """Claim and send one row now, in the calling thread (the Insights page's test-send)."""
    kind = _kinds[kind_name]
    rows = outbox_claim(kind, limit=1, only_pk=pk)
    if not rows:
        return False
    clients = _Clients(client)
    try:
        return outbox_send_claimed(kind, rows[0], clients.for_kind(kind))
    finally:
        clients.close()


def outbox_next_due() -> float | None:
    """Seconds until the earliest pending row that no sender holds is due (None: none)."""
    now = timezone.now()
    earliest = None
    for kind in outbox_kinds():
        at = kind.model.objects.filter(status=PENDING, lease_until__isnull=True).aggregate(
            at=Min("next_attempt_at")
        )["at"]
        if at is not None and (earliest is None or at < earliest):
            earliest = at
    return None if earliest is None else max(0.0, (earliest - now).total_seconds())


def _anything_pending() -> bool:
    return any(kind.model.objects.filter(status=PENDING).exists() for kind in outbox_kinds())


class OutboxSender:
    """The sender loop (one thread, every database step) and its pool of ``concurrency``
    threads that make the HTTP requests.

    ``persistent``: sweeps until stopped, or until ``owner_loop`` (the event loop that started
    it) is closed; otherwise it stops once nothing is pending or in flight."""

    def __init__(
        self,
        *,
        concurrency: int | None = None,
        persistent: bool = True,
        owner_loop: asyncio.AbstractEventLoop | None = None,
        client: httpx.Client | None = None,
    ) -> None:
        self.concurrency = max(1, concurrency or settings.OUTBOX_SENDER_CONCURRENCY)
        self.persistent = persistent
        self.owner_loop = owner_loop
        self._clients = _Clients(client)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._in_flight = 0  # read and written on the loop's thread only
        self._done: queue.SimpleQueue = queue.SimpleQueue()  # performed, waiting to be recorded
        self._thread: threading.Thread | None = None
        self._turn = 0

    # --- control -------------------------------------------------------------------------

    def start(self) -> OutboxSender:
        self._thread = threading.Thread(target=self.run, name="outbox-sender", daemon=True)
        self._thread.start()
        return self

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not self._stop.is_set()

    def wake(self) -> None:
        self._wake.set()

    def request_stop(self) -> None:
        """Stop claiming; the loop ends once the sends in flight finished (signal-safe)."""
        self._stop.set()
        self._wake.set()

    def stop(self, timeout: float | None = 30.0) -> None:
        """Stop claiming, let the sends in flight finish, and wait for the loop to end."""
        self.request_stop()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def join(self, timeout: float | None = None) -> None:
        """Wait for the loop to end (a sender that is not persistent ends once idle)."""
        if self._thread is not None:
            self._thread.join(timeout)

    def adopt(self, owner_loop: asyncio.AbstractEventLoop | None) -> None:
        """A runtime or a command asked for this process's sender: keep it running."""
        self.owner_loop = owner_loop
        self.persistent = True

    # --- the loop ------------------------------------------------------------------------

    def run(self) -> None:
        pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="outbox-send")
        try:
            while not self._stop.is_set():
                self._wake.clear()
                self._record_done()
                wait = self._sweep(pool)
                if wait is None and self._stop_if_not_woken():
                    break
                self._wait(wait or 0.0)
        finally:
            pool.shutdown(wait=True)
            self._record_done()
            self._clients.close()
            close_old_connections()

    def _record_done(self) -> None:
        while True:
            try:
                kind, row, request, outcome = self._done.get_nowait()
            except queue.Empty:
                return
            _finish(kind, row, request, outcome)
            self._in_flight -= 1

    def _stop_if_not_woken(self) -> bool:
        """A sender that is not persistent stops when idle, unless rows were committed since
        its sweep (``outbox_wake`` sets the flag under the same lock)."""
        with _process_lock:
            if self._wake.is_set():
                return False
            self._stop.set()
            return True

    def _owner_gone(self) -> bool:
        loop = self.owner_loop
        return loop is not None and loop.is_closed()

    def _wait(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self._stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._wake.wait(min(remaining, _LIVENESS_SECONDS)):
                return
            if self._owner_gone():
                self._stop.set()

    def _sweep(self, pool: ThreadPoolExecutor) -> float | None:
        """Claim as many due rows as there are free slots and hand them to the pool. Returns
        how long to wait before the next sweep (None: stop)."""
        interval = settings.OUTBOX_SWEEP_SECONDS
        kinds = outbox_kinds()
        try:
            if kinds:
                self._turn = (self._turn + 1) % len(kinds)
                kinds = kinds[self._turn :] + kinds[: self._turn]  # no kind starves the others
            for kind in kinds:
                free = self.concurrency - self._in_flight
                if free <= 0:
                    break
                for row in outbox_claim(kind, limit=free):
                    request = _prepare(kind, row)
                    if isinstance(request, SendOutcome):  # nothing to send: finished here
                        _finish(kind, row, request, request)
                        continue
                    self._in_flight += 1
                    pool.submit(self._perform, kind, row, request)
            if self._in_flight >= self.concurrency:
                return interval  # a finished send wakes the loop
            next_due = outbox_next_due()
            if not self.persistent and next_due is None and self._in_flight == 0 and not _anything_pending():
                return None
        except Exception:
            logger.exception("the outbox sweep failed; trying again in %.0f s", interval)
            return interval
        finally:
            close_old_connections()
        return interval if next_due is None else min(interval, max(0.05, next_due))

    def _perform(self, kind: OutboxKind, row, request) -> None:
        """In a pool thread: the HTTP part only; the loop records it."""
        outcome = SendOutcome(ok=False, error="not performed")
        try:
            outcome = _perform(kind, row, request, self._clients.for_kind(kind))
        finally:
            self._done.put((kind, row, request, outcome))
            self._wake.set()


_process_lock = threading.Lock()
_process_sender: OutboxSender | None = None


def outbox_sender_start(*, owner_loop: asyncio.AbstractEventLoop | None = None) -> OutboxSender:
    """This process's sender, started if it is not running (cheap after the first call)."""
    global _process_sender
    with _process_lock:
        sender = _process_sender
        if sender is not None and sender.alive():
            sender.adopt(owner_loop)
            return sender
        _process_sender = OutboxSender(owner_loop=owner_loop).start()
        return _process_sender


def outbox_sender_current() -> OutboxSender | None:
    return _process_sender


def outbox_sender_stop(*, owner_loop: asyncio.AbstractEventLoop | None = None) -> None:
    """Stop this process's sender (blocking until its sends in flight end). With ``owner_loop``,
    only when that loop started it."""
    global _process_sender
    with _process_lock:
        sender = _process_sender
        if sender is None or (owner_loop is not None and sender.owner_loop is not owner_loop):
            return
        _process_sender = None
    sender.stop()


def outbox_wake() -> None:
    """Rows were committed: wake this process's sender, or start one that stops once nothing
    is pending. Never raises (it runs in ``on_commit`` callbacks)."""
    global _process_sender
    try:
        with _process_lock:
            sender = _process_sender
            if sender is not None and sender.alive():
                sender.wake()
                return
            _process_sender = OutboxSender(persistent=False).start()
    except Exception:  # the rows are stored; the next sweep of any sender sends them
        logger.exception("could not wake the outbox sender")
