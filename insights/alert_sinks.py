"""Adapters that want to hear about alerts (e.g. the Chatwoot adapter) register here, so the
alert service does not name them: ``alert_sink_register`` from the adapter's
``AppConfig.ready()``, ``alert_sinks_notify`` from ``insights.services.alerts``.

A sink is called inside the transaction that stores the alert: it may store rows with the
alert (an outbox) and defer any sending to ``transaction.on_commit``. It must not block.
"""

from __future__ import annotations

from collections.abc import Callable

from insights.models import SentimentAlert

AlertSink = Callable[..., object]

_sinks: list[AlertSink] = []


def alert_sink_register(sink: AlertSink) -> None:
    """Add ``sink(alert=...)``; registering the same one twice keeps one."""
    if sink not in _sinks:
        _sinks.append(sink)


def alert_sinks_notify(*, alert: SentimentAlert) -> None:
    for sink in list(_sinks):
        sink(alert=alert)
