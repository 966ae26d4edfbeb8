"""Sending to the channel layer survives a layer that is briefly unreachable."""

from __future__ import annotations

import pytest

from conversations import events


class FlakyLayer:
    def __init__(self, failures: int, error: Exception):
        self.failures, self.error, self.sent = failures, error, []

    async def group_send(self, group, payload):
        if self.failures:
            self.failures -= 1
            raise self.error
        self.sent.append((group, payload["type"]))


@pytest.fixture
def no_pauses(monkeypatch):
    monkeypatch.setattr(events, "SEND_RETRY_PAUSES", (0, 0, 0))


def test_a_send_that_fails_while_the_layer_restarts_is_delivered_once(monkeypatch, no_pauses):
    layer = FlakyLayer(failures=2, error=ConnectionRefusedError(111, "Connect call failed"))
    monkeypatch.setattr(events, "get_channel_layer", lambda: layer)
    events._group_send_many(["queue.1"], {"type": "conversation.scored"})
    assert layer.sent == [("queue.1", "conversation.scored")]


def test_a_layer_that_stays_down_is_logged_and_never_breaks_the_caller(monkeypatch, no_pauses, caplog):
    layer = FlakyLayer(failures=99, error=ConnectionRefusedError(111, "Connect call failed"))
    monkeypatch.setattr(events, "get_channel_layer", lambda: layer)
    events._group_send_many(["queue.1", "staff.2"], {"type": "conversation.scored"})
    assert layer.sent == [] and layer.failures == 99 - 8
    assert caplog.text.count("could not send conversation.scored") == 2


def test_a_full_channel_is_not_retried(monkeypatch, no_pauses):
    from channels.exceptions import ChannelFull

    layer = FlakyLayer(failures=1, error=ChannelFull())
    monkeypatch.setattr(events, "get_channel_layer", lambda: layer)
    events._group_send_many(["queue.1"], {"type": "conversation.scored"})
    assert layer.sent == [] and layer.failures == 0
