from django.urls import path

from conversations import views

app_name = "conversations"

urlpatterns = [
    path("workspace/", views.workspace, name="workspace"),
    path("workspace/take-next/", views.take_next, name="take_next"),
    path("ongoing/", views.ongoing, name="ongoing"),
    path("presence/", views.presence_update, name="presence"),
    path("conversations/<int:conversation_id>/monitor/", views.monitor, name="monitor"),
    path("conversations/<int:conversation_id>/route/", views.conversation_route, name="route"),
    path("conversations/<int:conversation_id>/assign/", views.conversation_assign, name="assign"),
    path("conversations/<int:conversation_id>/transfer/", views.conversation_transfer, name="transfer"),
    path("chat/", views.chat_start, name="chat_start"),
    path("chat/<str:token>/", views.chat, name="chat"),
]
