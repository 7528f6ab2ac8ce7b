// The annotation page: one proposed image at a time, number keys for classes, skip, undo, progress;
// a brush and an eraser for masks in segmentation projects; a review tab for audit flags.
// Plain JavaScript, no build step. The token travels in the cookie set when the page was opened.
"use strict";

const state = { project: null, queue: [], current: null, undo: [], busy: false, mask: null };
const $ = (id) => document.getElementById(id);

function requestId() {
  if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
  return "r" + Date.now().toString(36) + Math.random().toString(36).slice(2, 12);
}

function annotator() { return $("annotator").value.trim(); }

// An image id may hold sub-folders ('/') and any character a file name can ('#', '?', '%' ...).
function encodePath(id) { return id.split("/").map(encodeURIComponent).join("/"); }

function say(text, error = false) {
  $("message").textContent = text;
  $("message").className = error ? "error" : "";
}

async function api(path, options = {}) {
  const response = await fetch(path, { credentials: "same-origin", ...options });
  const body = response.headers.get("content-type")?.includes("json") ? await response.json() : null;
  if (!response.ok) throw new Error((body && body.detail && JSON.stringify(body.detail)) || response.statusText);
  return body;
}

function post(path, payload) {
  return api(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(payload) });
}

// ------------------------------------------------------------------------------------------ labelling
async function loadQueue(front = null) {
  if (!annotator()) {
    $("need-name").hidden = false; $("work").hidden = true; $("empty").hidden = true;
    return;
  }
  $("need-name").hidden = true;
  const data = await api(`/api/queue?annotator=${encodeURIComponent(annotator())}`);
  state.queue = data.items;
  if (front) {
    state.queue = state.queue.filter((item) => item.image_id !== front);
    const info = await api(`/api/predictions/${encodePath(front)}`);
    state.queue.unshift({ image_id: front, prediction: info.prediction });
  }
  const p = data.progress;
  const pct = p.proposed ? Math.round((100 * p.labelled) / p.proposed) : 0;
  $("progress-bar").style.width = pct + "%";
  $("progress-text").textContent =
    `${p.labelled} of ${p.proposed} proposed images labelled · ${data.remaining} waiting · you: ${data.mine}`;
  show(state.queue[0] || null);
}

function show(item) {
  state.current = item;
  $("work").hidden = !item;
  $("empty").hidden = !!item;
  if (!item) return;
  $("image").src = `/api/images/${encodePath(item.image_id)}`;
  $("image").dataset.imageId = item.image_id;
  $("image-id").textContent = item.image_id;
  const pred = $("prediction");
  pred.innerHTML = "";
  if (item.prediction) {
    const title = document.createElement("div");
    title.textContent = "model's prediction";
    pred.appendChild(title);
    for (const [name, p] of Object.entries(item.prediction)) {
      const row = document.createElement("div");
      row.className = "row";
      row.innerHTML = `<span style="width:9em"></span><div class="bar" style="width:${Math.round(p * 120)}px"></div><span>${(100 * p).toFixed(0)} %</span>`;
      row.firstChild.textContent = name;
      pred.appendChild(row);
    }
  } else {
    pred.textContent = "no model prediction yet";
  }
  if (state.project.task === "segmentation") loadMask(item.image_id);
}

async function label(index) {
  if (!state.current || state.busy || index >= state.project.classes.length) return;
  state.busy = true;
  const item = state.current;
  try {
    const result = await post("/api/labels", {
      image_id: item.image_id, label: index, annotator: annotator(), request_id: requestId(),
    });
    state.undo.push({ annotation_id: result.annotation_id, image_id: item.image_id });
    say(`${item.image_id}: ${result.label}`);
    await loadQueue();
  } catch (err) {
    say(`could not save: ${err.message}`, true);
  } finally {
    state.busy = false;
  }
}

async function skip() {
  if (!state.current || state.busy) return;
  state.busy = true;
  try {
    await post("/api/skip", { image_id: state.current.image_id, annotator: annotator() });
    say(`skipped ${state.current.image_id}`);
    await loadQueue();
  } catch (err) {
    say(`could not skip: ${err.message}`, true);
  } finally {
    state.busy = false;
  }
}

