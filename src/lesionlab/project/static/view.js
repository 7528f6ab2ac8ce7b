// How the image is looked at, never what is stored: brightness and contrast are a CSS filter on the
// <img> alone (the mask canvas, the pixels sent with a mask and the server's files are untouched), the
// hand tool pans, and the full-resolution view shows one image pixel per screen pixel, swapping a
// large image's JPEG (quality 95) for the same pixels sent losslessly.

import { $, encodePath, refusal, request, say } from "./api.js";
import { shownLossless } from "./details.js";

const DEFAULTS = { brightness: 100, contrast: 100 };

export class View {
  constructor(stage) {
    this.stage = stage;
    this.full = false;
    for (const name of Object.keys(DEFAULTS)) {
      $(name).addEventListener("input", () => this.apply());
      $(name).addEventListener("change", (e) => e.target.blur()); // keys go back to the image
    }
    $("view-reset").onclick = () => this.reset();
    $("pan-tool").onclick = () => this.togglePan();
    $("full-res").onclick = () => this.toggleFull();
    this.apply();
  }

  apply() {
    const b = Number($("brightness").value);
    const c = Number($("contrast").value);
    this.stage.img.style.filter = b === 100 && c === 100 ? "" : `brightness(${b}%) contrast(${c}%)`;
    $("brightness-value").textContent = `${b} %`;
    $("contrast-value").textContent = `${c} %`;
  }

  reset() {
    for (const [name, value] of Object.entries(DEFAULTS)) $(name).value = String(value);
    this.apply();
  }

  togglePan() {
    this.stage.setPanTool(!this.stage.panTool);
  }

  // F: one image pixel per screen pixel (again: back to the fit). A JPEG-served image is replaced by
  // its lossless pixels first; their size must be the one drawn on, or nothing is swapped.
  async toggleFull() {
    const stage = this.stage;
    if (!stage.size) return;
    if (stage.zoom > 1 && Math.abs(stage.zoom - stage.oneToOne()) < 0.01) {
      stage.setZoom(1);
      return;
    }
    if (!stage.lossless) await this.loadLossless();
    const oneToOne = stage.oneToOne();
    if (oneToOne <= 1) { // a small image: the fit already shows each pixel larger than a screen pixel
      say(`${stage.item.image_id}: the fit already shows each image pixel as ` +
        `${(1 / oneToOne).toFixed(1)} screen pixels; + zooms in further`);
    }
    stage.setZoom(Math.max(1, oneToOne));
  }

  async loadLossless() {
    const stage = this.stage;
    const item = stage.item;
    try {
      const response = await request(`/api/images/${encodePath(item.image_id)}?full=1`);
      const blob = await response.blob();
      const img = new Image();
      img.src = URL.createObjectURL(blob);
      await img.decode();
      if (stage.item !== item) return URL.revokeObjectURL(img.src); // another image meanwhile
      if (img.naturalWidth !== stage.size.width || img.naturalHeight !== stage.size.height) {
        URL.revokeObjectURL(img.src);
        throw new Error(`the lossless image is ${img.naturalWidth}x${img.naturalHeight}, not the one shown`);
      }
      const old = stage.img.src;
      stage.img.src = img.src;
      await stage.img.decode();
      if (old.startsWith("blob:")) URL.revokeObjectURL(old);
      stage.lossless = true;
      shownLossless();
      say(`${item.image_id}: full resolution, lossless`);
    } catch (err) {
      say(refusal("load the full-resolution image", err), true);
    }
  }
}
