// The mask drawn over the image: brush and eraser strokes and filled polygons on a canvas of the image's
// own pixel size, undone one stroke at a time (canvas undo, separate from taking back a saved label),
// exported as a 0/255 PNG. A pixel is lesion when its paint is at least half opaque, so anti-aliased stroke
// edges split evenly instead of growing the mask by a pixel all round.
// A stroke is one connected line however fast the pointer moves: every pointer event (and the events the
// browser coalesced into it) is joined to the previous one by a round-capped segment in image pixels, and
// the brush is never thinner than MIN_RADIUS image pixels (a thinner line, e.g. a small brush on a small
// image zoomed in, stays under half opacity between pixel centres and was stored as dots, or not at all).
// The overlay's opacity and visibility are view-only: CSS on the canvas, never its pixels.
// A stroke belongs to the one pointer that began it: a second finger, a resting palm or the mouse beside a
// pen neither starts another stroke nor moves this one (their points joined to its points drew straight
// lines across the image). It ends when its primary button is no longer held, even if the release was
// never reported (left released while the right or middle button is held, a release outside the window
// or over a context menu): the pointer then only hovers, and painted on. A cancelled pointer (the system
// took it: palm rejection, a gesture) takes its stroke back, whose pixels nobody meant. A held stroke
// also ends where it is when the overlay is hidden (nothing is drawn unseen), and when the window loses
// the focus or the tab is left: a pointer back from elsewhere with its button still down joined its last
// point to the new place with a straight line across the image.

import { $, encodePath, request } from "./api.js";
import { PolygonTool } from "./polygon.js";

const PAINT = "#ff2020";
const MAX_STROKES = 50;
export const MIN_RADIUS = 1; // image pixels: a 2-pixel-wide line is 4-connected at any angle
export const BRUSH = { min: 2, max: 80 }; // screen pixels (the size slider's range)
const TOOLS = ["brush", "eraser", "polygon"];

// A box [x0, y0, x1, y1] grown to hold point p.
function grow(b, p) {
  return [Math.min(b[0], p.x), Math.min(b[1], p.y), Math.max(b[2], p.x), Math.max(b[3], p.y)];
}

export class MaskEditor {
  constructor(stage, canAct) {
    this.stage = stage;
    this.canvas = stage.canvas;
    this.ctx = this.canvas.getContext("2d", { willReadFrequently: true });
    this.canAct = canAct; // false while the image is loading, unshowable, or a save is in flight
    this.mode = "brush";
    this.strokes = []; // [{x, y, data}]: the pixels each stroke covered, as they were before it
    this.version = 0; // bumped by every change: a retried save reuses its request id only if unchanged
    this.onChange = () => {};
    this.backup = document.createElement("canvas");
    this.drawing = null;
    this.polygon = new PolygonTool(this);
    this.canvas.addEventListener("pointerdown", (e) => this.down(e));
    this.canvas.addEventListener("pointermove", (e) => this.move(e));
    this.canvas.addEventListener("pointerup", (e) => this.up(e));
    this.canvas.addEventListener("pointercancel", (e) => this.cancel(e));
    // after pointerup or pointercancel, a no-op; else the pointer's release may never reach the canvas
    this.canvas.addEventListener("lostpointercapture", (e) => this.up(e));
    window.addEventListener("blur", () => this.end());
    document.addEventListener("visibilitychange", () => { if (document.hidden) this.end(); });
  }

  setTool(mode) {
    if (mode !== "polygon") this.polygon.cancel();
    this.mode = mode;
    for (const tool of TOOLS) { const b = $(tool); if (b) b.classList.toggle("active", mode === tool); }
    this.canvas.classList.toggle("polygon", mode === "polygon");
  }

  // The brush one step smaller (-1) or larger (+1): 2 px steps while small, then 25 % steps.
  resize(direction) {
    const input = $("brush-size");
    const size = Number(input.value);
    const step = size < 10 || (direction < 0 && size <= 12) ? 2 : Math.round(size * 0.25);
    input.value = String(Math.min(BRUSH.max, Math.max(BRUSH.min, size + direction * step)));
    input.dispatchEvent(new Event("input"));
  }

  // View only: how opaque the mask overlay is (0..1), and whether it is shown at all.
  setOpacity(value) {
    const v = Math.min(1, Math.max(0.05, value));
    this.canvas.style.opacity = String(v);
    const input = $("mask-opacity");
    if (input) input.value = String(Math.round(v * 100));
  }

  opacity() {
    return Number(getComputedStyle(this.canvas).opacity);
  }

