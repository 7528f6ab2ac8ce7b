// The stage: the image letterboxed (object-fit: contain) in a box of any size, zoomable, with the mask
// canvas laid exactly over the image's displayed content rect. The canvas has the image's own (oriented)
// pixel size, so a pointer maps to an image pixel through the canvas's on-screen rect, whatever the
// aspect ratio, letterbox or zoom; the stored mask is then the drawn one, pixel for pixel.
// Viewing never touches what is stored: zoom and pan move the box, brightness and contrast are a CSS
// filter on the <img> alone (view.js), and the full-resolution view swaps in the same pixels, lossless.

import { $, encodePath, request } from "./api.js";

export const MIN_ZOOM = 1;
export const MAX_ZOOM = 8; // times the fit, or 4 times one image pixel per screen pixel if that is more
const WHEEL_STEP = 1.25; // one notch of a mouse wheel (deltaY 100)

export class Stage {
  constructor() {
    this.stage = $("stage");
    this.box = $("zoom-box");
    this.img = $("image");
    this.canvas = $("mask-canvas");
    this.zoom = 1;
    this.size = null; // {width, height} of the image shown, in image pixels
    this.item = null; // the queue item shown (its id, for the full-resolution image)
    this.lossless = true; // false when the server sent a JPEG of a large image (see view.js)
    this.panTool = false; // the hand tool (H): a left drag pans instead of drawing
    this.spaceHeld = false; // Space held: a left drag pans
    this.panning = null;
    new ResizeObserver(() => this.layout()).observe(this.stage);
    this.stage.addEventListener("wheel", (e) => this.onWheel(e), { passive: false });
    // A press on the image is work on the image: the field (the comment) or button holding the focus lets
    // go, so the keys pressed next are the page's (E, B, Enter were typed into the comment and stored).
    this.stage.addEventListener("pointerdown", () => {
      const focused = document.activeElement;
      if (focused && focused !== document.body && !this.stage.contains(focused)) focused.blur();
    }, { capture: true });
    // capture: a pan starts before the mask canvas below could start a stroke
    this.stage.addEventListener("pointerdown", (e) => this.panStart(e), { capture: true });
    this.stage.addEventListener("pointermove", (e) => this.panMove(e));
    this.stage.addEventListener("pointerup", (e) => this.panEnd(e));
    this.stage.addEventListener("pointercancel", (e) => this.panEnd(e));
    this.stage.addEventListener("mousedown", (e) => { if (e.button === 1) e.preventDefault(); }); // no autoscroll
  }

  // Middle button, Space held, the hand tool, or (no canvas to draw on) any left drag: a pan.
  wantsPan(event) {
    if (event.button === 1) return true;
    return event.button === 0 && (this.spaceHeld || this.panTool || this.canvas.hidden);
  }

  panStart(event) {
    if (!this.wantsPan(event)) return;
    event.preventDefault();
    event.stopPropagation(); // never a stroke
    this.stage.setPointerCapture(event.pointerId);
    const { scrollLeft, scrollTop } = this.stage;
    this.panning = { x: event.clientX, y: event.clientY, scrollLeft, scrollTop };
    this.stage.classList.add("panning");
  }

  panMove(event) {
    if (!this.panning) return;
    this.stage.scrollLeft = this.panning.scrollLeft - (event.clientX - this.panning.x);
    this.stage.scrollTop = this.panning.scrollTop - (event.clientY - this.panning.y);
  }

  panEnd() {
    this.panning = null;
    this.stage.classList.remove("panning");
  }

  setPanTool(on) {
    this.panTool = on;
    this.cursor();
  }

  holdSpace(held) {
    this.spaceHeld = held;
    this.cursor();
  }

  cursor() {
    this.stage.classList.toggle("pan-ready", this.panTool || this.spaceHeld || this.canvas.hidden);
    const button = $("pan-tool");
    if (button) button.classList.toggle("active", this.panTool);
  }

  // The image's content rect inside the zoom box (object-fit: contain), in CSS pixels.
  contentRect() {
    const bw = this.box.clientWidth;
    const bh = this.box.clientHeight;
    if (!this.size || !bw || !bh) return { left: 0, top: 0, width: bw, height: bh };
    const scale = Math.min(bw / this.size.width, bh / this.size.height);
    const width = this.size.width * scale;
    const height = this.size.height * scale;
    return { left: (bw - width) / 2, top: (bh - height) / 2, width, height };
  }

