// Labelling: the caller's queue, one image at a time. Whatever is drawn or chosen is bound to the image
// id and size it was made on, and nothing can be sent until that image (and its mask) is on screen; one
// action is one request id, so a repeated key or a retry stores one annotation; the page says a label is
// undone only after the server confirmed it no longer stands.

import { $, api, ApiError, encodePath, post, refusal, request, requestId, say } from "./api.js";
import { showEmpty, showItem, showMaskPrediction } from "./details.js";
import { clearHistory, loadHistory, setupHistory, standingOf } from "./history.js";
import { lapsed, leased, setupHold } from "./hold.js";
import { startLive } from "./live.js";
import { MaskEditor } from "./mask.js";
import { notes, setupNotes } from "./notes.js";
import { progress } from "./progress.js";
import { Stage } from "./stage.js";
import { setupTools } from "./tools.js";

export const state = {
  project: null,
  me: null,
  item: null, // the queue item on screen (or loading)
  bound: null, // {image_id, width, height} once that item's image (and mask) are shown: actions need it
  shownAt: 0, // when it was shown (performance.now()): see SETTLE_MS
  unshowable: null, // why the current image cannot be shown
  busy: false, // an action is in flight
  acts: 0, // actions begun on this page (a lease renewal answered after one began is stale: hold.js)
  pending: null, // {key, requestId}: the last action that got no answer, retried with the same id
  undo: [], // [{annotation_id, image_id, note}] saved on this page, newest last
  restore: null, // {image_id, note, mask}: an answer just taken back (its notes, its mask PNG), for its image
  seq: 0,
  undoArmed: -1, // the image (seq) on which U was pressed once over unsaved work: a second press acts
  abort: null,
};
let stage;
let editor;
let loading = 0; // queue loads in flight
let queueLoads = 0; // the newest queue load's number: an older one's answer is stale when it arrives

const isSegmentation = () => state.project.target === "mask";
const labelling = () => !$("label-view").hidden;

// Call before the page's own keys are added: the polygon's Enter and Escape come first in keys.js's table.
export function setup() {
  stage = new Stage();
  editor = new MaskEditor(stage, () => ready());
  editor.onChange = controls;
  setupTools(editor, labelling, () => !!state.project && isSegmentation(), saveMask);
  setupNotes(labelling);
  setupHistory();
  return { stage, editor };
}

// A key or click this soon after an image appeared was meant for the previous one (Enter or a class key
// pressed twice, 200 ms apart, stored the model's proposal, or the same class, for an image on screen
// for 100 ms): it is refused with a message, and the image is actionable from then on.
const SETTLE_MS = 400;

const settled = () => performance.now() - state.shownAt >= SETTLE_MS;

export function ready() {
  return !!state.bound && !state.busy && settled();
}

// Why an action was not taken, when it is only too early (nothing is said while an image loads).
function early() {
  if (!state.bound || state.busy || settled()) return false;
  say("ignored: that came as this image appeared (meant for the previous one?); press it again to act", true);
  return true;
}

export function controls() {
  const ok = ready();
  for (const b of document.querySelectorAll("#classes button")) b.disabled = !ok;
  $("save").disabled = !ok;
  $("no-lesion").disabled = !ok;
  $("canvas-undo").disabled = !ok || !editor.strokes.length;
  $("skip").disabled = !canSkip();
  $("undo").disabled = state.busy || !state.undo.length;
  $("mask-canvas").classList.toggle("inactive", !ok);
  $("stage").dataset.ready = String(ok); // a hook for tests and automation: actions are accepted now
}

// Whether the image on screen holds work not saved yet: strokes, an open outline, a comment or the flag.
function unsaved() {
  if (!state.item) return false; // between images: what the fields hold was sent with the last answer
  const note = notes.value();
  const drawn = isSegmentation() && (editor.strokes.length > 0 || !!editor.drawing || editor.polygon.open);
  return drawn || note.unsure || !!note.comment;
}

