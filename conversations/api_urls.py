from django.urls import path

app_name = "api"

# REST endpoints for channel integrations (token-authenticated) and staff actions.
urlpatterns: list = []
