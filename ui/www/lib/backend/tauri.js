// The one file in the front end that touches Tauri's API. Everything else talks to the Backend
// interface described in ./index.js, so screens run the same against the fake backend.

/** @returns {boolean} whether the page runs inside the civkey app's webview */
export function tauriAvailable() {
  return typeof window.__TAURI__?.core?.invoke === "function";
}

/** @returns {import("./index.js").Backend} the backend served by the app's Rust commands */
export function tauriBackend() {
  const { invoke } = window.__TAURI__.core;
  return {
    kind: "tauri",
    locale: () => invoke("ui_locale"),
    catalogue: (locale) => invoke("ui_catalogue", { locale }),
  };
}
