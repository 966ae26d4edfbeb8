"""Selectors for the historical sentiment dashboard (the spec's "Omnichannel Insights
dashboards"). Read-only, scoped to the viewer: supervisors see their queues, admins see all,
representatives see nothing. The figures are for improving service, never for decisions that
affect anyone's employment (the page says so).

Conversations are selected by their start time (``created_at``) within the date range; message
figures use the scored customer messages of those conversations.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import Avg, Count, Q, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from conversations.models import (
    Conversation,
    ConversationStatus,
    Message,
    Queue,
    Role,
    ScoringStatus,
    Sender,
    StaffMember,
)
from insights.levels import SentimentLevel, level_label, level_slug
from insights.models import AlertAudience, SentimentAlert
from sentiment_admin.exports import csv_document
from sentiment_admin.inputs import parse_date, parse_id

LEVELS = [level.value for level in SentimentLevel]
DEFAULT_DAYS = 14


class DashboardNotAllowed(PermissionError):
    """Representatives do not see the historical dashboard."""


@dataclass(frozen=True)
class DashboardFilters:
    date_from: dt.date
    date_to: dt.date  # inclusive
    queue_ids: tuple[int, ...] = ()

    @classmethod
    def default(cls, *, today: dt.date | None = None) -> DashboardFilters:
        today = today or timezone.localdate()
        return cls(date_from=today - dt.timedelta(days=DEFAULT_DAYS - 1), date_to=today)

    @classmethod
    def from_params(cls, params, *, today: dt.date | None = None) -> DashboardFilters:
        """Parse ``from``, ``to`` (YYYY-MM-DD) and repeated ``queue`` from a QueryDict-like.
        Absent or empty values take the defaults; a bad value raises ``InvalidInput`` (a 400)."""
        base = cls.default(today=today)

        def _date(name: str, fallback: dt.date) -> dt.date:
            value = params.get(name, "")
            return parse_date(value, name) if value else fallback

        date_from = _date("from", base.date_from)
        date_to = _date("to", base.date_to)
        if date_from > date_to:
            date_from, date_to = date_to, date_from
        getlist = getattr(params, "getlist", None)
        raw = getlist("queue") if getlist else params.get("queue", [])
        if isinstance(raw, str):
            raw = [raw]
        queue_ids = tuple(sorted({parse_id(v, "queue") for v in raw if v != ""}))
        return cls(date_from=date_from, date_to=date_to, queue_ids=queue_ids)


def dashboard_queues(viewer: StaffMember) -> QuerySet[Queue]:
    if viewer.role == Role.ADMIN:
        return Queue.objects.all()
    if viewer.role == Role.SUPERVISOR:
        return viewer.queues.all()
    raise DashboardNotAllowed("Representatives do not see the sentiment dashboard.")


def dashboard_conversations(viewer: StaffMember, filters: DashboardFilters) -> QuerySet[Conversation]:
    queues = dashboard_queues(viewer)
    tz = timezone.get_current_timezone()
    start = dt.datetime.combine(filters.date_from, dt.time.min, tzinfo=tz)
    end = dt.datetime.combine(filters.date_to + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
    qs = Conversation.objects.filter(queue__in=queues, created_at__gte=start, created_at__lt=end)
    if filters.queue_ids:
        qs = qs.filter(queue_id__in=filters.queue_ids)
    return qs.select_related("queue", "customer", "representative__user")


def _empty_levels() -> dict[int, int]:
    return {level: 0 for level in LEVELS}


@dataclass
class Breakdown:
    """Conversation counts per sentiment level (the conversation's latest/final level) per group."""

    key: str
    label: str
    counts: dict[int, int] = field(default_factory=_empty_levels)
    average_score: float | None = None

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def negative_share(self) -> float | None:
        if not self.total:
            return None
        return sum(n for level, n in self.counts.items() if level < 0) / self.total


def distribution_over_time(conversations: QuerySet[Conversation]) -> list[dict]:
    """Scored customer messages per day and level: [{"date": "YYYY-MM-DD", "counts": {level: n}}]."""
    rows = (
        Message.objects.filter(
            conversation__in=conversations.values("pk"),
            sender=Sender.CUSTOMER,
            scoring_status=ScoringStatus.SCORED,
            sentiment_level__isnull=False,
        )
        .annotate(day=TruncDate("created_at", tzinfo=timezone.get_current_timezone()))
        .values("day", "sentiment_level")
        .annotate(n=Count("pk"))
        .order_by("day")
    )
    days: dict[dt.date, dict[int, int]] = defaultdict(_empty_levels)
    for row in rows:
        days[row["day"]][row["sentiment_level"]] += row["n"]
    return [{"date": day.isoformat(), "counts": counts} for day, counts in sorted(days.items())]


def _breakdown(
    conversations: QuerySet[Conversation], key_field: str, label_field: str | None = None
) -> list[Breakdown]:
    fields = [key_field] + ([label_field] if label_field else [])
    rows = (
        conversations.filter(sentiment_level__isnull=False)
        .values(*fields, "sentiment_level")
        .annotate(n=Count("pk"), avg=Avg("sentiment_score"))
        .order_by()
    )
    groups: dict[object, Breakdown] = {}
    sums: dict[object, tuple[float, int]] = defaultdict(lambda: (0.0, 0))
    for row in rows:
        key = row[key_field]
        label = row[label_field] if label_field else key
        group = groups.setdefault(
            key, Breakdown(key=str(key if key is not None else ""), label=str(label or "—"))
        )
        group.counts[row["sentiment_level"]] += row["n"]
        if row["avg"] is not None:
            total, count = sums[key]
            sums[key] = (total + row["avg"] * row["n"], count + row["n"])
    for key, group in groups.items():
        total, count = sums[key]
        group.average_score = round(total / count, 3) + 0.0 if count else None  # no "-0.0"
    return sorted(groups.values(), key=lambda g: (-g.total, g.label))


def by_queue(conversations: QuerySet[Conversation]) -> list[Breakdown]:
    return _breakdown(conversations, "queue_id", "queue__name")


def by_channel(conversations: QuerySet[Conversation]) -> list[Breakdown]:
    out = _breakdown(conversations, "channel")
    labels = dict(Conversation._meta.get_field("channel").flatchoices)
    for group in out:
        group.label = str(labels.get(group.key, group.key))
    return out


def by_language(conversations: QuerySet[Conversation]) -> list[Breakdown]:
    out = _breakdown(conversations, "language")
    for group in out:
        if not group.key:
            group.label = "Unknown"
    return out


def by_representative(conversations: QuerySet[Conversation]) -> list[Breakdown]:
    out = _breakdown(
        conversations.filter(representative__isnull=False),
        "representative_id",
        "representative__user__username",
    )
    names = {
        str(s.pk): s.display_name
        for s in StaffMember.objects.filter(pk__in=[g.key for g in out]).select_related("user")
    }
    for group in out:
        group.label = names.get(group.key, group.label)
    return out


def ended_negative(conversations: QuerySet[Conversation], *, limit: int = 50) -> list[Conversation]:
    """Closed conversations whose final sentiment was slightly negative or lower, worst first."""
    return list(
        conversations.filter(status=ConversationStatus.CLOSED, sentiment_level__lt=0).order_by(
            "sentiment_level", "sentiment_score", "-closed_at"
        )[:limit]
    )


@dataclass(frozen=True)
class StartEnd:
    label: str
    conversations: int
    start_average: float | None
    end_average: float | None

    @property
    def change(self) -> float | None:
        if self.start_average is None or self.end_average is None:
            return None
        return round(self.end_average - self.start_average, 2)


def start_vs_end(conversations: QuerySet[Conversation]) -> list[StartEnd]:
    """Average level (-3..3) at the start (first scored customer message) and at the end
    (the final conversation level), overall and per queue. Only conversations with both."""
    both = conversations.filter(start_sentiment_level__isnull=False, sentiment_level__isnull=False)
    overall = both.aggregate(n=Count("pk"), start=Avg("start_sentiment_level"), end=Avg("sentiment_level"))
    rows = [
        StartEnd(
            "All queues",
            overall["n"],
            None if overall["start"] is None else round(overall["start"], 2),
            None if overall["end"] is None else round(overall["end"], 2),
        )
    ]
    for row in (
        both.values("queue__name")
        .annotate(n=Count("pk"), start=Avg("start_sentiment_level"), end=Avg("sentiment_level"))
        .order_by("queue__name")
    ):
        rows.append(StartEnd(row["queue__name"], row["n"], round(row["start"], 2), round(row["end"], 2)))
    return rows


def alert_counts(conversations: QuerySet[Conversation]) -> dict[str, int]:
    alerts = SentimentAlert.objects.filter(conversation__in=conversations.values("pk"))
    return alerts.aggregate(
        representative=Count("pk", filter=Q(audience=AlertAudience.REPRESENTATIVE)),
        supervisor=Count("pk", filter=Q(audience=AlertAudience.SUPERVISOR)),
        undelivered=Count("pk", filter=Q(delivered=False)),
    )


@dataclass
class Dashboard:
    filters: DashboardFilters
    conversation_count: int
    over_time: list[dict]
    queues: list[Breakdown]
    channels: list[Breakdown]
    languages: list[Breakdown]
    representatives: list[Breakdown]
    ended_negative: list[Conversation]
    ended_negative_count: int
    start_end: list[StartEnd]
    alerts: dict[str, int]

    def chart_data(self) -> dict:
        """Plain JSON for the charts (rendered with json_script, never as HTML)."""

        def _series(groups: list[Breakdown]) -> dict:
            return {
                "labels": [g.label for g in groups],
                "counts": {str(l): [g.counts[l] for g in groups] for l in LEVELS},
            }

        return {
            "levels": [{"value": l, "slug": level_slug(l), "label": level_label(l)} for l in LEVELS],
            "over_time": {
                "labels": [d["date"] for d in self.over_time],
                "counts": {str(l): [d["counts"][l] for d in self.over_time] for l in LEVELS},
            },
            "queues": _series(self.queues),
            "channels": _series(self.channels),
            "languages": _series(self.languages),
            "representatives": _series(self.representatives),
            "start_end": {
                "labels": [r.label for r in self.start_end],
                "start": [r.start_average for r in self.start_end],
                "end": [r.end_average for r in self.start_end],
            },
        }


def dashboard_build(viewer: StaffMember, filters: DashboardFilters) -> Dashboard:
    conversations = dashboard_conversations(viewer, filters)
    return Dashboard(
        filters=filters,
        conversation_count=conversations.count(),
        over_time=distribution_over_time(conversations),
        queues=by_queue(conversations),
        channels=by_channel(conversations),
        languages=by_language(conversations),
        representatives=by_representative(conversations),
        ended_negative=ended_negative(conversations, limit=20),
        ended_negative_count=conversations.filter(
            status=ConversationStatus.CLOSED, sentiment_level__lt=0
        ).count(),
        start_end=start_vs_end(conversations),
        alerts=alert_counts(conversations),
    )


EXPORT_COLUMNS = [
    "conversation",
    "started_at",
    "closed_at",
    "queue",
    "channel",
    "language",
    "representative",
    "status",
    "start_level",
    "end_level",
    "end_label",
    "end_score",
    "trend",
    "customer_messages_scored",
]


def dashboard_csv(viewer: StaffMember, filters: DashboardFilters) -> str:
    """One row per conversation in scope. Customer names and message texts are not exported."""
    conversations = (
        dashboard_conversations(viewer, filters)
        .annotate(scored=Count("messages", filter=Q(messages__scoring_status=ScoringStatus.SCORED)))
        .order_by("created_at", "pk")
    )
    return csv_document(
        EXPORT_COLUMNS,
        (
            [
                c.pk,
                c.created_at.isoformat(),
                c.closed_at.isoformat() if c.closed_at else "",
                c.queue.name,
                c.channel,
                c.language,
                c.representative.display_name if c.representative else "",
                c.status,
                "" if c.start_sentiment_level is None else c.start_sentiment_level,
                "" if c.sentiment_level is None else c.sentiment_level,
                level_label(c.sentiment_level),
                "" if c.sentiment_score is None else round(c.sentiment_score, 4),
                c.sentiment_trend,
                c.scored,
            ]
            for c in conversations
        ),
    )
