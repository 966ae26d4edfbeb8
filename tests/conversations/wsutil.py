"""Helpers for websocket tests over the real router (``sentiment_admin.asgi.application``).

- ``staff_socket(staff)`` / ``chat_socket(conversation)`` / ``monitor_socket(staff, id)``:
  connected ``WebsocketCommunicator``s, authenticated with a real session cookie.
- ``next_frame(comm, type, **match)``: the next frame of a type (others are kept aside).
- ``scoring_runtime``: fixture that runs the scoring pipeline the way the settings say:
  in-process batcher (embedded default) or a Channels worker on the ``sentiment-scoring``
  channel (Redis: ``SENTIMENT_SCORING_MODE=worker``), and stops it after the test.

With Redis the channel-layer prefix is made unique to this test process, so test runs of
other engineers on the same Redis never hear each other's groups.
"""

from __future__ import annotations

import asyncio
import json
import os
import time

import pytest
from channels.db import database_sync_to_async
from channels.routing import ChannelNameRouter
from channels.testing import WebsocketCommunicator
from channels.worker import Worker
from django.conf import settings
from django.test import Client

from sentiment_admin import realtime
from sentiment_admin.env import redis_pubsub_prefix

ORIGIN = (b"origin", b"http://testserver")
DEFAULT_TIMEOUT = 20.0


def _isolate_channel_layer() -> None:
    """A key prefix of this process's own on each Redis layer (both aliases may share one)."""
    prefix = f"sentiment-test-{os.getpid()}"
    changed = False
    for config in settings.CHANNEL_LAYERS.values():
        if "Redis" not in config["BACKEND"]:
            continue
        wanted = prefix
        if "PubSub" in config["BACKEND"]:
            wanted = redis_pubsub_prefix(prefix, config["CONFIG"]["hosts"][0])
        if config["CONFIG"].get("prefix") != wanted:
            config["CONFIG"] = {**config["CONFIG"], "prefix": wanted}
            changed = True
    if changed:
        from channels.layers import channel_layers

        channel_layers.backends.clear()


_isolate_channel_layer()


def application():
    from sentiment_admin.asgi import application as app

    return app


def _session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


async def session_cookie(staff) -> str:
    return await database_sync_to_async(_session_cookie)(staff.user)


async def open_socket(
    comm: WebsocketCommunicator, *, timeout: float = DEFAULT_TIMEOUT
) -> tuple[bool, int | None]:
    """(open, close code). A consumer refuses by accepting and closing at once with its close
    code (4401, 4404); the Origin check refuses the handshake itself (code None). A ping tells
    the two apart without guessing a delay: a refused socket's close comes before any pong.
    Frames that arrive before the pong are kept in ``comm.pending``."""
    connected, code = await comm.connect(timeout=timeout)
    if not connected:
        return False, code
    comm.pending = getattr(comm, "pending", [])
    await comm.send_json_to({"type": realtime.CLIENT_PING})
    while True:
        message = await comm.receive_output(timeout=timeout)
        if message["type"] == "websocket.close":
            return False, message.get("code")
        frame = json.loads(message.get("text") or "{}")
        if frame.get("type") == realtime.PONG:
            return True, None
        comm.pending.append(frame)


async def connect(
    path: str,
    *,
    cookie: str | None = None,
    expect: bool = True,
    close_code: int | None = None,
    key: str | None = None,
    origin: bool = True,
) -> WebsocketCommunicator:
    headers = [ORIGIN] if origin else []
    if cookie:
        headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={cookie}".encode()))
    if key is not None:
        headers.append((b"authorization", f"Bearer {key}".encode()))
    comm = WebsocketCommunicator(application(), path, headers=headers)
    comm.pending = []
    if expect:
        connected, code = await comm.connect(timeout=DEFAULT_TIMEOUT)
        assert connected, f"{path} refused the connection ({code})"
        return comm
    connected, code = await open_socket(comm)
    assert not connected, f"{path} accepted a connection it should refuse"
    if close_code is not None:
        assert code == close_code, f"{path} closed with {code}, not {close_code}"
    return comm


async def staff_socket(staff) -> WebsocketCommunicator:
    return await connect("/ws/staff/", cookie=await session_cookie(staff))


async def monitor_socket(staff, conversation_id: int, *, expect: bool = True) -> WebsocketCommunicator:
    return await connect(f"/ws/monitor/{conversation_id}/", cookie=await session_cookie(staff), expect=expect)


