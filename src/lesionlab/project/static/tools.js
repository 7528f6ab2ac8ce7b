// The mask tools this module adds beside the brush and eraser: the polygon tool, the brush size by key,
// and the overlay's opacity and on/off switch (view only). Its controls are built here, and its keys go
// into keys.js's one table (so the `?` overlay lists them).

import { $, el } from "./api.js";
import { addKeys, helpOpen, toggleHelp } from "./keys.js";

const OPACITY_STEP = 0.1;

function controls(editor) {
  const polygon = el("button", { id: "polygon", class: "tool", testid: "polygon",
    title: "polygon: click the vertices, then Enter, a double-click or a click on the first vertex (P)",
    text: "Polygon (P)" });
  polygon.onclick = () => editor.setTool("polygon");
  $("eraser").after(polygon);
  const opacity = el("input", { id: "mask-opacity", testid: "mask-opacity", type: "range", min: "5",
    max: "100", value: String(Math.round(editor.opacity() * 100) || 45), "aria-label": "mask opacity" });
  opacity.addEventListener("input", () => editor.setOpacity(Number(opacity.value) / 100));
  opacity.addEventListener("change", () => opacity.blur()); // keys go back to the image
  const visible = el("button", { id: "mask-visible", testid: "mask-visible",
    title: "hide or show the mask overlay (O); view only, the mask is kept", text: "Hide mask (O)" });
  visible.onclick = () => toggle(editor);
  const row = el("div", { class: "tools", id: "overlay-tools" },
    el("label", { title: "mask opacity ({ and }); view only" }, "opacity ", opacity), visible);
  $("mask-tools").querySelector(".tools").after(row);
  $("brush-size").title = "brush size ([ and ])";
}

function toggle(editor) {
  const on = !editor.visible();
  editor.setVisible(on);
  $("mask-visible").textContent = on ? "Hide mask (O)" : "Show mask (O)";
}

// The keys of these tools, for keys.js's table; `labelling()` and `seg()` say when they apply. They are
// added before the page's own (the table's first match wins): while an outline is open, Enter closes it
// instead of saving the mask (`save` otherwise), and Esc cancels it (or, with no outline open, closes the
// help overlay, as the page's own Esc would). Listed in the overlay whenever the mask tools are.
function keys(editor, labelling, seg, save) {
  const mask = () => labelling() && seg();
  const polygon = editor.polygon;
  const escape = () => (polygon.open && !helpOpen() ? polygon.cancel() : helpOpen() && toggleHelp(false));
  addKeys(
    { keys: ["enter"], label: "Enter", does: "with a polygon open: close it (fill it into the mask)",
      group: "Mask", when: mask, run: () => (polygon.open ? polygon.close() : save()) },
    { keys: ["escape"], label: "Esc", does: "cancel the polygon being outlined", group: "Mask",
      when: mask, run: escape },
    { keys: ["backspace"], repeat: true, label: "Backspace", does: "remove the polygon's last vertex",
      group: "Mask", when: mask, run: () => { if (polygon.open) polygon.removeLast(); } },
    { keys: ["p"], label: "P", does: "polygon tool: click the outline's vertices", group: "Mask", when: mask,
      run: () => editor.setTool("polygon") },
    { keys: ["["], repeat: true, label: "[", does: "smaller brush", group: "Mask", when: mask,
      run: () => editor.resize(-1) },
    { keys: ["]"], repeat: true, label: "]", does: "larger brush", group: "Mask", when: mask,
      run: () => editor.resize(1) },
    { keys: ["o"], label: "O", does: "hide or show the mask overlay (view only)", group: "View", when: mask,
      run: () => toggle(editor) },
    { keys: ["{"], repeat: true, label: "{", does: "mask overlay more transparent (view only)", group: "View",
      when: mask, run: () => editor.setOpacity(editor.opacity() - OPACITY_STEP) },
    { keys: ["}"], repeat: true, label: "}", does: "mask overlay more opaque (view only)", group: "View",
      when: mask, run: () => editor.setOpacity(editor.opacity() + OPACITY_STEP) },
    { mouse: true, label: "click / double-click", does: "polygon: add a vertex / close the outline",
      group: "Mouse", when: seg },
  );
}

// `save`: what Enter does when no outline is open (save the mask).
export function setupTools(editor, labelling, seg, save) {
  controls(editor);
  keys(editor, labelling, seg, save);
}