  setVisible(on) {
    if (!on) this.end(); // a held stroke stops where it is seen to stop
    this.canvas.style.visibility = on ? "" : "hidden"; // hidden: no stroke can start on it either
    const button = $("mask-visible");
    if (button) button.classList.toggle("active", !on);
    this.onChange();
  }

  visible() {
    return this.canvas.style.visibility !== "hidden";
  }

  reset() {
    this.strokes = [];
    this.drawing = null;
    this.polygon.cancel();
    this.version += 1;
    this.onChange();
  }

  // Keep the canvas as it is before a change, so the change can be undone as one stroke (see commit).
  begin() {
    this.backup.width = this.canvas.width;
    this.backup.height = this.canvas.height;
    this.backup.getContext("2d", { willReadFrequently: true }).drawImage(this.canvas, 0, 0);
  }

  down(event) {
    if (event.button !== 0 || this.drawing || !this.canAct()) return; // one stroke, one pointer
    event.preventDefault();
    const p = this.stage.toImage(event.clientX, event.clientY);
    if (this.mode === "polygon") {
      this.polygon.pointerDown(event, p);
      return;
    }
    this.canvas.setPointerCapture(event.pointerId);
    this.begin();
    const radius = Math.max(MIN_RADIUS, (Number($("brush-size").value) / 2) * p.perScreenPixel);
    this.drawing = { pointer: event.pointerId, last: p, screen: [event.clientX, event.clientY],
      view: this.view(), radius, box: [p.x, p.y, p.x, p.y], erase: this.mode === "eraser" };
    this.paint(p, p);
  }

  // Where the canvas is on screen: a zoom, 1:1 or resize under a held stroke moves the image under a
  // pointer that has not moved, and the stroke goes on from the image point now under it (joining the
  // point before the change would paint a line the pointer never crossed).
  view() {
    const r = this.canvas.getBoundingClientRect();
    return `${r.left},${r.top},${r.width},${r.height}`;
  }

  move(event) {
    const d = this.drawing;
    if (!d || event.pointerId !== d.pointer) return;
    if ((event.buttons & 1) === 0) { // released unreported (or only another button held): hovering now
      this.up(event);
      return;
    }
    const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
    const view = this.view();
    if (view !== d.view) {
      d.last = this.stage.toImage(...d.screen);
      d.view = view;
      d.box = grow(d.box, d.last); // the stroke goes on from here: canvas undo must restore it too
    }
    for (const e of events.length ? events : [event]) {
      const p = this.stage.toImage(e.clientX, e.clientY);
      this.paint(d.last, p);
      d.last = p;
      d.screen = [e.clientX, e.clientY];
    }
  }

  paint(from, to) {
    const { ctx } = this;
    const r = this.drawing.radius;
    // the stroke's own tool: B, E or P pressed under a held stroke apply from the next one
    ctx.globalCompositeOperation = this.drawing.erase ? "destination-out" : "source-over";
    ctx.strokeStyle = ctx.fillStyle = PAINT;
    ctx.lineWidth = 2 * r;
    ctx.lineCap = "round";
    ctx.beginPath();
    if (from.x === to.x && from.y === to.y) {
      ctx.arc(to.x, to.y, r, 0, 2 * Math.PI);
      ctx.fill();
    } else {
      ctx.moveTo(from.x, from.y);
      ctx.lineTo(to.x, to.y);
      ctx.stroke();
    }
    this.drawing.box = grow(this.drawing.box, to);
  }

  up(event) {
    this.polygon.pointerUp(event);
    if (this.drawing && event.pointerId === this.drawing.pointer) this.end();
  }

  // The held stroke, if any, ends here: kept as drawn so far, one undoable stroke.
  end() {
    if (!this.drawing) return;
    const { box, radius } = this.drawing;
    this.drawing = null;
    this.commit(box, radius);
  }

  // The system took the pointer (palm rejection, a gesture): its stroke is taken back, pixel for pixel.
  cancel(event) {
    this.polygon.pointerUp(event, true);
    if (!this.drawing || event.pointerId !== this.drawing.pointer) return;
    this.drawing = null;
    this.ctx.globalCompositeOperation = "source-over";
    this.ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
    this.ctx.drawImage(this.backup, 0, 0);
    this.onChange();
  }

  // Record the change within `box` (grown by `pad`) as one undoable stroke.
  commit(box, pad) {
    const [x0, y0, x1, y1] = box;
    const r = pad + 2;
    const x = Math.max(0, Math.floor(x0 - r));
    const y = Math.max(0, Math.floor(y0 - r));
    const w = Math.min(this.canvas.width, Math.ceil(x1 + r)) - x;
    const h = Math.min(this.canvas.height, Math.ceil(y1 + r)) - y;
    if (w > 0 && h > 0) {
      this.strokes.push({ x, y, data: this.backup.getContext("2d").getImageData(x, y, w, h) });
      if (this.strokes.length > MAX_STROKES) this.strokes.shift();
    }
    this.version += 1;
    this.onChange();
  }