// Others' work, as a live poll brings it: the counts, what comes next, this image's history; when nothing
// was on screen and work arrived, it is shown; when the image on screen is no longer this person's to
// annotate (decided by a reviewer, or completed by others after the lease ran out), the next one is,
// unless it holds unsaved work (the person saves or skips it themselves).
function live() {
  const upNext = document.createElement("div");
  Object.assign(upNext, { id: "up-next", className: "up-next" });
  upNext.dataset.testid = "up-next";
  $("mine").after(upNext);
  const current = () => (state.bound ? state.bound.image_id : null);
  setupHold(current, () => state.acts);
  startLive({
    current,
    busy: () => state.busy,
    seq: () => state.seq,
    onData(data) {
      progress(data, state.project.overlap || 1);
      if (state.bound) loadHistory(state.bound.image_id);
      else if (!state.item && !loading && !state.busy && data.remaining > 0 && labelling()) loadQueue();
    },
    onClosed(imageId) {
      const why = `${imageId} no longer needs your annotation ` +
        "(others completed it, or a reviewer decided it)";
      if (unsaved()) { // the server may still take it: never thrown away unseen
        say(`${why}; your unsaved work on it is kept: save it, or skip (S) to move on`, true);
        answeredElsewhere(imageId);
        return;
      }
      say(why, true);
      moveOn()();
    },
    onLapsed: lapsed,
  });
}

// Two pages (tabs) of one person show the same image (the lease is theirs): when the other page's answer
// closed it, saving here replaces that answer, which the page says rather than "others completed it".
async function answeredElsewhere(imageId) {
  const seq = state.seq;
  const ids = await standingOf(imageId, state.me.name).catch(() => []);
  const here = new Set(state.undo.map((u) => u.annotation_id));
  if (seq !== state.seq || !ids.length || ids.some((id) => here.has(id))) return;
  say(`you answered ${imageId} in another page of yours: saving here replaces that answer; ` +
    "skip (S) to keep it", true);
}

// Fetch the queue and show its first image (or `first`, an image just taken back by undo). The newest load
// answers for the page: U pressed while the next image's queue still loaded brought its image back, and
// the older answer, arriving last, replaced it (the taken-back mask gone, or another image shown).
export async function loadQueue(first = null) {
  loading += 1; // a live poll never loads the queue meanwhile (it would lease another image than `first`)
  const mine = ++queueLoads;
  try {
    const query = first ? `?first=${encodeURIComponent(first)}` : "";
    let data;
    try {
      data = await api(`/api/queue${query}`);
    } catch (err) {
      if (mine === queueLoads) say(refusal("load the queue", err), true);
      return;
    }
    if (mine !== queueLoads) return;
    const items = data.items; // the server put `first` first (and leased it to us) if it is still free
    if (items.length) leased();
    if (!$("up-next")) live();
    progress({ ...data, next: items.slice(1, 6).map((i) => i.image_id) }, state.project.overlap || 1);
    showEmpty(data.empty, () => loadQueue());
    await show(items[0] || null);
  } finally {
    loading -= 1;
  }
}

function stageStatus(text, error = false) {
  const box = $("stage-status");
  box.hidden = !text;
  box.textContent = text || "";
  box.classList.toggle("error", error);
  box.dataset.testid = error ? "image-error" : "stage-status";
}

