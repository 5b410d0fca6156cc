// civkey's front end: asks the backend for the language and its words, then shows the home screen.

import { connect } from "./lib/backend/index.js";
import { translate } from "./lib/i18n.js";

async function start() {
  const backend = connect();
  const locale = await backend.locale();
  const catalogue = await backend.catalogue(locale);
  translate(document, catalogue, locale);
  document.querySelector("main")?.setAttribute("aria-busy", "false");
  document.documentElement.classList.remove("is-loading");
}

start().catch((error) => {
  // Without a catalogue there are no words to show; the log says why.
  console.error("civkey: the front end could not start", error);
});
