from django.urls import path

from conversations import views

app_name = "conversations"

urlpatterns = [
    path("workspace/", views.workspace, name="workspace"),
    path("ongoing/", views.ongoing, name="ongoing"),
    path("dashboard/", views.dashboard, name="dashboard"),
]