async def chat_socket(conversation) -> WebsocketCommunicator:
    return await connect(f"/ws/chat/{conversation.customer_token}/")


async def integration_socket(key: str, *, origin: bool = False) -> WebsocketCommunicator:
    """The integrations' event stream, as a server-side client opens it (no Origin header)."""
    return await connect("/ws/integrations/events/", key=key, origin=origin)


def _matches(frame: dict, kind: str, match: dict) -> bool:
    return frame.get("type") == kind and all(frame.get(k) == v for k, v in match.items())


async def next_frame(comm, kind: str, timeout: float = DEFAULT_TIMEOUT, **match) -> dict:
    """The first frame of ``kind`` whose fields equal ``match``; other frames are kept in
    ``comm.pending`` for later calls."""
    for i, frame in enumerate(comm.pending):
        if _matches(frame, kind, match):
            return comm.pending.pop(i)
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"no {kind} {match} within {timeout}s; got {comm.pending}")
        try:
            frame = await comm.receive_json_from(timeout=remaining)
        except TimeoutError:
            raise AssertionError(f"no {kind} {match} within {timeout}s; got {comm.pending}") from None
        if _matches(frame, kind, match):
            return frame
        comm.pending.append(frame)


async def drain(comm, quiet: float = 0.3) -> list[dict]:
    """Everything that arrives until the socket is quiet for ``quiet`` seconds."""
    frames = list(comm.pending)
    comm.pending = []
    # receive_nothing() waits without cancelling the application (a timed-out receive would).
    while not await comm.receive_nothing(timeout=quiet, interval=0.02):
        frames.append(await comm.receive_json_from())
    return frames


async def send(comm, **frame) -> None:
    await comm.send_json_to(frame)


async def close_all(*comms) -> None:
    for comm in comms:
        try:
            await comm.disconnect()
        except Exception:
            pass
    await offline_tasks_done()


async def offline_tasks_done() -> None:
    """Wait for the staff sockets' "offline after grace" tasks. One still running when the test's
    event loop closes leaves its database thread calling into that closed loop, and the next
    async test that touches the database hangs."""
    pending = [
        task
        for task in asyncio.all_tasks()
        if task is not asyncio.current_task() and task.get_coro().__name__ == "_offline_after_grace"
    ]
    if pending:
        await asyncio.gather(*pending, return_exceptions=True)


_scorer_ready: list[bool] = []


async def _require_scorer() -> None:
    """Load the pipeline's scorer once per test process (in a thread); fail fast and clearly
    when the model is missing instead of every test timing out."""
    if _scorer_ready:
        return
    from insights.pipeline.batcher import pipeline_scorer
    from insights.scoring import ModelUnavailable

    def warm_up() -> None:
        scorer = pipeline_scorer()
        if hasattr(scorer, "warm_up"):
            scorer.warm_up()

    try:
        await asyncio.to_thread(warm_up)
    except ModelUnavailable as exc:
        pytest.fail(f"the sentiment model is unavailable ({exc}); run `python manage.py sentiment_build`")
    _scorer_ready.append(True)


@pytest.fixture
async def scoring_runtime():
    """Run the scoring pipeline on the test's loop the way production settings say."""
    from insights.pipeline.runtime import scoring_mode, scoring_runtime_stop

    await _require_scorer()
    worker_task = None
    if scoring_mode() == "worker":
        from channels.layers import get_channel_layer

        from sentiment_admin.routing import channel_routes

        worker = Worker(
            application=ChannelNameRouter(channel_routes),
            channels=[realtime.SCORING_CHANNEL],
            channel_layer=get_channel_layer(realtime.WORKERS_LAYER),
        )
        worker_task = asyncio.get_running_loop().create_task(worker.handle())
    yield
    if worker_task is not None:
        worker_task.cancel()
        try:
            await worker_task
        except (asyncio.CancelledError, Exception):
            pass
    await scoring_runtime_stop()


async def wait_for(predicate, timeout: float = DEFAULT_TIMEOUT, interval: float = 0.05):
    """Poll a sync predicate (run through database_sync_to_async) until it is truthy."""
    deadline = time.monotonic() + timeout
    check = database_sync_to_async(predicate)
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)


ANGRY_EN = "This is terrible, I have waited for hours and nobody helps me"
ANGRY_ES = "¡Esto es horrible, estoy muy enfadado!"
HAPPY_EN = "Thank you so much, that fixed it, you are wonderful!"
