// The history of the image on screen: who labelled what and when (answers, replacements, undos, skips,
// reviewers' decisions and flag reviews), newest last, from /api/history. An annotator sees others'
// answers only once they stand on the image themselves (blind annotation; the server hides them).

import { $, api, el, encodePath } from "./api.js";

const WHAT = {
  expert: "answered",
  import: "imported",
  model: "model proposed",
  adjudication: "decided",
  replaced: "replaced",
  undo: "took back",
  skip: "skipped",
  "flag review": "reviewed the audit flag",
};

let shown = null; // the image id whose history is on screen (or loading)

function when(iso) {
  const d = new Date(iso);
  const today = d.toDateString() === new Date().toDateString();
  const time = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  return today ? time : `${d.toLocaleDateString()} ${time}`;
}

function answer(e) {
  if (e.hidden) return " (hidden until you have answered)";
  if (e.action === "skip") return "";
  if (e.action === "flag review") return `: ${e.outcome}`;
  return e.kind === "mask" ? " a mask" : e.label ? `: ${e.label}` : "";
}

function row(e) {
  const item = el("li", { testid: "history-event" },
    el("time", { datetime: e.at, text: when(e.at) }), " ", el("b", { text: e.who || "?" }),
    ` ${WHAT[e.action] || e.action}${answer(e)}`);
  item.dataset.action = e.action;
  if (e.unsure) item.append(" ", el("span", { class: "unsure-tag", text: "unsure" }));
  if (e.comment) item.append(" ", el("q", { class: "comment", text: e.comment }));
  if (e.accepted) item.append(" ", el("span", { class: "accepted-tag", text: `${e.accepted}'s proposal, accepted unchanged` }));
  return item;
}

export function setupHistory() {
  const box = el("details", { id: "history", testid: "history", open: "" },
    el("summary", { text: "History of this image" }), el("ol", { id: "history-list" }));
  $("notes").after(box);
}

export function clearHistory() {
  shown = null;
  $("history-list").replaceChildren();
}

// Show `imageId`'s history (again: refreshed, e.g. when others' work arrives).
export async function loadHistory(imageId) {
  shown = imageId;
  let data;
  try {
    data = await api(`/api/history/${encodePath(imageId)}`);
  } catch (err) {
    if (shown === imageId) $("history-list").replaceChildren(el("li", { text: `history unavailable: ${err.message}` }));
    return;
  }
  if (shown !== imageId) return; // another image is on screen by now
  const list = $("history-list");
  list.replaceChildren(...data.events.map(row));
  if (!data.events.length) list.append(el("li", { class: "none", text: "nobody has worked on this image yet" }));
}

export function historyShown() {
  return shown;
}

// The annotation ids of `me`'s answers standing on `imageId` (neither undone nor replaced): a page that
// did not save them knows the image was answered in another page (tab) of the same person.
export async function standingOf(imageId, me) {
  const { events } = await api(`/api/history/${encodePath(imageId)}`);
  const taken = events.filter((e) => e.action === "undo" || e.action === "replaced");
  const gone = new Set(taken.map((e) => e.annotation_id));
  return events.filter((e) => e.who === me && e.action === "expert" && !gone.has(e.annotation_id))
    .map((e) => e.annotation_id);
}
