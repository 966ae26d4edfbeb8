from django.apps import AppConfig


class InsightsConfig(AppConfig):
    name = "insights"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from insights.sender import outbox_kind_register
        from insights.services.webhooks import WEBHOOK_OUTBOX

        outbox_kind_register(WEBHOOK_OUTBOX)