async function undo() {
  const last = state.undo.pop();
  if (!last || state.busy) { if (!last) say("nothing to undo"); return; }
  state.busy = true;
  try {
    await post("/api/undo", { annotation_id: last.annotation_id, annotator: annotator() });
    say(`undone: ${last.image_id}`);
    await loadQueue(last.image_id);
  } catch (err) {
    state.undo.push(last);
    say(`could not undo: ${err.message}`, true);
  } finally {
    state.busy = false;
  }
}

// ------------------------------------------------------------------------------------------ masks
function setupMask() {
  const canvas = $("mask-canvas");
  canvas.hidden = false;
  $("mask-tools").hidden = false;
  let drawing = false;
  state.mask = { mode: "brush" };
  const paint = (event) => {
    if (!drawing) return;
    const rect = canvas.getBoundingClientRect();
    const x = ((event.clientX - rect.left) / rect.width) * canvas.width;
    const y = ((event.clientY - rect.top) / rect.height) * canvas.height;
    const ctx = canvas.getContext("2d");
    const r = (Number($("brush-size").value) / rect.width) * canvas.width;
    ctx.globalCompositeOperation = state.mask.mode === "brush" ? "source-over" : "destination-out";
    ctx.fillStyle = "#ff2020";
    ctx.beginPath(); ctx.arc(x, y, r, 0, 2 * Math.PI); ctx.fill();
  };
  canvas.addEventListener("pointerdown", (e) => { drawing = true; paint(e); });
  canvas.addEventListener("pointermove", paint);
  window.addEventListener("pointerup", () => { drawing = false; });
  $("brush").onclick = () => setTool("brush");
  $("eraser").onclick = () => setTool("eraser");
  $("save-mask").onclick = saveMask;
}

function setTool(mode) {
  state.mask.mode = mode;
  $("brush").classList.toggle("active", mode === "brush");
  $("eraser").classList.toggle("active", mode === "eraser");
}

function loadMask(imageId) {
  const img = $("image");
  const canvas = $("mask-canvas");
  img.onload = () => {
    canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
    const ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    const saved = new Image();
    saved.onload = () => {  // white pixels of the stored mask become the red overlay
      const off = document.createElement("canvas");
      off.width = canvas.width; off.height = canvas.height;
      const o = off.getContext("2d");
      o.drawImage(saved, 0, 0);
      const data = o.getImageData(0, 0, off.width, off.height);
      for (let i = 0; i < data.data.length; i += 4) {
        const on = data.data[i] > 127;
        data.data[i] = 255; data.data[i + 1] = 32; data.data[i + 2] = 32; data.data[i + 3] = on ? 255 : 0;
      }
      ctx.putImageData(data, 0, 0);
    };
    saved.src = `/api/masks/${encodePath(imageId)}?t=${Date.now()}`;
  };
}

async function saveMask() {
  if (!state.current) return;
  const canvas = $("mask-canvas");
  const out = document.createElement("canvas");
  out.width = canvas.width; out.height = canvas.height;
  const o = out.getContext("2d");
  const src = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
  const dst = o.createImageData(canvas.width, canvas.height);
  for (let i = 0; i < src.data.length; i += 4) {
    const v = src.data[i + 3] > 0 ? 255 : 0;
    dst.data[i] = dst.data[i + 1] = dst.data[i + 2] = v; dst.data[i + 3] = 255;
  }
  o.putImageData(dst, 0, 0);
  const blob = await new Promise((resolve) => out.toBlob(resolve, "image/png"));
  const id = state.current.image_id;
  try {
    const result = await api(
      `/api/masks/${encodePath(id)}?annotator=${encodeURIComponent(annotator())}&request_id=${requestId()}`,
      { method: "PUT", headers: { "Content-Type": "image/png" }, body: blob });
    state.undo.push({ annotation_id: result.annotation_id, image_id: id });
    say(`mask saved for ${id}`);
    await loadQueue();
  } catch (err) {
    say(`could not save the mask: ${err.message}`, true);
  }
}

