// Reviewers' tabs: audit flags to keep or change, disagreements to adjudicate (each annotator's label or
// mask side by side, or the fused mask), and the inter-annotator agreement figures.

import { $, api, el, encodePath, post, refusal, requestId, say } from "./api.js";
import { state } from "./label.js";

// An annotator's doubt and comment, as reviewers see them beside the answer ("" when they left none).
function note(a) {
  const parts = [];
  if (a.unsure) parts.push(el("span", { class: "unsure-tag", text: "unsure" }));
  if (a.comment) parts.push(el("q", { text: a.comment }));
  if (!parts.length) return "";
  const box = el("span", { class: "note", testid: "note" }, " ");
  for (const p of parts) box.append(p, " ");
  return box;
}

const fmt = (x, digits = 2) => (x == null || Number.isNaN(x) ? "–" : Number(x).toFixed(digits));

// Nothing the page could not show is decided: a card's buttons work once every image on it (the image,
// and the masks to choose from) is on screen; if one cannot be shown, the card says so and stays shut.
function decidableWhenShown(card) {
  const buttons = [...card.querySelectorAll("button, select")];
  const images = [...card.querySelectorAll("img")];
  let waiting = images.length;
  const shut = (yes) => { for (const b of buttons) b.disabled = yes; };
  shut(waiting > 0);
  const failed = () => {
    if (card.classList.contains("unshowable")) return;
    waiting = Infinity;
    card.classList.add("unshowable");
    card.append(el("div", { class: "why error", testid: "image-error",
      text: "An image of this card cannot be shown, so it cannot be decided here." }));
    shut(true);
  };
  for (const img of images) {
    img.addEventListener("load", () => { if (--waiting === 0) shut(false); }, { once: true });
    img.addEventListener("error", failed, { once: true });
  }
  return card;
}

export async function loadFlags() {
  let data;
  try {
    data = await api("/api/flags?pending=true");
  } catch (err) {
    say(refusal("load the flags", err), true);
    return;
  }
  $("flag-count").textContent = data.flags.length ? `(${data.flags.length})` : "";
  const box = $("flags");
  box.replaceChildren();
  if (!data.flags.length) {
    box.textContent = "No labels waiting for review.";
    return;
  }
  for (const flag of data.flags) {
    const select = el("select", { "aria-label": "new label" });
    for (const name of state.project.classes) select.add(new Option(name, name, false, name === flag.suggested));
    const why = el("div", { class: "why", text: `score ${fmt(flag.score)}: ${flag.reason}` });
    const noted = (flag.notes || []).map((n) => el("div", {}, el("b", { text: n.annotator }), note(n)));
    const text = el("div", {},
      el("div", {}, el("b", { text: flag.image_id }), ": labelled ", el("b", { class: "given", text: flag.label ?? "–" }),
        ", the audit suggests ", el("b", { class: "sugg", text: flag.suggested ?? "–" })), why, ...noted);
    const card = el("div", { class: "flag", testid: "flag" },
      el("img", { src: `/api/images/${encodePath(flag.image_id)}`, alt: flag.image_id }), text,
      el("button", { text: "Keep", onclick: () => review(flag, "keep") }), select,
      el("button", { text: "Change", onclick: () => review(flag, "change", select.value) }));
    box.append(decidableWhenShown(card));
  }
}

// `shown`: the label this card showed; the server refuses the decision if it changed since.
async function review(flag, outcome, newLabel = null) {
  const flagId = flag.id;
  try {
    await post(`/api/flags/${flagId}/review`, { outcome, label: newLabel, shown: flag.label ?? null });
    say(`flag ${flagId}: ${outcome === "keep" ? "label kept" : `changed to ${newLabel}`}`);
  } catch (err) {
    say(refusal("record the review", err), true);
  }
  await loadFlags();
}

// ------------------------------------------------------------------------------------------ adjudication
function thumb(imageId, maskUrl = null) {
  const box = el("div", { class: "thumb" }, el("img", { src: `/api/images/${encodePath(imageId)}`, alt: imageId }));
  if (maskUrl) box.append(el("img", { class: "overlay", src: maskUrl, alt: "mask" }));
  return box;
}

function choice(item, text, payload, testid, content = null) {
  const button = el("button", { text, testid });
  button.addEventListener("click", () => decide(item, payload, button));
  return content ? el("div", { class: "choice" }, content, button) : button;
}

