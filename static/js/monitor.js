// Monitor: a read-only live transcript with per-message sentiment. Customer messages that
// drove a drop are highlighted so an alert explains itself.
import {
  LiveSocket, appendMessage, applyMessageScore, connectionBadge, el, markDropDrivers,
  renderSentiment, timeText, wireCorrections,
} from "./live.js";

const root = document.getElementById("monitor");
const conversation = root.dataset.conversation;
const list = root.querySelector(".transcript");
const header = root.querySelector(".comm-sentiment .sentiment");
const alertLog = document.getElementById("alert-log");
const STATUS_LABELS = {open: "Open", active: "Active", waiting: "Waiting", wrap_up: "Wrap-up", closed: "Closed"};

function onFrame(frame) {
  if (frame.conversation !== undefined && String(frame.conversation) !== conversation) return;
  switch (frame.type) {
    case "message.created":
      appendMessage(list, frame, {showSentiment: true, customerName: root.dataset.customer,
        correctTemplate: root.dataset.correctUrl, csrf: root.dataset.csrf});
      markDropDrivers(list);
      break;
    case "conversation.scored":
      applyMessageScore(list, frame);
      if (frame.conversation_level !== undefined) {
        renderSentiment(header, {slug: frame.conversation_level, value: frame.conversation_level_value,
          label: frame.conversation_label, trend: frame.trend || "steady"});
      }
      break;
    case "alert.raised":
    case "alert.recovered": {
      const who = frame.audience === "supervisor" ? "Supervisor notification" : "Representative alert";
      const what = frame.type === "alert.raised" ? `reached ${frame.label}` : `recovered to ${frame.label}`;
      alertLog.prepend(el("li", {class: `alert-entry ${frame.type === "alert.raised" ? "raised" : "recovered"}`, dataset: {alert: String(frame.alert)}},
        el("time", {text: timeText(new Date().toISOString())}), ` ${who}: sentiment ${what}`));
      break;
    }
    case "alert.state":
      // Catch-up: the alerts that still hold, each logged once.
      for (const alert of frame.alerts || []) {
        if (alertLog.querySelector(`[data-alert="${Number(alert.alert)}"]`)) continue;
        const who = alert.audience === "supervisor" ? "Supervisor notification" : "Representative alert";
        alertLog.prepend(el("li", {class: "alert-entry raised", dataset: {alert: String(alert.alert)}},
          el("time", {datetime: alert.created_at, text: timeText(alert.created_at)}), ` ${who}: sentiment reached ${alert.label} (still holds)`));
      }
      break;
    case "conversation.removed":
      // No longer yours to watch (transferred away): the server closes the socket too.
      document.getElementById("monitor-status").textContent = "No longer yours to monitor";
      socket.closedByUs = true; // do not reconnect: the server would refuse
      break;
    case "conversation.updated":
    case "conversation.assigned":
      if (frame.representative_name !== undefined) document.getElementById("monitor-rep").textContent = frame.representative_name || "Unassigned";
      if (frame.status) document.getElementById("monitor-status").textContent = STATUS_LABELS[frame.status] || frame.status;
      break;
    default:
  }
}

const socket = new LiveSocket(`/ws/monitor/${conversation}/`, {onFrame, onStatus: connectionBadge(document.getElementById("conn-status"))});
socket.track(conversation, Number(root.dataset.lastSeq));
markDropDrivers(list);
wireCorrections(root);
