from django.urls import path

from insights import views

app_name = "insights"

# Mounted at the site root: the settings pages live under insights/, the dashboard and
# corrections where staff always found them.
urlpatterns = [
    path("insights/", views.insights_home, name="home"),
    path("insights/sentiment/", views.sentiment_settings, name="sentiment"),
    path("insights/sentiment/queues/", views.queue_override, name="queue_override"),
    path("insights/integrations/", views.integrations, name="integrations"),
    path("insights/integrations/webhook-test/", views.webhook_test, name="webhook_test"),
    path(
        "conversations/<int:conversation_id>/messages/<int:seq>/correct/",
        views.message_correct,
        name="correct",
    ),
    path("corrections/", views.corrections, name="corrections"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("dashboard/export.csv", views.dashboard_export, name="dashboard_export"),
]
