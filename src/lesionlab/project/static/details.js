// Beside the image: the model's prediction (with its model version and each probability, never cut
// off), the image's details (pixel size, file, metadata columns from the project's CSV), and, when the
// queue is empty, why (the server says it in the queue's own terms: /api/queue's `empty`).

import { $, api, encodePath, post, refusal, say } from "./api.js";

let detailsSeq = 0;
let pollTimer = null;
const POLL_MS = 30_000;

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text != null) node.textContent = text;
  return node;
}

// Probabilities as bars in a grid whose name column takes the longest name: a long class name
// ("seborrheic_keratosis") wraps at its underscores or fits, never runs under the bar or is cut.
export function showPrediction(prediction, version) {
  const box = $("prediction");
  box.replaceChildren();
  if (!prediction) {
    box.append(el("div", "muted", "no model prediction yet"));
    return;
  }
  const head = el("div", "head", "model's prediction");
  if (version != null) head.append(" ", el("span", "version", `model v${version}`));
  box.append(head);
  const top = Math.max(...Object.values(prediction));
  const grid = el("div", "grid");
  for (const [name, p] of Object.entries(prediction)) {
    const label = el("span", "name");
    name.split("_").forEach((part, i) => { // a break opportunity after each "_", no added character
      if (i) label.append("_", document.createElement("wbr"));
      label.append(part);
    });
    label.title = name;
    label.dataset.testid = "prediction-name";
    const track = el("span", "track");
    const bar = el("span", "bar");
    bar.style.width = `${Math.round(p * 100)}%`;
    track.append(bar);
    const row = [label, track, el("span", "p", `${(100 * p).toFixed(0)} %`)];
    if (p === top) for (const cell of row) cell.classList.add("top");
    grid.append(...row);
  }
  box.append(grid);
}

// A segmentation project's prediction is a mask (drawn on the image by mask.js): which model version
// made it and how much of the image it marks. `loaded`: mask.js's load() answer, null when the image
// has no mask of the caller's nor the model's, undefined while it loads.
export function showMaskPrediction(loaded) {
  const box = $("prediction");
  box.replaceChildren();
  if (loaded === undefined) return;
  if (!loaded || loaded.source !== "model") {
    const whose = loaded && loaded.source === "taken back" ? "your mask taken back" : "your saved mask";
    const text = loaded ? `${whose} is shown (the model's is not)` : "no model prediction yet";
    box.append(el("div", "muted", text));
    return;
  }
  const head = el("div", "head", "model's mask prediction");
  if (loaded.model) head.append(" ", el("span", "version", loaded.model));
  const share = 100 * loaded.share;
  const text = `${share.toFixed(share > 0 && share < 10 ? 1 : 0)} % of the image marked as lesion, ` +
    "drawn on the image: correct it, then save (or N if it shows no lesion)";
  box.append(head, el("div", "", text));
}

function detailRow(list, key, value) {
  list.append(el("dt", "", key), el("dd", "", String(value)));
}

// Pixel size at once (the queue gives it), then the file and metadata from /api/details.
export async function showItem(item) {
  showPrediction(item.prediction, item.model_version ?? item.version);
  const seq = ++detailsSeq;
  const list = $("details");
  list.replaceChildren();
  detailRow(list, "size", `${item.width} × ${item.height} px`);
  let data;
  try {
    data = await api(`/api/details/${encodePath(item.image_id)}`);
  } catch {
    return; // the image's own loading says what is wrong with it
  }
  if (seq !== detailsSeq) return;
  if (data.file) detailRow(list, "file", `${data.file.format} · ${data.file.kb} KB`);
  if (!data.served.lossless) {
    detailRow(list, "shown as", "JPEG q95: F shows the lossless pixels");
    list.lastElementChild.dataset.testid = "shown-as";
  }
  for (const [key, value] of Object.entries(data.metadata || {})) detailRow(list, key, value);
}

// The full-resolution view swapped in the lossless pixels (view.js): say so where "JPEG" was said.
export function shownLossless() {
  const row = document.querySelector('[data-testid="shown-as"]');
  if (row) row.textContent = "lossless PNG (full resolution)";
}

function untilText(iso) {
  if (!iso) return "";
  const when = new Date(iso);
  return ` (the first comes free by ${when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })})`;
}

const plural = (n, one, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

// While the empty state is on screen (and the page is looked at), ask again: others' leases end, their
// annotations complete an image, new proposals arrive. Never from another tab: it would lease an image.
function poll(reload) {
  const watching = !$("empty").hidden && !$("label-view").hidden && document.visibilityState === "visible";
  if (watching) reload();
  else pollTimer = setTimeout(() => poll(reload), POLL_MS);
}

// The empty state, one sentence per state the server names, with what the person can do.
export function showEmpty(empty, reload) {
  const box = $("empty");
  box.replaceChildren();
  clearTimeout(pollTimer);
  if (!empty) return;
  if (empty.state !== "skipped") pollTimer = setTimeout(() => poll(reload), POLL_MS);
  box.dataset.state = empty.state;
  const text = {
    skipped: `Nothing new for you: you skipped ${plural(empty.skipped, "image")} still waiting for annotations.`,
    others: `Nothing for you right now: ${[
      empty.yours_waiting_for_others
        ? `${plural(empty.yours_waiting_for_others, "image")} you annotated wait${
          empty.yours_waiting_for_others === 1 ? "s" : ""} for other annotators`
        : "",
      empty.open_elsewhere ? `${plural(empty.open_elsewhere, "image")} open in someone else's page` +
        untilText(empty.lease_ends) : "",
    ].filter(Boolean).join("; ")}. This page looks again every 30 s.`,
    no_proposals: "Nothing proposed yet: waiting for the first proposals (lesionlab project propose).",
    waiting_proposals: `All ${plural(empty.proposed, "proposed image")} are done. ` +
      `${plural(empty.unproposed, "image")} wait${empty.unproposed === 1 ? "s" : ""} for the next proposals ` +
      "(lesionlab project propose).",
    all_done: "All done: every image in this project has its annotations.",
  }[empty.state] || "Nothing waiting for you now.";
  box.append(el("p", "", text));
  if (empty.state === "skipped") {
    const again = el("button", "", `Revisit the ${plural(empty.skipped, "skipped image")}`);
    again.dataset.testid = "revisit-skipped";
    again.onclick = async () => {
      try {
        await post("/api/skipped/revisit", {});
        say("your skipped images are back in your queue");
        await reload();
      } catch (err) {
        say(refusal("bring back the skipped images", err), true);
      }
    };
    box.append(again);
  }
}
