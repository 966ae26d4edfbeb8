from django.urls import path

from chatwoot import views

app_name = "chatwoot"

urlpatterns = [
    path("<str:secret>/", views.webhook, name="webhook"),
]
