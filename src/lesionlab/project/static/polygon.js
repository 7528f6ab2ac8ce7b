// The polygon tool: click the outline's vertices, close it (Enter, a double-click, or a click on the first
// vertex) and it is filled into the mask as one undoable stroke; Escape drops it, Backspace its last
// vertex. Vertices are kept in IMAGE pixels (fractional), so zooming or panning while outlining moves
// nothing; the outline in progress is drawn on an SVG laid over the mask canvas (never on the mask).

import { say } from "./api.js";

const SVG = "http://www.w3.org/2000/svg";
const CLOSE_PX = 8; // a click this close (screen px) to the first vertex closes the outline
const SAME_PX = 3; // a second click this close to the last vertex (a double-click's) adds none
// A double-click on the first vertex: its first click closes the outline, and its second (this soon, this
// near) is no first vertex of a new one, which would be a corner of the next polygon nobody outlined.
const DOUBLE_MS = 500;

export class PolygonTool {
  constructor(editor) {
    this.editor = editor;
    this.canvas = editor.canvas;
    this.points = []; // [{x, y}] in image pixels
    this.closedAt = null; // {x, y, at}: where and when a click on the first vertex closed the last outline
    this.pointer = null; // {id, added}: the pointer pressed now, and the vertex count its press made
    this.lastPress = null; // {at, added}: the latest press, and the vertex count it made (0: none)
    this.svg = document.createElementNS(SVG, "svg");
    this.svg.id = "polygon-overlay";
    this.svg.dataset.testid = "polygon-overlay";
    this.canvas.after(this.svg);
    this.line = document.createElementNS(SVG, "polyline");
    this.first = document.createElementNS(SVG, "circle");
    this.svg.append(this.line, this.first);
    // the overlay follows the canvas wherever the stage lays it (zoom, resize, another image)
    new MutationObserver(() => this.place()).observe(this.canvas, { attributes: true });
    this.canvas.addEventListener("dblclick", (e) => this.doubleClick(e));
    this.place();
  }

  get open() {
    return this.points.length > 0;
  }

  place() {
    const { style } = this.canvas;
    Object.assign(this.svg.style, {
      left: style.left, top: style.top, width: style.width, height: style.height,
      visibility: this.canvas.hidden ? "hidden" : style.visibility,
    });
    this.svg.setAttribute("viewBox", `0 0 ${this.canvas.width || 1} ${this.canvas.height || 1}`);
    this.draw();
  }

  // A double-click closes the outline with the vertex its first press placed: a vertex its second press
  // added (a few pixels off, the hand's jitter) is that one again, and goes.
  doubleClick(event) {
    if (!this.open) return;
    event.preventDefault();
    const second = this.lastPress;
    if (second && second.added === this.points.length && performance.now() - second.at < DOUBLE_MS) {
      this.removeLast();
    }
    this.close();
  }

  // One press on the canvas at image point p (perScreenPixel: image px per screen px).
  press(p) {
    this.lastPress = { at: performance.now(), added: 0 };
    const near = (q, px) => Math.hypot(q.x - p.x, q.y - p.y) <= px * p.perScreenPixel;
    const closed = this.closedAt;
    this.closedAt = null;
    const again = closed && performance.now() - closed.at < DOUBLE_MS && near(closed, CLOSE_PX);
    if (!this.open && again) return false;
    if (this.points.length >= 3 && near(this.points[0], CLOSE_PX)) {
      this.closedAt = { x: p.x, y: p.y, at: performance.now() };
      return this.close();
    }
    const last = this.points[this.points.length - 1];
    if (last && near(last, SAME_PX)) return false; // the second click of a double-click
    this.points.push({ x: p.x, y: p.y });
    this.lastPress.added = this.points.length;
    this.draw();
    this.editor.onChange();
    return true;
  }

  // Vertices come from one pointer at a time, as a brush stroke does: a second finger or a resting palm
  // pressed while a vertex is tapped adds none, and a pointer the system cancels (palm rejection) takes
  // back the vertex it added. The pointer is captured, so its release is heard wherever it happens.
  pointerDown(event, p) {
    if (this.pointer) return;
    this.pointer = { id: event.pointerId, added: this.press(p) === true && this.points.length };
    this.canvas.setPointerCapture(event.pointerId);
  }

  pointerUp(event, cancelled = false) {
    const held = this.pointer;
    if (!held || held.id !== event.pointerId) return;
    this.pointer = null;
    if (cancelled && held.added && this.points.length === held.added) this.removeLast();
  }

  removeLast() {
    this.points.pop();
    this.draw();
    this.editor.onChange();
  }

  cancel() {
    if (!this.open) return;
    this.points = [];
    this.draw();
    this.editor.onChange();
  }

  // Fill the outline into the mask. With fewer than 3 vertices there is nothing to fill: the outline stays
  // open with its vertices (the expert's clicks are never dropped unasked) and the page says what to do.
  close() {
    const points = this.points;
    if (points.length < 3) {
      const placed = `${points.length} ${points.length === 1 ? "vertex" : "vertices"} placed`;
      say(`a polygon needs at least 3 vertices (${placed}): add more, or Esc to cancel it`, true);
      return false;
    }
    this.points = [];
    this.draw();
    this.editor.fillPolygon(points);
    return true;
  }

  draw() {
    const scale = this.canvas.width / (parseFloat(this.canvas.style.width) || this.canvas.width || 1);
    const width = 2 * scale; // 2 screen px, whatever the zoom
    this.line.setAttribute("points", this.points.map((q) => `${q.x},${q.y}`).join(" "));
    Object.assign(this.line.style, { fill: "rgba(255,255,0,.15)", stroke: "#ff0", strokeWidth: width });
    const f = this.points[0];
    this.first.setAttribute("r", f ? String(CLOSE_PX * scale) : "0");
    if (f) {
      this.first.setAttribute("cx", String(f.x));
      this.first.setAttribute("cy", String(f.y));
    }
    Object.assign(this.first.style, { fill: "none", stroke: "#ff0", strokeWidth: width });
  }
}
