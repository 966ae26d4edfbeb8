"""Presence: set from the socket or the API, pushed live, Offline after the grace period once
the last socket closes (in any process: sockets are rows in the database)."""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async
from django.conf import settings
from django.test import Client, override_settings

from conversations.models import Presence, StaffConnection, StaffMember
from conversations.services.presence import InvalidPresence, presence_set
from tests.conversations.factories import RepresentativeFactory, SupervisorFactory
from tests.conversations.wsutil import (
    close_all,
    connect,
    next_frame,
    send,
    session_cookie,
    staff_socket,
    wait_for,
)

pytestmark = pytest.mark.django_db(transaction=True)


async def presence_of(staff) -> str:
    return (await database_sync_to_async(StaffMember.objects.get)(pk=staff.pk)).presence


async def test_presence_change_is_pushed_to_everyone_watching():
    rep = await database_sync_to_async(RepresentativeFactory)(presence=Presence.AVAILABLE)
    sup = await database_sync_to_async(SupervisorFactory)(presence=Presence.AVAILABLE)
    rep_ws = await staff_socket(rep)
    sup_ws = await staff_socket(sup)
    try:
        await send(rep_ws, type="presence.set", presence="busy_dnd")
        for ws in (rep_ws, sup_ws):
            frame = await next_frame(ws, "presence.changed", staff=rep.pk)
            assert frame["presence"] == "busy_dnd" and frame["label"] == "Busy - Do not disturb"
        assert await presence_of(rep) == Presence.BUSY_DND
    finally:
        await close_all(rep_ws, sup_ws)


async def test_offline_after_grace_when_the_last_socket_closes():
    sup = await database_sync_to_async(SupervisorFactory)(presence=Presence.OFFLINE)
    first = await staff_socket(sup)
    assert await presence_of(sup) == Presence.AVAILABLE  # opening the center signs in
    second = await staff_socket(sup)
    await first.disconnect()
    await asyncio.sleep(0.4)  # > PRESENCE_OFFLINE_GRACE_SECONDS (0.2 in tests)
    assert await presence_of(sup) == Presence.AVAILABLE  # another tab is still open
    await second.disconnect()
    await wait_for(lambda: StaffMember.objects.get(pk=sup.pk).presence == Presence.OFFLINE, timeout=5)
    assert not await database_sync_to_async(StaffConnection.objects.filter(staff=sup).exists)()


async def test_a_reload_within_the_grace_period_keeps_presence():
    with override_settings(PRESENCE_OFFLINE_GRACE_SECONDS=1.5):
        sup = await database_sync_to_async(SupervisorFactory)(presence=Presence.BUSY)
        cookie = await session_cookie(sup)
        ws = await connect("/ws/staff/", cookie=cookie)
        await ws.disconnect()
        ws = await connect("/ws/staff/", cookie=cookie)  # the page reloaded
        await asyncio.sleep(2.0)
        assert await presence_of(sup) == Presence.BUSY
        await close_all(ws)


async def test_away_stays_away_across_reconnects():
    sup = await database_sync_to_async(SupervisorFactory)(presence=Presence.AWAY)
    ws = await staff_socket(sup)
    assert await presence_of(sup) == Presence.AWAY
    await close_all(ws)


@pytest.mark.django_db
def test_unknown_presence_is_refused():
    rep = RepresentativeFactory()
    with pytest.raises(InvalidPresence):
        presence_set(staff=rep, presence="asleep")


async def test_connections_of_a_crashed_process_stop_counting_once_stale():
    from datetime import timedelta

    from django.utils import timezone

    sup = await database_sync_to_async(SupervisorFactory)(presence=Presence.AVAILABLE)
    # A row left behind by a Daphne process that died (it never ran its disconnect).
    await database_sync_to_async(StaffConnection.objects.create)(
        staff=sup, channel_name="specific.dead!1", last_seen=timezone.now() - timedelta(hours=1)
    )
    ws = await staff_socket(sup)
    await send(ws, type="ping")
    await next_frame(ws, "pong")
    await ws.disconnect()
    await wait_for(lambda: StaffMember.objects.get(pk=sup.pk).presence == Presence.OFFLINE, timeout=5)
    assert not await database_sync_to_async(StaffConnection.objects.filter(staff=sup).exists)()


@pytest.mark.parametrize("chosen", [Presence.BUSY, Presence.BUSY_DND, Presence.AWAY])
async def test_a_chosen_presence_comes_back_after_every_tab_closed_past_the_grace(chosen):
    sup = await database_sync_to_async(SupervisorFactory)(presence=Presence.AVAILABLE)
    ws = await staff_socket(sup)
    await send(ws, type="presence.set", presence=chosen)
    await next_frame(ws, "presence.changed", staff=sup.pk, presence=chosen)
    await ws.disconnect()
    await wait_for(lambda: StaffMember.objects.get(pk=sup.pk).presence == Presence.OFFLINE, timeout=5)
    ws = await staff_socket(sup)  # back the next morning, or after a long network drop
    try:
        assert await presence_of(sup) == chosen
    finally:
        await close_all(ws)


async def test_signing_out_is_offline_at_once_and_the_choice_is_kept_for_the_next_sign_in():
    sup = await database_sync_to_async(SupervisorFactory)(
        presence=Presence.BUSY, chosen_presence=Presence.BUSY
    )
    cookie = await session_cookie(sup)
    with override_settings(PRESENCE_OFFLINE_GRACE_SECONDS=30):
        ws = await connect("/ws/staff/", cookie=cookie)
        try:

            def sign_out():
                client = Client()
                client.cookies[settings.SESSION_COOKIE_NAME] = cookie
                return client.post("/logout/").status_code

            assert await database_sync_to_async(sign_out)() in (200, 302)
            assert await presence_of(sup) == Presence.OFFLINE  # at once, not after the grace
        finally:
            await close_all(ws)
    ws = await staff_socket(sup)
    try:
        assert await presence_of(sup) == Presence.BUSY
    finally:
        await close_all(ws)


async def test_choosing_offline_then_coming_back_is_available():
    sup = await database_sync_to_async(SupervisorFactory)(presence=Presence.AVAILABLE)
    await database_sync_to_async(presence_set)(staff=sup, presence=Presence.OFFLINE)
    ws = await staff_socket(sup)
    try:
        assert await presence_of(sup) == Presence.AVAILABLE
    finally:
        await close_all(ws)
