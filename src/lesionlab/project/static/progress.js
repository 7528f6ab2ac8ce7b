// The progress line above the image: how many proposed images have all their annotations, how many wait
// for a reviewer and for this person, their own count and median time, and what comes next for them.

import { $ } from "./api.js";

// The progress line, from the queue's answer or a live poll's (`next`: the images after this one).
export function progress(data, overlap) {
  const p = data.progress || {};
  const proposed = p.proposed || 0;
  const complete = p.complete || 0;
  $("progress-bar").style.width = `${proposed ? Math.round((100 * complete) / proposed) : 0}%`;
  const each = overlap > 1 ? ` (each by ${overlap} people)` : "";
  const disputed = p.adjudication ? ` · ${p.adjudication} waiting for adjudication` : "";
  $("progress-text").textContent =
    `${complete} of ${proposed} proposed images annotated${each}${disputed} · ${data.remaining} waiting for you`;
  const mine = data.mine || {};
  const n = mine.annotations || 0;
  const secs = mine.median_seconds;
  $("mine").textContent = `you: ${n} annotation${n === 1 ? "" : "s"}` +
    (secs != null ? ` · median ${secs.toFixed(1)} s per image` : "");
  const next = data.next || [];
  $("up-next").textContent = next.length ? `next for you: ${next.join(", ")}` +
    (data.remaining > next.length + 1 ? " …" : "") : "";
}
