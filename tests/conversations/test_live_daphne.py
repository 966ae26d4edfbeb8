"""A few flows against a real Daphne process (and, with Redis, a real
``manage.py runworker sentiment-scoring``), over real TCP websockets (``websockets`` client)
and real HTTP (``httpx``). The server gets its own database: a SQLite file, or a fresh
PostgreSQL database next to DATABASE_URL's."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
import websockets

from tests.conversations.wsutil import ANGRY_EN, ANGRY_ES, HAPPY_EN
from tests.live_process import ROOT, LiveProcess, free_port

pytestmark = pytest.mark.live

PYTHON = sys.executable
DAPHNE = str(Path(sys.executable).with_name("daphne"))
TIMEOUT = 60.0  # the first message also waits for the server to load the model

SETUP = r"""
import json
from django.test import Client
from conversations.models import Presence, Queue
from conversations.services.ingest import integration_token_create
from conversations.services.staff import staff_create
queue = Queue.objects.create(name="Live queue")
other = Queue.objects.create(name="Other queue")
# Busy: these flows assign by hand (queue routing only offers to Available representatives).
rep = staff_create(username="liverep", password="x" * 12, role="representative", queues=[queue], presence=Presence.BUSY)
sup = staff_create(username="livesup", password="x" * 12, role="supervisor", queues=[queue], presence=Presence.AVAILABLE)
away = staff_create(username="liveaway", password="x" * 12, role="supervisor", queues=[queue], presence=Presence.AWAY)
_t, raw = integration_token_create(name="live")
from insights.selectors import sentiment_settings_get
org = sentiment_settings_get()
org.supervisor_threshold = -1  # Slightly negative: independent of how far below zero the model goes
org.save()
def cookie(staff):
    c = Client()
    c.force_login(staff.user)
    return c.cookies["sessionid"].value
print("SETUP" + json.dumps({"queue": queue.pk, "rep": rep.pk, "sup": sup.pk, "away": away.pk, "token": raw,
      "rep_cookie": cookie(rep), "sup_cookie": cookie(sup), "away_cookie": cookie(away)}))
