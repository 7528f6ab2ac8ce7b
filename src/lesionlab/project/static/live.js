// Live progress: others' work appears without a reload. The page asks /api/live every POLL_MS (and when
// it becomes visible again) with the stamp of its last answer; the server answers "unchanged" cheaply, or
// the progress counts, the caller's own, how many images wait for them and which come next, and whether
// the image on screen is still theirs to annotate (a reviewer may have decided it meanwhile).
// Polling rather than Server-Sent Events: it passes any proxy, and a restarted server needs no reconnect.

import { api } from "./api.js";

export const POLL_MS = 2500;

let stamp = null;
let timer = null;
let inFlight = false;

// `hooks`: current() -> the image id on screen that actions may still be sent for (or null), busy() ->
// an action is in flight, seq() -> what is on screen now (changes with every image), onData(data),
// onClosed(imageId) -> the image on screen is no longer the caller's to annotate, onLapsed(imageId) -> it
// still is, but the caller's lease on it lapsed (hold.js takes it again if they are at work).
export function startLive(hooks) {
  if (timer) return;
  const tick = () => poll(hooks).finally(() => { timer = setTimeout(tick, POLL_MS); });
  timer = setTimeout(tick, POLL_MS);
  document.addEventListener("visibilitychange", () => { if (!document.hidden) poll(hooks); });
}

// Forget the stamp: the next poll answers in full (after the page's own action changed things).
export function stale() {
  stamp = null;
}

async function poll(hooks) {
  if (document.hidden || inFlight) return;
  inFlight = true;
  const seq = hooks.seq();
  const image = hooks.busy() ? null : hooks.current();
  const query = new URLSearchParams();
  if (stamp) query.set("since", stamp);
  if (image) query.set("image", image);
  try {
    const data = await api(`/api/live?${query}`);
    stamp = data.stamp;
    if (!data.changed) return;
    hooks.onData(data);
    const same = image && hooks.seq() === seq && !hooks.busy() && hooks.current() === image;
    if (same && data.open === false) hooks.onClosed(image);
    else if (same && data.held === false) hooks.onLapsed(image);
  } catch {
    // a missed poll is retried at the next tick (the server restarting, a network blip)
  } finally {
    inFlight = false;
  }
}
