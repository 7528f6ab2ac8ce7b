// Every key (and mouse gesture) the page answers, in ONE table: the keydown handler dispatches from it
// and the help overlay (`?`) lists it, so the overlay cannot drift from what the keys do. A module that
// wants a key adds it here with addKeys(); a key handled anywhere else would be missing from the help
// (tests/test_page_view_help.py checks that no other module reads event.key).
//
// An entry: {keys: ["+", "="] (event.key, lower case), label: "+", does: "zoom in", group: "View",
//   when: () => bool (applies now, e.g. segmentation only), run: (event) => void,
//   ctrl: true (needs Ctrl or Cmd), repeat: true (a held key repeats), keyup: (event) => void,
//   mouse: true (a gesture, listed only)}.

import { $ } from "./api.js";

export const KEYS = [];
const GROUPS = ["Label", "Mask", "View", "Mouse", "Page"];

export function addKeys(...entries) {
  for (const entry of entries) KEYS.push({ when: () => true, keys: [], ...entry });
}

function matches(entry, event, key) {
  if (entry.mouse || !entry.keys.includes(key)) return false;
  if (!!entry.ctrl !== (event.ctrlKey || event.metaKey)) return false;
  if (entry.ctrl && event.shiftKey) return false; // Ctrl+Shift+Z is redo elsewhere: never a second undo
  return entry.when();
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

// The document's keydown: run the table's entry for this press, if any (it is then the page's).
export function onKeyDown(event) {
  if (takesKeys(event) || event.altKey || event.isComposing) return;
  const key = event.key.toLowerCase();
  if (helpOpen() && key !== "?" && key !== "escape") return; // the overlay is modal
  const entry = KEYS.find((e) => matches(e, event, key));
  if (!entry) return;
  event.preventDefault();
  if (event.repeat && !entry.repeat) return; // a held key labels or saves once
  entry.run(event);
}

export function onKeyUp(event) {
  const key = event.key.toLowerCase();
  for (const entry of KEYS) if (entry.keyup && entry.keys.includes(key)) entry.keyup(event);
}

// The overlay: the entries that apply to this project now, by group, in table order.
export function renderHelp() {
  const box = $("help-keys");
  box.replaceChildren();
  for (const group of GROUPS) {
    const rows = KEYS.filter((e) => (e.group || "Page") === group && e.when());
    if (!rows.length) continue;
    const section = document.createElement("section");
    section.append(Object.assign(document.createElement("h3"), { textContent: group }));
    const list = document.createElement("dl");
    for (const entry of rows) {
      const dt = document.createElement("dt");
      dt.dataset.testid = "help-key";
      for (const part of entry.label.split(" / ")) {
        if (dt.childNodes.length) dt.append(" / ");
        dt.append(Object.assign(document.createElement("kbd"), { textContent: part }));
      }
      list.append(dt, Object.assign(document.createElement("dd"), { textContent: entry.does }));
    }
    section.append(list);
    box.append(section);
  }
}

export function helpOpen() {
  return !$("help").hidden;
}

export function toggleHelp(open = !helpOpen()) {
  // closing: its focused Close button lets go now (a hidden button keeps the focus until the next rendering
  // update, and an Enter pressed meanwhile went to it and was lost)
  if (!open && $("help").contains(document.activeElement)) document.activeElement.blur();
  $("help").hidden = !open;
  if (open) renderHelp(); // once open: entries that apply while it is (Esc) are listed
  if (open) $("help-close").focus();
}