  layout() {
    // The stage's outer size does not change when scroll bars appear, so zooming cannot feed back into
    // the layout; whole pixels, so a fractional stage size never overflows at zoom 1.
    const outer = this.stage.getBoundingClientRect();
    this.box.style.width = `${Math.floor(outer.width) * this.zoom}px`;
    this.box.style.height = `${Math.floor(outer.height) * this.zoom}px`;
    const r = this.contentRect();
    Object.assign(this.canvas.style, {
      left: `${r.left}px`, top: `${r.top}px`, width: `${r.width}px`, height: `${r.height}px`,
    });
    // Magnified at least 2 screen pixels per image pixel: each pixel drawn as the square it is.
    const magnified = this.zoom > 1 && this.size && r.width / this.size.width >= 2;
    this.box.classList.toggle("pixels", !!magnified);
    const field = $("zoom-level");
    if (document.activeElement !== field) field.value = `${Math.round(this.zoom * 100)} %`;
    this.cursor();
  }

  // The zoom at which one image pixel is one CSS pixel (the full-resolution view), from the fit.
  oneToOne() {
    const outer = this.stage.getBoundingClientRect();
    if (!this.size || !outer.width || !outer.height) return 1;
    const fit = Math.min(Math.floor(outer.width) / this.size.width, Math.floor(outer.height) / this.size.height);
    return 1 / fit;
  }

  maxZoom() {
    return Math.max(MAX_ZOOM, 4 * this.oneToOne());
  }

  // Zoom about a point on screen (the pointer, or the stage's centre), keeping it where it is.
  setZoom(zoom, clientX = null, clientY = null) {
    const next = Math.min(this.maxZoom(), Math.max(MIN_ZOOM, zoom));
    if (next === this.zoom) return;
    const s = this.stage.getBoundingClientRect();
    const ax = (clientX ?? s.left + s.width / 2) - s.left;
    const ay = (clientY ?? s.top + s.height / 2) - s.top;
    const fx = (this.stage.scrollLeft + ax) / this.box.offsetWidth;
    const fy = (this.stage.scrollTop + ay) / this.box.offsetHeight;
    this.zoom = next;
    this.layout();
    this.stage.scrollLeft = fx * this.box.offsetWidth - ax;
    this.stage.scrollTop = fy * this.box.offsetHeight - ay;
  }

  zoomBy(factor, clientX, clientY) {
    this.setZoom(Math.round(this.zoom * factor * 100) / 100, clientX, clientY);
  }

  // The wheel (and a touchpad's pinch, sent as Ctrl + wheel) zooms about the pointer: a mouse-wheel
  // notch (deltaY 100, or 50 on some HiDPI screens, or a line) is one zoom step; a touchpad's small
  // deltas zoom in proportion, so a slow swipe is a slow zoom.
  onWheel(event) {
    event.preventDefault();
    const pixels = event.deltaMode === 0 ? -event.deltaY : -Math.sign(event.deltaY) * 100;
    const notches = Math.abs(pixels) >= 40 ? Math.sign(pixels) : pixels / 100;
    if (notches) this.zoomBy(WHEEL_STEP ** notches, event.clientX, event.clientY);
  }

  // Screen point -> image pixel (fractional), through the canvas's on-screen rect.
  toImage(clientX, clientY) {
    const rect = this.canvas.getBoundingClientRect();
    return {
      x: ((clientX - rect.left) / rect.width) * this.canvas.width,
      y: ((clientY - rect.top) / rect.height) * this.canvas.height,
      perScreenPixel: this.canvas.width / rect.width,
    };
  }

  clear() {
    this.size = null;
    this.item = null;
    if (this.img.src.startsWith("blob:")) URL.revokeObjectURL(this.img.src); // one image's memory at a time
    this.img.removeAttribute("src");
    this.canvas.width = 0;
    this.canvas.height = 0;
    this.layout();
  }

  // Fetch and decode the image as the model sees it; resolves to its {width, height} once it is on
  // screen. The size the queue promised, the server's headers and the decoded pixels must all agree.
  async load(item, signal) {
    const response = await request(`/api/images/${encodePath(item.image_id)}`, { signal });
    this.lossless = response.headers.get("X-Image-Lossless") !== "0";
    const width = Number(response.headers.get("X-Image-Width")) || item.width;
    const height = Number(response.headers.get("X-Image-Height")) || item.height;
    const blob = await response.blob();
    if (signal.aborted) throw new DOMException("superseded", "AbortError");
    this.img.src = URL.createObjectURL(blob);
    try {
      await this.img.decode();
    } catch {
      if (signal.aborted) throw new DOMException("superseded", "AbortError");
      throw new Error("the browser cannot decode this image file");
    }
    if (signal.aborted) throw new DOMException("superseded", "AbortError");
    const shown = { width: this.img.naturalWidth, height: this.img.naturalHeight };
    for (const [what, w, h] of [["the queue", item.width, item.height], ["the server", width, height]]) {
      if (w && h && (w !== shown.width || h !== shown.height)) {
        throw new Error(`the image decoded as ${shown.width}x${shown.height} pixels but ${what} ` +
          `says ${w}x${h}; reload the page`);
      }
    }
    this.size = shown;
    this.item = item;
    this.canvas.width = shown.width;
    this.canvas.height = shown.height;
    this.layout();
    return shown;
  }
}
