// The shared staff connection of every staff page that has no live view of its own (dashboard,
// Monitor, Assign/Transfer, Insights, Corrections): it keeps the person's presence (one socket
// per tab; Offline only when no tab is open), drives the presence selector and the live
// indicator, and shows a toast for each notification wherever the person is.
import {LiveSocket, connectionBadge, el, settingsNotice, wirePresence} from "./live.js";

const bar = document.getElementById("staff-bar");
const toasts = document.getElementById("staff-toasts");

function toastText(frame) {
  return `${frame.customer || "A customer"} in ${frame.queue_name || "your queue"}: sentiment ${frame.label}`;
}

function addToast(frame) {
  if (toasts.querySelector(`[data-notification="${Number(frame.notification)}"]`)) return;
  const toast = el("div", {class: "toast", role: "alert", dataset: {notification: String(frame.notification)}},
    el("span", {class: "toast-icon", "aria-hidden": "true", text: "⚠"}),
    el("p", {class: "toast-text", text: toastText(frame)}),
    el("div", {class: "notification-actions"},
      el("button", {type: "button", class: "ack-button", text: "Acknowledge"}),
      el("a", {href: `/conversations/${Number(frame.conversation)}/monitor/`, text: "Monitor"})),
    el("button", {type: "button", class: "toast-close link-button", "aria-label": "Dismiss notification", text: "×"}));
  toasts.append(toast);
  setTimeout(() => toast.remove(), 15000);
}

function onFrame(frame) {
  switch (frame.type) {
    case "notification.created":
      addToast(frame);
      break;
    case "notification.acknowledged":
      toasts.querySelector(`[data-notification="${Number(frame.notification)}"]`)?.remove();
      break;
    default:
      if (!settingsNotice(frame)) presence(frame);
  }
}

const socket = new LiveSocket("/ws/staff/", {onFrame, catchUp: false, onStatus: connectionBadge(document.getElementById("staff-conn"))});
const presence = bar ? wirePresence(socket, bar.dataset.staffId) : () => {};

toasts.addEventListener("click", (event) => {
  const toast = event.target.closest(".toast");
  if (!toast) return;
  if (event.target.closest(".ack-button")) socket.send({type: "notification.ack", notification: Number(toast.dataset.notification)});
  else if (event.target.closest(".toast-close")) toast.remove();
});