// Show one item. Until its image and mask are on screen nothing can be labelled or saved; a drawing of
// the previous image never survives into this one (the canvas is cleared and rebound first).
export async function show(item) {
  state.seq += 1;
  const seq = state.seq;
  if (state.abort) state.abort.abort();
  state.abort = new AbortController();
  const { signal } = state.abort;
  Object.assign(state, { item, bound: null, unshowable: null, pending: null });
  $("mask-note").textContent = "";
  notes.reset();
  const back = item && state.restore && state.restore.image_id === item.image_id ? state.restore : null;
  if (back) notes.restore(back.note);
  else if (state.restore) { // taken back, but another holds it now or it is complete: never dropped unsaid
    say(`${state.restore.image_id} is taken back but not free for you now (another annotator holds it, or ` +
      "it has its answers): your mask and notes on it could not be brought back", true);
  }
  state.restore = null;
  clearHistory();
  stage.clear();
  editor.reset();
  $("work").hidden = !item;
  $("empty").hidden = !!item;
  if (!item) return controls();
  $("image-id").textContent = item.image_id;
  showItem(item);
  if (isSegmentation()) showMaskPrediction(undefined); // its mask comes with the image
  stageStatus("loading the image…");
  controls();
  try {
    const size = await stage.load(item, signal);
    let loaded = null;
    if (isSegmentation()) loaded = await editor.load(item.image_id, signal);
    if (seq !== state.seq) return;
    const source = loaded && loaded.source;
    $("mask-note").textContent = source === "model" ? "the model's proposal: correct it, then save" : "";
    // a mask taken back is drawn instead of the model's: the box's "correct it, or N" is not about it
    if (isSegmentation()) showMaskPrediction(back && back.mask ? { source: "taken back" } : loaded);
    editor.reset();
    // on the canvas before the image is actionable: a stroke begun while it decoded was painted over
    if (back && back.mask) await restoreMask(back.mask, signal);
    if (seq !== state.seq) return;
    // `proposal`: the canvas holds the model's mask as proposed (N may then say No lesion over it)
    const proposal = source === "model" && !(back && back.mask);
    state.bound = { image_id: item.image_id, width: size.width, height: size.height, proposal };
    state.shownAt = performance.now();
    setTimeout(() => { if (seq === state.seq) controls(); }, SETTLE_MS + 10); // actionable from then on
    stageStatus("");
    loadHistory(item.image_id);
  } catch (err) {
    if (seq !== state.seq || err.name === "AbortError") return;
    state.unshowable = err.message;
    stage.clear();
    stageStatus(`This image cannot be shown (${err.message}), so it cannot be labelled here. Skip it (S).`, true);
    say(refusal(`show ${item.image_id}`, err), true);
  }
  controls();
}

// Run one action once: no second action while it is in flight; a request that got no answer keeps its
// request id, so pressing the key again retries the same action (stored once) rather than a new one.
// `send` returns what to do next (load the next image), done after the action is over, so the next
// image can be worked on as soon as it is on screen.
async function act(key, what, send) {
  if (state.busy) return;
  if (!state.pending || state.pending.key !== key) state.pending = { key, requestId: requestId() };
  const { requestId: rid } = state.pending;
  state.busy = true;
  state.acts += 1;
  controls();
  let next = null;
  try {
    next = await send(rid);
    state.pending = null;
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 0) state.pending = null;
    say(refusal(what, err), true);
    if (err.status === 409) next = moveOn(); // the image changed under us (others, another version)
  } finally {
    state.busy = false;
    controls();
  }
  if (next) await next();
}

// Nothing more may be sent for the image on screen (it is done, skipped or refused): unbind it at once,
// and return the loading of the next one.
function moveOn(first = null) {
  state.bound = null;
  state.item = null;
  controls();
  return () => loadQueue(first);
}

// The mask taken back by undo, on the canvas again, unsaved, to correct (one stroke: Ctrl+Z drops it).
async function restoreMask(png, signal) {
  try {
    await editor.paste(png, signal);
    $("mask-note").textContent = "your mask, taken back: correct it, then save";
  } catch (err) {
    if (err.name !== "AbortError") say(`your mask could not be brought back: ${err.message}`, true);
  }
}

const KEEP_MASKS = 20; // the newest saved masks kept for undo to bring back (memory)

function saved(b, result, text, mask = null) {
  state.undo.push({ annotation_id: result.annotation_id, image_id: b.image_id, note: notes.value(), mask });
  if (state.undo.length > KEEP_MASKS) state.undo[state.undo.length - 1 - KEEP_MASKS].mask = null;
  say(text);
  return moveOn();
}

export function label(index) {
  if (isSegmentation() || index >= state.project.classes.length || early() || !ready()) return;
  const b = state.bound;
  const note = notes.value();
  return act(`label:${b.image_id}:${index}:${notes.version}`, "save the label", async (rid) => {
    const result = await post("/api/labels", { image_id: b.image_id, label: index, request_id: rid, ...note });
    return saved(b, result, `${b.image_id}: ${result.label}`);
  });
}

async function putMask(b, rid, noLesion) {
  const blob = await editor.toPng(noLesion);
  const note = notes.value();
  const query = `request_id=${encodeURIComponent(rid)}&width=${b.width}&height=${b.height}` +
    (noLesion ? "&no_lesion=1" : "") + (note.unsure ? "&unsure=1" : "") +
    (note.comment ? `&comment=${encodeURIComponent(note.comment)}` : "");
  const response = await request(`/api/masks/${encodePath(b.image_id)}?${query}`, {
    method: "PUT", headers: { "Content-Type": "image/png" }, body: blob,
  });
  return { ...(await response.json()), png: blob }; // the PNG, for undo to bring back
}

