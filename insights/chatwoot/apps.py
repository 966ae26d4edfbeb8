from django.apps import AppConfig


class ChatwootConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "insights.chatwoot"
    # The label stays "chatwoot": migrations, table names and admin URLs are unchanged.
    label = "chatwoot"
    verbose_name = "Chatwoot adapter"

    def ready(self) -> None:
        from insights.alert_sinks import alert_sink_register
        from insights.chatwoot.services.outbound import CHATWOOT_OUTBOX, chatwoot_alert_enqueue
        from insights.integration_pages import IntegrationPage, integration_page_register
        from insights.sender import outbox_kind_register

        alert_sink_register(chatwoot_alert_enqueue)
        outbox_kind_register(CHATWOOT_OUTBOX)
        integration_page_register(
            IntegrationPage(
                title="Chatwoot",
                url_name="chatwoot:setup",
                description="Score Chatwoot conversations live and label them in Chatwoot on an alert.",
            )
        )
