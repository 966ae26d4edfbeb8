from tests.insights.webhook_receiver import receiver  # noqa: F401  (a fixture)
