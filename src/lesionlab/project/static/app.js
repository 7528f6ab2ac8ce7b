// The annotation page: one proposed image at a time (number keys for classes, or a brush and an eraser
// for masks), skip, undo, the caller's progress; for reviewers, audit flags and adjudication.
// Plain ES modules, no build step. Who is labelling comes from the personal token (its cookie), never
// from anything typed here.

import { $, api, refusal, say } from "./api.js";
import { canvasUndo, controls, label, loadQueue, noLesion, saveMask, setup, skip, state, undo } from "./label.js";
import { loadAdjudication, loadFlags } from "./review.js";

// The token is in the address only on the first load: take it out before anything else (history, shares).
if (new URLSearchParams(location.search).has("token")) history.replaceState(null, "", "/");

let view = "label";
let stage;
let editor;

function switchTab(tab) {
  view = tab;
  say(""); // the last action's outcome belongs to the tab it was done on
  for (const b of document.querySelectorAll(".tab")) b.classList.toggle("active", b.dataset.tab === tab);
  for (const name of ["label", "review", "adjudicate"]) $(`${name}-view`).hidden = name !== tab;
  if (tab === "review") loadFlags();
  else if (tab === "adjudicate") loadAdjudication();
  else if (!state.item) loadQueue(); // back to the image (and drawing) left on screen, if any
}

// Keys act on the image only when nothing else would take them: a text field, a select or a focused
// button keeps its own keys (Enter on a focused button is that button's click, not a second save).
function takesKeys(event) {
  const target = event.target;
  if (!(target instanceof HTMLElement)) return false;
  if (target.isContentEditable || target.tagName === "TEXTAREA" || target.tagName === "SELECT") return true;
  if (target.tagName === "INPUT") return !["range", "checkbox", "radio"].includes(target.type);
  return target.tagName === "BUTTON" && (event.key === "Enter" || event.key === " ");
}

function onKey(event) {
  if (view !== "label" || takesKeys(event) || event.altKey || event.isComposing) return;
  const key = event.key.toLowerCase();
  const seg = state.project.target === "mask";
  if (event.ctrlKey || event.metaKey) {
    if (key === "z" && seg) { // the canvas's own undo (last stroke); U takes back a saved label
      event.preventDefault();
      canvasUndo();
    }
    return;
  }
  const zoom = { "+": 1.25, "=": 1.25, "-": 0.8 }[key];
  if (zoom) { event.preventDefault(); stage.zoomBy(zoom); return; }
  if (key === "0") { stage.setZoom(1); return; }
  if (event.repeat) return; // a held key labels or saves once
  if (/^[1-9]$/.test(key) && !seg) { event.preventDefault(); label(Number(key) - 1); }
  else if (key === "s") skip();
  else if (key === "u") undo();
  else if (seg && key === "b") editor.setTool("brush");
  else if (seg && key === "e") editor.setTool("eraser");
  else if (seg && key === "n") noLesion();
  else if (seg && key === "enter") { event.preventDefault(); saveMask(); }
}

function classButtons() {
  const box = $("classes");
  state.project.classes.forEach((name, i) => {
    const b = document.createElement("button");
    b.dataset.testid = `class-${name}`;
    b.innerHTML = `<kbd>${i + 1}</kbd><span></span>`;
    b.querySelector("span").textContent = name;
    b.onclick = () => label(i);
    box.appendChild(b);
  });
}

// The second click of a double-click (detail 2, 3 ...) is never a second action: by the time it arrives
// the next image (or dispute) may be under the pointer, and it would be labelled unseen. Buttons whose
// repeats are harmless and meant (zoom, stroke undo) carry data-repeat.
function onceClick(event) {
  const button = event.target.closest && event.target.closest("button");
  if (!button || event.detail < 2 || button.hasAttribute("data-repeat")) return;
  event.stopImmediatePropagation();
  event.preventDefault();
  if (!button.disabled) say("a double-click counts once: click again to act on what is on screen now", true);
}

function wire() {
  document.addEventListener("click", onceClick, true); // capture: before the button's own handler
  // A button clicked with the mouse gives its focus back, so a later Space or Enter cannot press it again
  // (keyboard users who moved to a button with Tab keep it: detail is 0 for key presses).
  document.addEventListener("click", (e) => {
    const button = e.target.closest && e.target.closest("button");
    if (button && e.detail > 0) button.blur();
  });
  $("brush-size").addEventListener("change", (e) => e.target.blur());
  $("brush").onclick = () => editor.setTool("brush");
  $("eraser").onclick = () => editor.setTool("eraser");
  $("save").onclick = saveMask;
  $("no-lesion").onclick = noLesion;
  $("canvas-undo").onclick = canvasUndo;
  $("skip").onclick = skip;
  $("undo").onclick = undo;
  $("zoom-in").onclick = () => stage.zoomBy(1.25);
  $("zoom-out").onclick = () => stage.zoomBy(0.8);
  $("zoom-fit").onclick = () => stage.setZoom(1);
  $("zoom-level").addEventListener("change", (e) => { // typed "150" or "150 %": a field's keys are its own
    e.target.blur();
    const percent = parseFloat(e.target.value);
    if (Number.isFinite(percent)) stage.setZoom(percent / 100);
    stage.layout();
  });
  for (const b of document.querySelectorAll(".tab")) b.onclick = () => switchTab(b.dataset.tab);
  document.addEventListener("keydown", onKey);
}

async function main() {
  ({ stage, editor } = setup());
  [state.me, state.project] = await Promise.all([api("/api/me"), api("/api/project")]);
  $("project-name").textContent = `lesionlab · ${state.project.name}`;
  document.title = `${state.project.name} · lesionlab annotation`;
  $("whoami").textContent = `signed in as ${state.me.name} (${state.me.role})`;
  const reviewer = state.me.role === "reviewer" || state.me.role === "admin";
  $("tab-review").hidden = !reviewer;
  $("tab-adjudicate").hidden = !reviewer;
  const seg = state.project.target === "mask";
  classButtons();
  $("classes").hidden = seg;
  $("mask-tools").hidden = !seg;
  $("mask-canvas").hidden = !seg;
  $("key-hint").textContent = seg
    ? "B brush, E eraser, Ctrl+Z undo a stroke, Enter save the mask, N no lesion"
    : state.project.classes.map((c, i) => `${i + 1} ${c}`).join(", ");
  wire();
  controls();
  await loadQueue();
  if (reviewer) {
    api("/api/flags?pending=true").then((d) => {
      $("flag-count").textContent = d.flags.length ? `(${d.flags.length})` : "";
    }).catch(() => {});
  }
}

main().catch((err) => {
  const hint = err.status === 401 ? " Open your personal link (lesionlab project invite prints it)." : "";
  say(refusal("start", err) + hint, true);
});
