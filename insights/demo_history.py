"""Demo history: back-filled closed conversations, scored and alerted as if at the time, so the
historical dashboard has something to show on a fresh install (``manage.py demo_traffic``)."""

from __future__ import annotations

import datetime as dt
import random

from django.db import transaction
from django.utils import timezone

from conversations.demo_traffic import SCRIPTS, C, R
from conversations.models import (
    Conversation,
    ConversationStatus,
    Customer,
    Message,
    Queue,
    Role,
    ScoringStatus,
    StaffMember,
)
from insights.models import AlertAudience, AlertKind, SentimentAlert

_BAND_SCORES = {-3: -0.8, -2: -0.45, -1: -0.2, 0: 0.0, 1: 0.2, 2: 0.45, 3: 0.8}


def demo_history_load(*, days: int = 14, seed: int = 7) -> int:
    """Back-filled closed conversations for the last ``days`` days, so the historical dashboard
    has something to show on a fresh install. Idempotent: does nothing when any closed
    conversation exists. These are stored records (as if scored at the time), not live traffic:
    they go to the database directly and push no events. Returns how many were created."""
    if days <= 0 or Conversation.objects.filter(status=ConversationStatus.CLOSED).exists():
        return 0
    rng = random.Random(seed)
    queues = {q.name: q for q in Queue.objects.all()}
    reps_by_queue = {
        q.pk: list(StaffMember.objects.filter(role=Role.REPRESENTATIVE, queues=q)) for q in queues.values()
    }
    today = timezone.localdate()
    created = 0
    with transaction.atomic():
        for day in range(days, 0, -1):
            # Office hours of that calendar day, so "the last N days" are N days on the
            # dashboard whatever the hour now (an offset from now crossed midnight before 10:00).
            opening = timezone.make_aware(dt.datetime.combine(today - dt.timedelta(days=day), dt.time(8)))
            for _ in range(rng.randint(6, 14)):
                script = rng.choice(SCRIPTS)
                queue = queues.get(script.queue) or next(iter(queues.values()))
                reps = reps_by_queue.get(queue.pk) or [None]
                rep = rng.choice(reps)
                start = opening + dt.timedelta(hours=rng.uniform(0, 9), minutes=rng.uniform(0, 59))
                customer = Customer.objects.create(name=script.customer)
                conv = Conversation.objects.create(
                    queue=queue,
                    customer=customer,
                    channel=script.channel,
                    representative=rep,
                    status=ConversationStatus.CLOSED,
                    language=script.language,
                )
                level = rng.choice([-2, -1, 0, 0, 1])
                first_level = None
                at = start
                seq = 0
                for sender, text in script.turns:
                    seq += 1
                    at += dt.timedelta(seconds=rng.uniform(20, 120))
                    fields = {"sender": sender, "text": text, "author": rep if sender == R else None}
                    if sender == C:
                        level = max(-3, min(3, level + rng.choice([-2, -1, 0, 1, 1, 2])))
                        first_level = level if first_level is None else first_level
                        fields.update(
                            scoring_status=ScoringStatus.SCORED,
                            sentiment_level=level,
                            sentiment_score=_BAND_SCORES[level],
                            confidence=rng.uniform(0.55, 0.95),
                            language=script.language,
                            model_version="demo-history",
                        )
                    msg = Message.objects.create(conversation=conv, seq=seq, **fields)
                    Message.objects.filter(pk=msg.pk).update(created_at=at)
                if level < 0 and rng.random() < 0.5:
                    level += 1  # many conversations recover by the end
                Conversation.objects.filter(pk=conv.pk).update(
                    created_at=start,
                    accepted_at=start + dt.timedelta(seconds=rng.uniform(5, 90)),
                    closed_at=at,
                    last_message_at=at,
                    last_seq=seq,
                    start_sentiment_level=first_level,
                    sentiment_level=level,
                    sentiment_score=_BAND_SCORES[level],
                    sentiment_trend=rng.choice(["rising", "steady", "falling"]),
                )
                if level <= -1:
                    alert = SentimentAlert.objects.create(
                        conversation=conv,
                        audience=AlertAudience.REPRESENTATIVE,
                        kind=AlertKind.THRESHOLD,
                        level=level,
                        threshold=-1,
                    )
                    SentimentAlert.objects.filter(pk=alert.pk).update(created_at=at)
                if level <= -2:
                    alert = SentimentAlert.objects.create(
                        conversation=conv,
                        audience=AlertAudience.SUPERVISOR,
                        kind=AlertKind.THRESHOLD,
                        level=level,
                        threshold=-2,
                        delivered=rng.random() < 0.8,
                    )
                    SentimentAlert.objects.filter(pk=alert.pk).update(created_at=at)
                created += 1
    return created
