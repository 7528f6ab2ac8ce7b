// The annotation page: one proposed image at a time (number keys for classes, or a brush and an eraser
// for masks), skip, undo, the caller's progress; for reviewers, audit flags and adjudication.
// Plain ES modules, no build step. Who is labelling comes from the personal token (its cookie), never
// from anything typed here.

import { $, api, refusal, say, signIn } from "./api.js";
import { canvasUndo, controls, label, loadQueue, noLesion, saveMask, setup, skip, state, undo } from "./label.js";
import { active } from "./hold.js";
import { addKeys, helpOpen, onKeyDown, onKeyUp, toggleHelp } from "./keys.js";
import { loadAdjudication, loadFlags } from "./review.js";
import { View } from "./view.js";

// The token is in the address only on the first load: take it out before anything else (history, shares).
if (new URLSearchParams(location.search).has("token")) history.replaceState(null, "", "/");

let view = "label";
let stage;
let editor;
let viewer;

function switchTab(tab) {
  view = tab;
  say(""); // the last action's outcome belongs to the tab it was done on
  for (const b of document.querySelectorAll(".tab")) b.classList.toggle("active", b.dataset.tab === tab);
  for (const name of ["label", "review", "adjudicate"]) $(`${name}-view`).hidden = name !== tab;
  if (tab === "review") loadFlags();
  else if (tab === "adjudicate") loadAdjudication();
  else if (!state.item) loadQueue(); // back to the image (and drawing) left on screen, if any
}

const seg = () => state.project.target === "mask";
const labelling = () => view === "label";

// Every key of the page (keys.js's one table, which the `?` overlay lists).
function pageKeys() {
  const zoom = (factor) => () => stage.zoomBy(factor);
  addKeys(
    ...state.project.classes.slice(0, 9).map((name, i) => ({
      keys: [String(i + 1)], label: String(i + 1), does: `label the image ${name}`, group: "Label",
      when: () => labelling() && !seg(), run: () => label(i),
    })),
    { keys: ["enter"], label: "Enter", does: "save the mask", group: "Mask", when: () => labelling() && seg(), run: saveMask },
    { keys: ["n"], label: "N", does: "no lesion (save an empty mask on purpose)", group: "Mask",
      when: () => labelling() && seg(), run: noLesion },
    { keys: ["b"], label: "B", does: "brush", group: "Mask", when: () => labelling() && seg(), run: () => editor.setTool("brush") },
    { keys: ["e"], label: "E", does: "eraser", group: "Mask", when: () => labelling() && seg(), run: () => editor.setTool("eraser") },
    { keys: ["z"], ctrl: true, repeat: true, label: "Ctrl+Z", does: "undo the last stroke", group: "Mask",
      when: () => labelling() && seg(), run: canvasUndo },
    { keys: ["s"], label: "S", does: "skip the image (it leaves your queue)", group: "Label", when: labelling, run: skip },
    { keys: ["u"], label: "U", does: "undo your last saved label or mask", group: "Label", when: labelling, run: undo },
    { keys: ["+", "="], repeat: true, label: "+", does: "zoom in", group: "View", when: labelling, run: zoom(1.25) },
    { keys: ["-"], repeat: true, label: "-", does: "zoom out", group: "View", when: labelling, run: zoom(0.8) },
    { keys: ["0"], label: "0", does: "fit the image (reset zoom and pan)", group: "View", when: labelling, run: () => stage.setZoom(1) },
    { keys: ["f"], label: "F", does: "full resolution: one image pixel per screen pixel, lossless (again: fit)",
      group: "View", when: labelling, run: () => viewer.toggleFull() },
    { keys: ["h"], label: "H", does: "hand tool: drag to pan (again: back to drawing)", group: "View",
      when: () => labelling() && seg(), run: () => viewer.togglePan() },
    { keys: [" "], repeat: true, label: "Space", does: "hold and drag to pan", group: "View", when: labelling,
      run: () => stage.holdSpace(true), keyup: () => stage.holdSpace(false) },
    { mouse: true, label: "wheel", does: "zoom about the pointer", group: "Mouse" },
    { mouse: true, label: "middle drag / Space + drag", does: "pan the zoomed image", group: "Mouse" },
    { mouse: true, label: "drag", does: "pan (classification; with the hand tool in segmentation)", group: "Mouse",
      when: () => !seg() },
    { mouse: true, label: "drag", does: "draw with the brush or eraser", group: "Mouse", when: seg },
    { keys: ["?"], label: "?", does: "show or hide this list of keys", group: "Page", run: () => help() },
    { keys: ["escape"], label: "Esc", does: "close this list", group: "Page", when: helpOpen, run: () => toggleHelp(false) },
  );
}

// The overlay covers the canvas: a stroke held under it ends where it was last seen.
function help(open = !helpOpen()) {
  if (open) editor.end();
  toggleHelp(open);
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
  document.addEventListener("keydown", (e) => { active(); onKeyDown(e); }); // a key is work: hold the image
  document.addEventListener("keyup", onKeyUp);
  window.addEventListener("blur", () => stage.holdSpace(false)); // a Space released elsewhere
  $("help-open").onclick = () => help(true);
  $("help-close").onclick = () => toggleHelp(false);
  $("help").addEventListener("click", (e) => { if (e.target.id === "help") toggleHelp(false); });
}

async function main() {
  ({ stage, editor } = setup());
  viewer = new View(stage);
  [state.me, state.project] = await Promise.all([api("/api/me"), api("/api/project")]);
  signIn(state.me.name); // from now on a request made under another person's cookie is refused
  $("project-name").textContent = `lesionlab · ${state.project.name}`;
  document.title = `${state.project.name} · lesionlab annotation`;
  $("whoami").textContent = `signed in as ${state.me.name} (${state.me.role})`;
  const reviewer = state.me.role === "reviewer" || state.me.role === "admin";
  $("tab-review").hidden = !reviewer;
  $("tab-adjudicate").hidden = !reviewer;
  classButtons();
  $("classes").hidden = seg();
  $("mask-tools").hidden = !seg();
  $("mask-canvas").hidden = !seg();
  $("pan-tool").hidden = !seg(); // without a canvas any drag pans
  pageKeys();
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
