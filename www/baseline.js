// Baseline for the time-to-ready benchmark: "ready" as soon as a plain button exists.
window.dispatchEvent(new CustomEvent("baseline-ready", { detail: { at: performance.now() } }));
window.__baselineReadyAt = performance.now();