function disputeCard(item) {
  const segmentation = state.project.target === "mask";
  const standing = item.status === "majority" ? " (the majority stands unless you decide otherwise)" : "";
  const header = el("div", { class: "dispute-head" }, el("b", { text: item.image_id }),
    el("span", { class: "why", text: ` ${item.reason || ""}${standing}` }));
  const choices = el("div", { class: "choices" });
  for (const a of item.annotations) {
    if (segmentation) {
      const content = el("div", { class: "choice-content" }, thumb(item.image_id, a.mask_url), note(a));
      choices.append(choice(item, `Take ${a.annotator}'s mask`, { annotation_id: a.annotation_id },
        `decide-annotation-${a.annotation_id}`, content));
    } else {
      choices.append(el("div", { class: "vote", testid: "vote" }, el("b", { text: a.annotator }), `: ${a.label}`,
        note(a)));
    }
  }
  if (segmentation && item.fused_mask_url) {
    choices.append(choice(item, "Take the fused mask", { fused: true }, "decide-fused",
      thumb(item.image_id, item.fused_mask_url)));
  }
  const card = el("div", { class: "dispute", testid: "dispute" }, header);
  card.dataset.imageId = item.image_id;
  if (!segmentation) {
    card.append(el("div", { class: "row" }, thumb(item.image_id), choices));
    const decideBox = el("div", { class: "decide" }, "Decide: ");
    state.project.classes.forEach((name, i) =>
      decideBox.append(choice(item, name, { label: i }, `decide-class-${name}`)));
    card.append(decideBox);
  } else {
    card.append(choices);
  }
  return card;
}

export async function loadAdjudication() {
  let data;
  try {
    data = await api("/api/adjudication");
  } catch (err) {
    say(refusal("load the adjudication queue", err), true);
    return;
  }
  $("adjudicate-count").textContent = data.items.length ? `(${data.items.length})` : "";
  const box = $("disputes");
  box.replaceChildren();
  if (!data.items.length) box.textContent = "No disagreements waiting for a decision.";
  for (const item of data.items) box.append(decidableWhenShown(disputeCard(item)));
  loadAgreement();
}

async function decide(item, payload, button) {
  const card = button.closest(".dispute");
  if (card.classList.contains("busy")) return;
  card.classList.add("busy");
  for (const b of card.querySelectorAll("button")) b.disabled = true;
  // One decision, one request id, even if retried; another choice on the same card is another decision.
  const choiceKey = JSON.stringify(payload);
  if (card.dataset.choice !== choiceKey) Object.assign(card.dataset, { choice: choiceKey, requestId: requestId() });
  const seen = item.annotations.map((a) => a.annotation_id); // refused if what stands changed since
  try {
    await post("/api/adjudication", { image_id: item.image_id, request_id: card.dataset.requestId, seen, ...payload });
    say(`${item.image_id}: decided (${button.textContent})`);
    await loadAdjudication();
  } catch (err) {
    say(refusal(`record the decision on ${item.image_id}`, err), true);
    if (err.status !== 0) delete card.dataset.choice; // refused: nothing stored, a new decision is new
    if (err.status === 409) await loadAdjudication(); // what stands changed: show it as it is now
    card.classList.remove("busy");
    if (!card.classList.contains("unshowable")) for (const b of card.querySelectorAll("button")) b.disabled = false;
  }
}

// ------------------------------------------------------------------------------------------ agreement
function table(head, rows) {
  return el("table", {}, el("tr", {}, ...head.map((h) => el("th", { text: h }))),
    ...rows.map((r) => el("tr", {}, ...r.map((c) => el("td", { text: String(c) })))));
}

export async function loadAgreement() {
  const box = $("agreement");
  let a;
  try {
    a = await api("/api/agreement");
  } catch (err) {
    box.textContent = refusal("load the agreement figures", err);
    return;
  }
  const parts = [el("h3", { text: "Agreement between annotators" })];
  if (a.fleiss_kappa != null) {
    parts.push(el("p", { testid: "fleiss", text: `Fleiss' kappa ${fmt(a.fleiss_kappa)} over ${a.fleiss_items} images` +
      (a.fleiss_raters ? ` (${a.fleiss_raters} people each)` : "") }));
  }
  const pairs = [];
  for (const [pair, v] of Object.entries(a.cohen_kappa || {})) pairs.push([pair.replace("|", " & "), "Cohen's kappa", fmt(v.kappa), v.n]);
  for (const [pair, v] of Object.entries(a.mask_dice || {})) pairs.push([pair.replace("|", " & "), "mean Dice", fmt(v.dice), v.n]);
  if (pairs.length) parts.push(table(["pair", "measure", "value", "images"], pairs));
  const people = Object.entries(a.annotators || {}).map(([name, v]) => {
    const c = (a.vs_consensus || {})[name];
    return [name, v.annotations, v.median_seconds == null ? "–" : fmt(v.median_seconds, 1),
      c ? `${fmt(c.agreement)} (${c.measure || "agreement"}, ${c.n})` : "–"];
  });
  if (people.length) parts.push(table(["annotator", "annotations", "median s / image", "vs consensus"], people));
  if (parts.length === 1) parts.push(el("p", { text: "No overlapping annotations yet." }));
  box.replaceChildren(...parts);
}
