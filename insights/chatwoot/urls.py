from django.urls import path

from insights.chatwoot import views

app_name = "chatwoot"

urlpatterns = [
    path("<str:secret>/", views.webhook, name="webhook"),
]
