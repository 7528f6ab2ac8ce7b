// Holding the image on screen while the person works on it. Taking an image from the queue leases its slot
// for LEASE_SECONDS (10 min); a careful outline can take longer, and an image whose lease lapsed is offered
// to others, whose answer may then fill its last slot and have the first person's save refused. So the page
// renews the lease when the person draws, types or zooms (at most once a minute), and at once when a live
// poll says it lapsed while they were at work. An idle page renews nothing: its image goes back to others.
// A renewal's answer is news only if no action was taken since it was sent: the key that saves also renews,
// and the save ends the lease, so a renewal the server saw after the save answers "not held" about an
// answer already stored (it flashed "save soon" before the save's own answer came).

import { post, say } from "./api.js";

export const RENEW_MS = 60_000; // at most one renewal a minute; the lease lasts ten
let lastInput = -Infinity;
let lastRenew = -Infinity;
let inFlight = false;
let current = () => null;
let acts = () => 0;

// `currentImage()`: the image id on screen that actions may be sent for (or null); `actions()`: how many
// actions (save, skip, undo) the page has begun, so a renewal answered after one began is not news.
export function setupHold(currentImage, actions) {
  current = currentImage;
  acts = actions;
  // keys reach here through app.js's one key listener (`active`), so keys.js stays the only key reader
  for (const type of ["pointerdown", "wheel", "input"]) {
    document.addEventListener(type, active, { capture: true, passive: true });
  }
  document.addEventListener("pointermove", (e) => { if (e.buttons) active(); }, { capture: true, passive: true });
}

// The queue just leased the image shown now: its lease is fresh.
export function leased() {
  lastRenew = performance.now();
}

// The person did something (drew, typed, zoomed, pressed a key): renew if a minute has passed.
export function active() {
  lastInput = performance.now();
  if (lastInput - lastRenew >= RENEW_MS) renew();
}

// A live poll found the caller's lease on `imageId` lapsed: take it again if they are at work on it.
export function lapsed(imageId) {
  if (current() === imageId && performance.now() - lastInput < RENEW_MS) renew();
}

async function renew() {
  const imageId = current();
  if (!imageId || inFlight) return;
  inFlight = true;
  lastRenew = performance.now();
  const before = acts();
  try {
    const reply = await post("/api/hold", { image_id: imageId });
    if (!reply.held && current() === imageId && acts() === before) {
      say(`others hold ${imageId}'s slots now: save soon, your answer is refused once they fill them`, true);
    }
  } catch {
    lastRenew = -Infinity; // not renewed (a network blip): the next input tries again
  } finally {
    inFlight = false;
  }
}
