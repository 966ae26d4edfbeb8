"""The live scoring pipeline: pending customer messages → scorer (micro-batches) → stored
results → conversation sentiment → alerts → events. One module per stage:

- ``claim``: what is still pending, and the texts to score (``scoring_claim``), under a
  lease so that two processes never score one message at once; a message is skipped instead
  when monitoring is off or its conversation opted out.
- ``store``: results onto messages and conversations, alerts, in one transaction
  (``scoring_results_store``).
- ``outbox``: a stored score is announced after commit and kept in the outbox
  (``Message.announce_pending``) until its ``conversation.scored`` reached the channel layer.
- ``batcher``: the asyncio micro-batcher and its sweepers (``ScoringBatcher``).
- ``transport``: the hand-over to ``runworker sentiment-scoring`` processes (worker mode).
- ``runtime``: the process's one batcher, where and when it starts (``scoring_runtime_start``),
  and ``scoring_enqueue``, the door ingest uses.

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
   Events are scheduled by ``transaction.on_commit`` callbacks in the ``database_sync_to_async``
   thread onto the batcher's own loop (``sentiment_admin.broadcast.send_soon``: the thread does
   not wait for them, and the in-memory layer is only ever used from its loop).
4. Where and when the runtime starts: ``sentiment_admin.asgi`` starts it on the serving loop
   when a websocket opens (cheap after the first); a scoring worker starts its batcher at its
   first channel message; a sync view's ``scoring_enqueue`` starts it on the server's loop.
5. Crash recovery: when a runtime starts every message still ``pending`` is queued again, and
   every runtime sweeps every 15 s for messages pending for more than 10 s (stored by another
   process, lost with a Redis restart, or waiting for a model that was unavailable). The same
   ids thus reach several processes: each scores only what it leased
   (``SENTIMENT_SCORING_LEASE_SECONDS``, one conditional UPDATE), and a crashed holder's
   messages are taken over when its lease expires. Storing is still conditional on the
   message being ``pending`` (under the conversation's row lock), so a message scored twice
   (a holder slower than its lease) is stored once and announced once.
6. Announcements: a score leaves the outbox once its send succeeded (one UPDATE for the
   scores that succeeded meanwhile, on the database thread). The sweepers send again, every 2 s, what is still in the outbox after 3 s:
   a send that failed while Redis restarted, or a process that died between commit and send.
   A screen that caught up in between still gets the score; one that already has it drops the
   repeat (per-socket ``(conversation, seq)`` log in ``conversations.consumers``).

Privacy: ``insights.privacy.mask_personal_data`` replaces e-mail addresses, card numbers and
phone numbers before any text reaches the model (in ``claim``).
"""
