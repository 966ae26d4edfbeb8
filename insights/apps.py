from django.apps import AppConfig


class InsightsConfig(AppConfig):
    name = "insights"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from insights.models import SentimentSettings
        from insights.selectors import sentiment_settings_cache_clear
        from insights.sender import outbox_kind_register
        from insights.services.webhooks import WEBHOOK_OUTBOX

        outbox_kind_register(WEBHOOK_OUTBOX)
        # Saved in this process (the settings page, a test): the next ingest reads them again.
        post_save.connect(sentiment_settings_cache_clear, sender=SentimentSettings, weak=False)
        post_delete.connect(sentiment_settings_cache_clear, sender=SentimentSettings, weak=False)