  // A closed outline (image pixels) filled as lesion: one stroke for canvas undo.
  fillPolygon(points) {
    this.begin();
    const { ctx } = this;
    ctx.globalCompositeOperation = "source-over";
    ctx.fillStyle = PAINT;
    ctx.beginPath();
    ctx.moveTo(points[0].x, points[0].y);
    for (const q of points.slice(1)) ctx.lineTo(q.x, q.y);
    ctx.closePath();
    ctx.fill();
    const xs = points.map((q) => q.x);
    const ys = points.map((q) => q.y);
    this.commit([Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)], 0);
  }

  // Never under a held stroke: it would undo the stroke before it beneath the one being drawn, whose own
  // undo (kept from before) would then put the undone pixels back.
  undoStroke() {
    if (this.drawing) return false;
    const last = this.strokes.pop();
    if (!last) return false;
    this.ctx.putImageData(last.data, last.x, last.y);
    this.version += 1;
    this.onChange();
    return true;
  }

  isEmpty() {
    const { data } = this.ctx.getImageData(0, 0, this.canvas.width, this.canvas.height);
    for (let i = 3; i < data.length; i += 4) if (data[i] >= 128) return false;
    return true;
  }

  // The stored mask of this person, else the model's proposal, drawn as the overlay (white -> paint);
  // null when there is neither.
  async load(imageId, signal) {
    let response;
    try {
      response = await request(`/api/masks/${encodePath(imageId)}`, { signal, cache: "no-store" });
    } catch (err) {
      if (err.status === 404) return null; // nothing drawn yet
      throw err;
    }
    const lesion = await this.draw(await response.blob(), signal);
    // whose mask it is ("mine" or "model"), the model that proposed it ("model vN"), the share it marks
    const { headers } = response;
    const share = lesion / (this.canvas.width * this.canvas.height);
    return { source: headers.get("X-Mask-Source"), model: headers.get("X-Mask-Model"), share };
  }

  // A mask saved from this page and taken back (undo): on the canvas again as one undoable stroke, unsaved,
  // over nothing (the model's proposal it replaced is not under it: Ctrl+Z left it there, to be saved as
  // the expert's own). No lesion taken back is an empty canvas, no stroke: nothing to undo, nothing unsaved.
  async paste(png, signal) {
    this.ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
    this.begin();
    if (await this.draw(png, signal)) {
      this.commit([0, 0, this.canvas.width, this.canvas.height], 0);
      return;
    }
    this.version += 1;
    this.onChange();
  }

  // A 0/255 mask PNG of the image's size drawn as the overlay (white -> paint); returns its lesion pixels.
  async draw(png, signal) {
    const bitmap = await createImageBitmap(png);
    if (signal.aborted) throw new DOMException("superseded", "AbortError");
    const { width, height } = this.canvas;
    if (bitmap.width !== width || bitmap.height !== height) { // never stretched onto the image
      throw new Error(`the stored mask is ${bitmap.width}x${bitmap.height} but the image ${width}x${height}`);
    }
    const off = document.createElement("canvas");
    off.width = width;
    off.height = height;
    const o = off.getContext("2d");
    o.drawImage(bitmap, 0, 0, width, height);
    const image = o.getImageData(0, 0, width, height);
    const d = image.data;
    let lesion = 0;
    for (let i = 0; i < d.length; i += 4) {
      const on = Math.max(d[i], d[i + 1], d[i + 2]) > 127;
      d[i] = 255; d[i + 1] = 32; d[i + 2] = 32; d[i + 3] = on ? 255 : 0;
      lesion += on;
    }
    this.ctx.putImageData(image, 0, 0);
    return lesion;
  }

  // The 0/255 grey PNG the server stores, of the canvas's (= the image's) size; `empty`: all 0 (No lesion).
  async toPng(empty = false) {
    const { width, height } = this.canvas;
    const { data } = this.ctx.getImageData(0, 0, width, height);
    const src = empty ? new Uint8ClampedArray(data.length) : data;
    const out = document.createElement("canvas");
    out.width = width;
    out.height = height;
    const o = out.getContext("2d");
    const dst = o.createImageData(width, height);
    for (let i = 0; i < src.length; i += 4) {
      const v = src[i + 3] >= 128 ? 255 : 0;
      dst.data[i] = dst.data[i + 1] = dst.data[i + 2] = v;
      dst.data[i + 3] = 255;
    }
    o.putImageData(dst, 0, 0);
    return new Promise((resolve) => out.toBlob(resolve, "image/png"));
  }
}
