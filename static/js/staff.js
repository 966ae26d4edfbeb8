// The shared staff connection of every staff page that has no live view of its own (dashboard,
// Monitor, Assign/Transfer, Insights, Corrections): it keeps the person's presence (one socket
// per tab; Offline only when no tab is open), drives the presence selector and the live
// indicator, and shows a toast for each notification wherever the person is.
import {LiveSocket, connectionBadge, el, settingsNotice, wirePresence} from "./live.js";
import {alertSentence, announceAlert, buildToast, customerLabel, dismissLater, neighbourToastControl, removeKeepingFocus} from "./alerts.js";

const bar = document.getElementById("staff-bar");
const toasts = document.getElementById("staff-toasts");

function addToast(frame) {
  if (toasts.querySelector(`[data-notification="${Number(frame.notification)}"]`)) return;
  const who = customerLabel(frame);
  const toast = buildToast(frame, el("div", {class: "notification-actions"},
    el("button", {type: "button", class: "ack-button"}, "Acknowledge", el("span", {class: "visually-hidden", text: ` the alert about ${who}`})),
    el("a", {href: `/conversations/${Number(frame.conversation)}/monitor/`}, "Monitor", el("span", {class: "visually-hidden", text: ` ${who}`}))));
  toasts.append(toast);
  announceAlert(alertSentence(frame));
  dismissLater(toast, () => neighbourToastControl(toast));
}

function onFrame(frame) {
  switch (frame.type) {
    case "notification.created":
      addToast(frame);
      break;
    case "notification.acknowledged": {
      const toast = toasts.querySelector(`[data-notification="${Number(frame.notification)}"]`);
      if (toast) removeKeepingFocus(toast, () => neighbourToastControl(toast));
      break;
    }
    default:
      if (!settingsNotice(frame)) presence(frame);
  }
}

const socket = new LiveSocket("/ws/staff/", {onFrame, catchUp: false, onStatus: connectionBadge(document.getElementById("staff-conn"))});
const presence = bar ? wirePresence(socket, bar.dataset.staffId) : () => {};

toasts.addEventListener("click", (event) => {
  const toast = event.target.closest(".toast");
  if (!toast) return;
  // The focus moves to the next toast (else the page's main region), never to the page's top.
  if (event.target.closest(".ack-button")) {
    socket.send({type: "notification.ack", notification: Number(toast.dataset.notification)});
    removeKeepingFocus(toast, () => neighbourToastControl(toast));
  } else if (event.target.closest(".toast-close")) removeKeepingFocus(toast, () => neighbourToastControl(toast));
});
