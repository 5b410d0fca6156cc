// @ts-check
// civkey's front end: connect to the backend (the app's Rust commands, or the fake one in a plain
// browser) and start the screens. The page stays hidden until the words are in.

import { startApp } from "./lib/app.js";
import { connect } from "./lib/backend/index.js";

async function start() {
  const backend = await connect();
  await startApp({ backend });
  document.querySelector("main")?.setAttribute("aria-busy", "false");
  document.documentElement.classList.remove("is-loading");
}

start().catch((error) => {
  // Without a catalogue there are no words to show; the log says why.
  console.error("civkey: the front end could not start", error);
});