// What is saved is what the expert finished and sees: an outline still open is not part of the mask yet
// (saving would drop it unseen), a held stroke is only half drawn (its rest would be lost as the page moved
// on), and a hidden overlay may hold pixels they cannot see (the model's proposal, a taken-back mask).
// `shown`: the overlay must be shown (not for No lesion: it stores an empty mask whatever the overlay holds).
function notFinished(shown = true) {
  let why = "";
  if (editor.polygon.open) why = "a polygon is still open: close it (Enter) or cancel it (Esc) first";
  else if (editor.drawing) why = "finish the stroke (release it) before saving";
  else if (shown && !editor.visible()) why = "the mask is hidden: show it (O) to see what you save";
  if (why) say(why, true);
  return !!why;
}

export function saveMask() {
  if (!isSegmentation() || early() || !ready() || notFinished()) return;
  const b = state.bound;
  if (editor.isEmpty()) {
    say("the mask is empty: if this image shows no lesion, use No lesion (N)", true);
    return;
  }
  return act(`mask:${b.image_id}:${editor.version}:${notes.version}`, "save the mask", async (rid) => {
    const result = await putMask(b, rid, false);
    return saved(b, result, `mask saved for ${b.image_id}`, result.png);
  });
}

export function noLesion() {
  if (!isSegmentation() || early() || !ready() || notFinished(false)) return;
  const b = state.bound;
  // the model's proposal, untouched, is no drawing of the expert's: N answers it (as its box offers)
  if (!editor.isEmpty() && !(b.proposal && !editor.strokes.length)) {
    say("there is a drawing on this image: erase it (canvas undo) before saying No lesion, or save it", true);
    return;
  }
  return act(`none:${b.image_id}:${editor.version}:${notes.version}`, "save No lesion", async (rid) => {
    const result = await putMask(b, rid, true);
    return saved(b, result, `no lesion saved for ${b.image_id}`, result.png); // U brings it back empty
  });
}

// An image is skipped once it was seen: on screen, or found unshowable (a second S pressed while the
// next image still loads would skip that one unseen, and it would never be offered to this person again).
function canSkip() {
  return !!state.item && !state.busy && (ready() || !!state.unshowable);
}

export function skip() {
  if (!state.unshowable && early()) return;
  if (!canSkip()) return;
  const id = state.item.image_id;
  return act(`skip:${id}`, "skip", async () => {
    await post("/api/skip", { image_id: id });
    say(`skipped ${id}`);
    return moveOn();
  });
}

// Take back this page's newest saved annotation; claimed as undone only when the server says it no
// longer stands (undone and not standing), otherwise the page says what the server answered.
export function undo() {
  if (state.busy) return;
  const last = state.undo[state.undo.length - 1];
  if (!last) {
    say("nothing to undo on this page");
    return;
  }
  // U is not Ctrl+Z: unsaved work on screen is dropped only when U is pressed again for this image
  if (unsaved() && state.undoArmed !== state.seq) {
    state.undoArmed = state.seq;
    say(`U takes back your answer on ${last.image_id} and drops your unsaved work here; press U again ` +
      "to do so (Ctrl+Z undoes a stroke)", true);
    return;
  }
  return act(`undo:${last.annotation_id}`, "undo", async () => {
    const result = await post("/api/undo", { annotation_id: last.annotation_id });
    state.undo.pop();
    // Whether it still stands is the truth: a retry of an undo whose answer was lost finds it undone
    // already (undone: false) though nothing of the caller's stands any more.
    if (result.standing) {
      say(`not undone: ${last.image_id} still has a standing annotation of yours`, true);
      return null;
    }
    say(`undone: ${last.image_id}`);
    state.restore = { image_id: last.image_id, note: last.note, mask: last.mask };
    return moveOn(last.image_id);
  });
}

export function canvasUndo() {
  if (!ready() || !editor.undoStroke()) return;
  controls();
}