// ------------------------------------------------------------------------------------------ review
async function loadFlags() {
  const data = await api("/api/flags?pending=true");
  $("flag-count").textContent = data.flags.length ? `(${data.flags.length})` : "";
  const box = $("flags");
  box.innerHTML = "";
  if (!data.flags.length) { box.textContent = "No labels waiting for review."; return; }
  for (const flag of data.flags) {
    const div = document.createElement("div");
    div.className = "flag";
    div.dataset.flagId = flag.id;
    const img = document.createElement("img");
    img.src = `/api/images/${encodePath(flag.image_id)}`;
    const text = document.createElement("div");
    text.innerHTML = "<div><b></b>: labelled <b class='given'></b>, the audit suggests <b class='sugg'></b></div><div class='why'></div>";
    text.querySelector("b").textContent = flag.image_id;
    text.querySelector(".given").textContent = flag.label;
    text.querySelector(".sugg").textContent = flag.suggested;
    text.querySelector(".why").textContent = `score ${flag.score.toFixed(2)}: ${flag.reason}`;
    const keep = document.createElement("button");
    keep.textContent = "Keep";
    keep.onclick = () => review(flag.id, "keep");
    const select = document.createElement("select");
    for (const name of state.project.classes) select.add(new Option(name, name, false, name === flag.suggested));
    const change = document.createElement("button");
    change.textContent = "Change";
    change.onclick = () => review(flag.id, "change", select.value);
    div.append(img, text, keep, select, change);
    box.appendChild(div);
  }
}

async function review(flagId, outcome, newLabel = null) {
  if (!annotator()) { alert("Type your name first."); return; }
  await post(`/api/flags/${flagId}/review`, { outcome, label: newLabel, annotator: annotator() });
  await loadFlags();
}

// ------------------------------------------------------------------------------------------ wiring
function switchTab(tab) {
  for (const b of document.querySelectorAll(".tab")) b.classList.toggle("active", b.dataset.tab === tab);
  $("label-view").hidden = tab !== "label";
  $("review-view").hidden = tab !== "review";
  if (tab === "review") loadFlags(); else loadQueue();
}

function onKey(event) {
  if (event.target.tagName === "INPUT" || event.target.tagName === "SELECT" || $("label-view").hidden) return;
  const key = event.key.toLowerCase();
  if (/^[1-9]$/.test(key) && !state.mask) { event.preventDefault(); label(Number(key) - 1); }
  else if (key === "s") skip();
  else if (key === "u" || (key === "z" && (event.ctrlKey || event.metaKey))) undo();
  else if (state.mask && key === "b") setTool("brush");
  else if (state.mask && key === "e") setTool("eraser");
  else if (state.mask && key === "enter") saveMask();
}

async function main() {
  state.project = await api("/api/project");
  $("project-name").textContent = `lesionlab · ${state.project.name}`;
  document.title = `${state.project.name} · lesionlab annotation`;
  const classes = $("classes");
  state.project.classes.forEach((name, i) => {
    const b = document.createElement("button");
    b.innerHTML = `<kbd>${i + 1}</kbd><span></span>`;
    b.querySelector("span").textContent = name;
    b.onclick = () => label(i);
    classes.appendChild(b);
  });
  $("key-hint").textContent = state.project.task === "segmentation"
    ? "B brush, E eraser, Enter save the mask"
    : state.project.classes.map((c, i) => `${i + 1} ${c}`).join(", ");
  if (state.project.task === "segmentation") {  // a mask per image, no class buttons
    setupMask();
    classes.hidden = true;
  }
  $("annotator").value = localStorage.getItem("lesionlab-annotator") || "";
  $("annotator").addEventListener("change", () => {
    localStorage.setItem("lesionlab-annotator", annotator());
    state.undo = [];
    loadQueue();
  });
  $("skip").onclick = skip;
  $("undo").onclick = undo;
  for (const b of document.querySelectorAll(".tab")) b.onclick = () => switchTab(b.dataset.tab);
  document.addEventListener("keydown", onKey);
  await loadQueue();
  api("/api/flags?pending=true").then((d) => { $("flag-count").textContent = d.flags.length ? `(${d.flags.length})` : ""; });
}

main().catch((err) => say(`could not start: ${err.message}`, true));
