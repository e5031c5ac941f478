#!/usr/bin/env node
// Runs the compiled JavaScript in dist/ when `npm run build` made it after the last change to
// src/ or schema/ (`npm start` builds first); otherwise the TypeScript sources through tsx, so a
// checkout needs no build step and edited sources never run stale.
import { distIsCurrent } from "../scripts/build.mjs";

let main;
if (process.env.POSTERN_RUN_SOURCES !== "1" && distIsCurrent()) {
  // Stack traces name the TypeScript lines (dist/ carries source maps).
  process.setSourceMapsEnabled(true);
  ({ main } = await import("../dist/src/cli/main.js"));
} else {
  const { register } = await import("tsx/esm/api");
  register();
  ({ main } = await import("../src/cli/main.ts"));
}
await main(process.argv);
