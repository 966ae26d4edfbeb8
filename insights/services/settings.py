"""Changing the sentiment policy. Every change is audited, field by field."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction

from conversations.models import Queue
from insights import events
from insights.levels import VALID_THRESHOLDS
from insights.models import QueueSentimentOverride, SentimentSettings, SettingsAuditEntry
from insights.selectors import sentiment_settings_cache_clear, sentiment_settings_get
from insights.services.webhooks import webhook_url_check

EDITABLE_FIELDS = (
    "monitoring_enabled",
    "multilingual_enabled",
    "base_language",
    "representative_threshold",
    "supervisor_threshold",
    "sharp_drop_alerts",
    "webhook_url",
    "webhook_secret",
    "webhook_scored_messages",
    "retention_days",
)
_THRESHOLD_FIELDS = ("representative_threshold", "supervisor_threshold")
_SECRET_FIELDS = ("webhook_secret",)


def _display(obj: Any, field: str, value: Any) -> str:
    if field in _SECRET_FIELDS:
        return "(set)" if value else "(empty)"
    if value is None:
        return "Inherit organisation default"
    model_field = obj._meta.get_field(field)
    if model_field.choices:
        return str(dict(model_field.flatchoices).get(value, value))
    if isinstance(value, bool):
        return "Yes" if value else "No"
    return str(value)


def _validate_threshold(field: str, value: Any, *, allow_inherit: bool) -> None:
    if value is None and allow_inherit:
        return
    if value not in VALID_THRESHOLDS:
        raise ValidationError({field: f"{value!r} is not one of the threshold levels."})


@transaction.atomic
def sentiment_settings_update(*, actor: AbstractBaseUser, **changes: Any) -> SentimentSettings:
    """Apply changes to the organisation settings, audit each changed field, announce them."""
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValidationError(f"Unknown settings: {', '.join(sorted(unknown))}")
    for field in _THRESHOLD_FIELDS:
        if field in changes:
            _validate_threshold(field, changes[field], allow_inherit=False)

    obj = SentimentSettings.objects.select_for_update().get(pk=sentiment_settings_get().pk)
    audit: list[SettingsAuditEntry] = []
    for field, new in changes.items():
        old = getattr(obj, field)
        if old == new:
            continue
        audit.append(
            SettingsAuditEntry(
                actor=actor,
                field=str(obj._meta.get_field(field).verbose_name),
                old_value=_display(obj, field, old),
                new_value=_display(obj, field, new),
            )
        )
        setattr(obj, field, new)
    if not audit:
        return obj
    if "webhook_url" in changes:
        webhook_url_check(obj.webhook_url)
    if obj.webhook_url and not obj.webhook_secret:
        raise ValidationError("A webhook needs a signing secret: set one before turning the webhook on.")
    obj.updated_by = actor
    obj.full_clean()
    obj.save()
    SettingsAuditEntry.objects.bulk_create(audit)

    def after_commit() -> None:
        sentiment_settings_cache_clear()  # a read between the save and the commit kept the old ones
        events.broadcast_settings_changed(obj)

    transaction.on_commit(after_commit)
    return obj


@transaction.atomic
def queue_override_set(
    *,
    actor: AbstractBaseUser,
    queue: Queue,
    representative_threshold: int | None,
    supervisor_threshold: int | None,
) -> QueueSentimentOverride:
    """Set a queue's thresholds; None inherits the organisation default."""
    _validate_threshold("representative_threshold", representative_threshold, allow_inherit=True)
    _validate_threshold("supervisor_threshold", supervisor_threshold, allow_inherit=True)
    override, _ = QueueSentimentOverride.objects.select_for_update().get_or_create(queue=queue)
    changed = False
    for field, new in (
        ("representative_threshold", representative_threshold),
        ("supervisor_threshold", supervisor_threshold),
    ):
        old = getattr(override, field)
        if old == new:
            continue
        SettingsAuditEntry.objects.create(
            actor=actor,
            scope=f"Queue: {queue.name}",
            field=str(SentimentSettings._meta.get_field(field).verbose_name),
            old_value=_display(override, field, old),
            new_value=_display(override, field, new),
        )
        setattr(override, field, new)
        changed = True
    if changed:
        override.save()
        org = sentiment_settings_get()
        transaction.on_commit(lambda: events.broadcast_settings_changed(org))
    return override