"""


def _database_url(tmp: Path) -> tuple[str, callable]:
    base = os.environ.get("DATABASE_URL", "")
    if base.startswith("postgres"):
        import psycopg

        name = f"sentiment_live_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        admin_url = base
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')

        def drop():
            with psycopg.connect(admin_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

        return base.rsplit("/", 1)[0] + "/" + name, drop
    return f"sqlite:///{tmp / 'live.sqlite3'}", lambda: None


@pytest.fixture(scope="module")
def live_center(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("live")
    url, drop = _database_url(tmp)
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "sentiment_admin.settings.test"),
        "CHANNELS_PREFIX": f"sentiment-live-{os.getpid()}",
        "SENTIMENT_VAR_DIR": str(tmp),
        "PYTHONUNBUFFERED": "1",
    }
    procs: list[LiveProcess] = []
    try:
        subprocess.run([PYTHON, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
        out = subprocess.run(
            [PYTHON, "manage.py", "shell", "-c", SETUP],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        data = json.loads(out.split("SETUP", 1)[1])
        port = free_port()
        daphne = LiveProcess(
            [DAPHNE, "-b", "127.0.0.1", "-p", str(port), "sentiment_admin.asgi:application"],
            env=env,
            log=tmp / "daphne.log",
        )
        procs.append(daphne)
        if os.environ.get("REDIS_URL"):
            procs.append(
                LiveProcess(
                    [PYTHON, "manage.py", "runworker", "sentiment-scoring"],
                    env={**env, "SENTIMENT_SCORING_MODE": "worker"},
                    log=tmp / "worker.log",
                )
            )
        daphne.wait_for_port(port)
        data["env"] = env
        data["http"] = f"http://127.0.0.1:{port}"
        data["ws"] = f"ws://127.0.0.1:{port}"
        yield data
    finally:
        for proc in procs:
            proc.stop()
        drop()


async def ws_connect(center, path: str, cookie: str | None = None):
    headers = {"Cookie": f"sessionid={cookie}"} if cookie else {}
    return await websockets.connect(center["ws"] + path, origin=center["http"], additional_headers=headers)


async def next_frame(ws, kind: str, timeout: float = TIMEOUT, **match) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"no {kind} {match}")
        frame = json.loads(await asyncio.wait_for(ws.recv(), remaining))
        if frame.get("type") == kind and all(frame.get(k) == v for k, v in match.items()):
            return frame


async def collect(ws, quiet: float = 0.5) -> list[dict]:
    frames = []
    while True:
        try:
            frames.append(json.loads(await asyncio.wait_for(ws.recv(), quiet)))
        except TimeoutError:
            return frames


def api(center, method: str, path: str, body=None) -> httpx.Response:
    return httpx.request(
        method,
        center["http"] + path,
        json=body,
        headers={"Authorization": f"Bearer {center['token']}"},
        timeout=30,
    )


def new_conversation(center, **extra) -> dict:
    response = api(
        center,
        "POST",
        "/api/conversations/",
        {"queue": center["queue"], "customer": {"name": "Live"}, **extra},
    )
    assert response.status_code == 201, response.text
    return response.json()


def assign(center, conversation_id: int) -> None:
    client = httpx.Client(base_url=center["http"], cookies={"sessionid": center["sup_cookie"]})
    client.get("/login/")
    csrf = client.cookies.get("csrftoken")
    response = client.post(
        f"/api/conversations/{conversation_id}/assign/",
        json={"representative": center["rep"]},
        headers={"X-CSRFToken": csrf, "Referer": center["http"] + "/"},
    )
    assert response.status_code == 200, response.text


def test_live_first_message_through_rest_before_any_socket_is_scored(live_center):
    """The very first request a fresh server sees is a REST message (an integration, no
    websocket yet): the scorer must start outside that request's context and score it."""
    c = live_center
    conv = new_conversation(c)
    posted = api(c, "POST", f"/api/conversations/{conv['id']}/messages/", {"text": ANGRY_EN})
    assert posted.status_code == 201, posted.text
    read_status = (
        "from conversations.models import Message\n"
        f"m = Message.objects.get(conversation_id={conv['id']}, seq=1)\n"
        "print('STATUS', m.scoring_status, m.sentiment_level)"
    )
    deadline = time.monotonic() + TIMEOUT
    while True:
        out = subprocess.run(
            [PYTHON, "manage.py", "shell", "-c", read_status],
            cwd=ROOT,
            env=c["env"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        status, level = out.split("STATUS", 1)[1].split()[:2]
        if status != "pending" or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert status == "scored"
    assert int(level) < 0


async def test_live_customer_message_reaches_representative_and_supervisor_scored(live_center):
    c = live_center
    conv = new_conversation(c)
    rep = await ws_connect(c, "/ws/staff/", c["rep_cookie"])
    sup = await ws_connect(c, "/ws/staff/", c["sup_cookie"])
    away = await ws_connect(c, "/ws/staff/", c["away_cookie"])
    try:
        await asyncio.to_thread(assign, c, conv["id"])
        await next_frame(rep, "conversation.assigned", conversation=conv["id"])
        customer = await websockets.connect(c["ws"] + conv["chat_ws_path"], origin=c["http"])
        await customer.send(json.dumps({"type": "message.send", "text": ANGRY_ES, "client_id": "a"}))
        ack = await next_frame(customer, "message.ack")
        assert ack["seq"] == 1 and ack["client_id"] == "a"
        scored = await next_frame(rep, "conversation.scored", conversation=conv["id"], seq=1)
        assert scored["language"] == "es" and scored["level_value"] < 0
        await next_frame(rep, "alert.raised", conversation=conv["id"])
        sup_scored = await next_frame(sup, "conversation.scored", conversation=conv["id"], seq=1)
        assert sup_scored["score"] == scored["score"]
        await next_frame(sup, "notification.created", conversation=conv["id"])
        await next_frame(away, "conversation.scored", conversation=conv["id"], seq=1)
        assert not [f for f in await collect(away) if f["type"] == "notification.created"]

        # A representative's reply reaches the customer, without sentiment, and is not scored.
        await rep.send(json.dumps({"type": "message.send", "conversation": conv["id"], "text": "So sorry!"}))
        reply = await next_frame(customer, "message.created", seq=2)
        assert reply["sender"] == "representative" and "score" not in reply
        assert not [f for f in await collect(rep) if f["type"] == "conversation.scored" and f["seq"] == 2]
        await customer.close()
    finally:
        for ws in (rep, sup, away):
            await ws.close()


async def test_live_reconnect_catch_up_loses_nothing_and_duplicates_nothing(live_center):
    c = live_center
    conv = new_conversation(c)
    await asyncio.to_thread(assign, c, conv["id"])
    customer = await websockets.connect(c["ws"] + conv["chat_ws_path"], origin=c["http"])
    rep = await ws_connect(c, "/ws/staff/", c["rep_cookie"])
    try:
        await customer.send(json.dumps({"type": "message.send", "text": ANGRY_EN}))
        await next_frame(rep, "conversation.scored", conversation=conv["id"], seq=1)
        await rep.close()  # the representative's network drops
        for text in (HAPPY_EN, ANGRY_ES, HAPPY_EN):
            await customer.send(json.dumps({"type": "message.send", "text": text}))
        for seq in (2, 3, 4):
            await next_frame(customer, "message.ack", seq=seq)
        listing = api(c, "GET", f"/api/conversations/{conv['id']}/messages/?after_seq=0").json()
        assert [m["seq"] for m in listing["messages"]] == [1, 2, 3, 4]

        rep = await ws_connect(c, "/ws/staff/", c["rep_cookie"])
        await rep.send(json.dumps({"type": "catch_up", "conversation": conv["id"], "after_seq": 1}))
        frames = []
        while True:
            frame = json.loads(await asyncio.wait_for(rep.recv(), TIMEOUT))
            if frame["type"] == "catch_up.done":
                assert frame["last_seq"] == 4
                break
            frames.append(frame)

        # Scores still in flight when the catch-up ran arrive live: wait for all of them,
        # then listen a little longer for anything sent twice.
        def scored_seqs():
            return {
                f["seq"]
                for f in frames
                if f["type"] == "conversation.scored" and f.get("conversation") == conv["id"]
            }

        deadline = time.monotonic() + TIMEOUT
        while scored_seqs() != {2, 3, 4} and time.monotonic() < deadline:
            try:
                frames.append(
                    json.loads(await asyncio.wait_for(rep.recv(), max(0.1, deadline - time.monotonic())))
                )
            except TimeoutError:
                break
        frames += await collect(rep, quiet=1.0)
        mine = [f for f in frames if f.get("conversation") == conv["id"]]
        created = [f["seq"] for f in mine if f["type"] == "message.created"]
        scored = [f["seq"] for f in mine if f["type"] == "conversation.scored"]
        assert sorted(created) == [2, 3, 4]
        assert sorted(scored) == [2, 3, 4]
    finally:
        await customer.close()
        await rep.close()


async def test_live_bad_frames_get_errors_and_the_socket_stays_open(live_center):
    c = live_center
    conv = new_conversation(c)
    customer = await websockets.connect(c["ws"] + conv["chat_ws_path"], origin=c["http"])
    try:
        for raw, code in (
            ("{nope", "invalid_json"),
            ('{"type": "x.y"}', "unknown_type"),
            ('{"type": "message.send", "text": ""}', "empty"),
        ):
            await customer.send(raw)
            assert (await next_frame(customer, "error", timeout=10))["code"] == code
        await customer.send('{"type": "ping"}')
        await next_frame(customer, "pong", timeout=10)
    finally:
        await customer.close()
    # Refusals are accepted then closed with the documented code, through a real Daphne too.
    for path, code in (
        ("/ws/staff/", 4401),
        ("/ws/chat/nope/", 4404),
        ("/ws/chat/unknown-token-0123456789/", 4404),
    ):
        refused = await websockets.connect(c["ws"] + path, origin=c["http"])
        with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
            await asyncio.wait_for(refused.recv(), timeout=10)
        assert closed.value.rcvd.code == code, path
