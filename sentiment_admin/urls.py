from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from conversations import views as conversation_views

urlpatterns = [
    path("", conversation_views.home, name="home"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("insights.urls")),
    path("api/", include("conversations.api_urls")),
    path("", include("insights.chatwoot.urls")),
    path("", include("conversations.urls")),
    path("django-admin/", admin.site.urls),
]

handler500 = "sentiment_admin.middleware.server_error"
