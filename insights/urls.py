from django.urls import path

from insights import views

app_name = "insights"

urlpatterns = [
    path("", views.insights_home, name="home"),
    path("sentiment/", views.sentiment_settings, name="sentiment"),
    path("sentiment/queues/", views.queue_override, name="queue_override"),
    path("integrations/", views.integrations, name="integrations"),
    path("integrations/webhook-test/", views.webhook_test, name="webhook_test"),
]
