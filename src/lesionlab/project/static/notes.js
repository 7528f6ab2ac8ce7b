// The annotator's "unsure" flag and comment for the image on screen: sent with the label or mask they save
// (stored with that annotation, shown to reviewers, exported), cleared for each new image. Q toggles the
// flag; typing in the comment box never triggers a key of the page (keys.js leaves text fields alone).

import { $, el } from "./api.js";
import { addKeys } from "./keys.js";

export const COMMENT_CHARS = 2000; // as the server's limit

export const notes = {
  version: 0, // bumped by every change: a retried save keeps its request id only if the notes are unchanged
  value() {
    const comment = $("comment").value.trim();
    return { unsure: $("unsure").checked, comment: comment || null };
  },
  reset() {
    $("unsure").checked = false;
    $("comment").value = "";
    $("notes").classList.remove("unsure");
    this.version += 1;
  },
  // Put back the notes of an answer taken back (undo brings its image back with them).
  restore(note) {
    $("unsure").checked = !!note.unsure;
    $("comment").value = note.comment || "";
    changed();
  },
  toggleUnsure() {
    $("unsure").checked = !$("unsure").checked;
    changed();
  },
};

function changed() {
  $("notes").classList.toggle("unsure", $("unsure").checked);
  notes.version += 1;
}

export function setupNotes(labelling) {
  const box = el("div", { id: "notes", class: "notes", testid: "notes" },
    el("label", { class: "unsure-flag", title: "you are not sure of this answer (Q); reviewers see it" },
      el("input", { id: "unsure", type: "checkbox", testid: "unsure" }), " Unsure (Q)"),
    el("textarea", { id: "comment", testid: "comment", rows: "2", maxlength: String(COMMENT_CHARS),
      placeholder: "Comment, saved with your label or mask (reviewers see it)", "aria-label": "comment" }));
  document.querySelector("aside .actions").before(box);
  $("unsure").addEventListener("change", (e) => { changed(); e.target.blur(); });
  $("comment").addEventListener("input", changed);
  addKeys({ keys: ["q"], label: "Q", does: "mark your answer unsure (again: sure)", group: "Label",
    when: labelling, run: () => notes.toggleUnsure() });
}
