from django.apps import AppConfig


class ChatwootConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "insights.chatwoot"
    # The label stays "chatwoot": migrations, table names and admin URLs are unchanged.
    label = "chatwoot"
    verbose_name = "Chatwoot adapter"

    def ready(self) -> None:
        from insights.alert_sinks import alert_sink_register
        from insights.chatwoot.services.outbound import chatwoot_alert_enqueue
        from insights.integration_pages import IntegrationPage, integration_page_register

        alert_sink_register(chatwoot_alert_enqueue)
        integration_page_register(
            IntegrationPage(
                title="Chatwoot",
                url_name="chatwoot:setup",
                description="Score Chatwoot conversations live and label them in Chatwoot on an alert.",
            )
        )
