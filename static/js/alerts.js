// Alerts for people who cannot see them arrive: one assertive announcer per page (a sentence per
// alert, apart from the polite message log), and toasts whose controls name the customer and
// that never disappear from under a pointer or the keyboard focus.
import {el} from "./live.js";

const TOAST_MS = 15000;

/** "Ana Silva (ref 4821)": the name and the last characters of the customer's reference, so two
 * customers of the same name are told apart. */
export function customerLabel(frame) {
  const name = frame.customer || "A customer";
  return frame.customer_ref ? `${name} (ref ${frame.customer_ref})` : name;
}

export function alertSentence(frame) {
  return `Alert: ${customerLabel(frame)} in ${frame.queue_name || "your queue"}, sentiment ${frame.label}.`;
}

/** Read one sentence out now (assertive), once: the announcer is the only live region alerts use. */
export function announceAlert(text) {
  const node = document.getElementById("alert-announcer");
  if (!node) return;
  node.append(el("p", {text}));
  while (node.children.length > 3) node.firstElementChild.remove();
}

/** A toast (not itself a live region: announceAlert speaks for it). `actions` are its buttons. */
export function buildToast(frame, actions) {
  const who = customerLabel(frame);
  return el("div", {class: "toast", dataset: {notification: String(frame.notification), conversation: String(frame.conversation)}},
    el("span", {class: "toast-icon", "aria-hidden": "true", text: "⚠"}),
    el("p", {class: "toast-text", text: `${who} in ${frame.queue_name || "your queue"}: sentiment ${frame.label}`}),
    actions,
    el("button", {type: "button", class: "toast-close link-button", "aria-label": `Dismiss the alert about ${who}`, text: "×"}));
}

/** Remove a node; if the focus was inside it, hand the focus to `next()` (a sensible neighbour). */
export function removeKeepingFocus(node, next) {
  const target = node.contains(document.activeElement) ? (next() || document.getElementById("main")) : null;
  node.remove();
  target?.focus();
}

/** The toast goes after a while, but never while it is hovered or holds the focus. */
export function dismissLater(toast, next) {
  const attempt = () => {
    if (!toast.isConnected) return;
    if (toast.matches(":hover, :focus-within")) { setTimeout(attempt, 3000); return; }
    removeKeepingFocus(toast, next);
  };
  setTimeout(attempt, TOAST_MS);
}

/** The first control of the nearest remaining sibling toast (after, else before). */
export function neighbourToastControl(toast) {
  const other = toast.nextElementSibling || toast.previousElementSibling;
  return other?.querySelector("button, a") || null;
}
