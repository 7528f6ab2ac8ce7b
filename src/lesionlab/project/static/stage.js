// The stage: the image letterboxed (object-fit: contain) in a box of any size, zoomable, with the mask
// canvas laid exactly over the image's displayed content rect. The canvas has the image's own (oriented)
// pixel size, so a pointer maps to an image pixel through the canvas's on-screen rect, whatever the
// aspect ratio, letterbox or zoom; the stored mask is then the drawn one, pixel for pixel.

import { $, encodePath, request } from "./api.js";

export const MIN_ZOOM = 1;
export const MAX_ZOOM = 8;

export class Stage {
  constructor() {
    this.stage = $("stage");
    this.box = $("zoom-box");
    this.img = $("image");
    this.canvas = $("mask-canvas");
    this.zoom = 1;
    this.size = null; // {width, height} of the image shown, in image pixels
    new ResizeObserver(() => this.layout()).observe(this.stage);
    this.stage.addEventListener("wheel", (e) => this.onWheel(e), { passive: false });
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
    const field = $("zoom-level");
    if (document.activeElement !== field) field.value = `${Math.round(this.zoom * 100)} %`;
  }

  // Zoom about a point on screen (the pointer, or the stage's centre), keeping it where it is.
  setZoom(zoom, clientX = null, clientY = null) {
    const next = Math.min(MAX_ZOOM, Math.max(MIN_ZOOM, zoom));
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

  onWheel(event) {
    if (!event.ctrlKey && !event.metaKey) return; // a plain wheel scrolls the zoomed image
    event.preventDefault();
    this.zoomBy(event.deltaY < 0 ? 1.25 : 0.8, event.clientX, event.clientY);
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
    this.canvas.width = shown.width;
    this.canvas.height = shown.height;
    this.layout();
    return shown;
  }
}
