from django.urls import path

from insights.chatwoot import setup_views, views

app_name = "chatwoot"

# Mounted at the site root: Chatwoot posts to integrations/chatwoot/<secret>/; the setup pages
# live in the Insights → Integrations area.
urlpatterns = [
    path("integrations/chatwoot/<str:secret>/", views.webhook, name="webhook"),
    path("insights/integrations/chatwoot/", setup_views.setup, name="setup"),
    path("insights/integrations/chatwoot/<int:connection_id>/", setup_views.connection, name="connection"),
    path("insights/integrations/chatwoot/<int:connection_id>/check/", setup_views.check, name="check"),
]
