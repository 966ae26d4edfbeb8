from django.contrib import admin

from insights.models import (
    NotificationRecipient,
    QueueSentimentOverride,
    SentimentAlert,
    SentimentCorrection,
    SentimentSettings,
    SettingsAuditEntry,
    WebhookDelivery,
    WebhookEvent,
)


@admin.register(SentimentSettings)
class SentimentSettingsAdmin(admin.ModelAdmin):
    # Changes go through the Insights page so that every change is audited.
    list_display = [
        "__str__",
        "monitoring_enabled",
        "representative_threshold",
        "supervisor_threshold",
        "updated_at",
    ]

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(QueueSentimentOverride)
class QueueSentimentOverrideAdmin(admin.ModelAdmin):
    list_display = ["queue", "representative_threshold", "supervisor_threshold"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False


@admin.register(SettingsAuditEntry)
class SettingsAuditEntryAdmin(admin.ModelAdmin):
    list_display = ["created_at", "actor", "scope", "field", "old_value", "new_value"]
    list_filter = ["scope", "field"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class RecipientInline(admin.TabularInline):
    model = NotificationRecipient
    extra = 0
    readonly_fields = ["staff", "acknowledged_at", "acknowledged_by"]


@admin.register(SentimentAlert)
class SentimentAlertAdmin(admin.ModelAdmin):
    list_display = ["created_at", "conversation", "audience", "kind", "level", "threshold", "delivered"]
    list_filter = ["audience", "kind", "level", "delivered"]
    inlines = [RecipientInline]


@admin.register(SentimentCorrection)
class SentimentCorrectionAdmin(admin.ModelAdmin):
    list_display = ["created_at", "message", "staff", "model_level", "corrected_level", "note"]
    list_filter = ["corrected_level"]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = ["created_at", "alert", "url", "attempt", "status_code", "succeeded"]
    list_filter = ["succeeded"]


@admin.register(WebhookEvent)
class WebhookEventAdmin(admin.ModelAdmin):
    """The webhook outbox: what waits, what was sent, what was given up."""

    list_display = [
        "created_at",
        "delivery_id",
        "event",
        "status",
        "attempts",
        "next_attempt_at",
        "last_error",
    ]
    list_filter = ["status", "event"]
    search_fields = ["delivery_id"]
