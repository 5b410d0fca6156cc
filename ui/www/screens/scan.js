// @ts-check
// Scan: the live camera preview with what it decoded, "scan a picture" and "paste a link" for
// desktops without a camera. Whatever is read goes where it leads (pairing, login, an account).

import { h, icon } from "../lib/dom.js";
import { button, frame, notice, readiness } from "./common.js";
import { errorCode } from "../lib/errors.js";

/** @typedef {import("../lib/app.js").App} App */
/** @typedef {import("../lib/app.js").Screen} Screen */
/** @typedef {import("../lib/backend/index.js").CameraEvent} CameraEvent */
/** @typedef {import("../lib/backend/index.js").ReadResult} ReadResult */

/**
 * A chosen file's bytes (FileReader where `Blob.arrayBuffer` is missing, as in older webviews).
 * @param {File} file
 * @returns {Promise<Uint8Array>}
 */
export function fileBytes(file) {
  if (typeof file.arrayBuffer === "function") return file.arrayBuffer().then((b) => new Uint8Array(b));
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(new Uint8Array(/** @type {ArrayBuffer} */ (reader.result)));
    reader.onerror = () => reject({ code: "image", message: String(reader.error) });
    reader.readAsArrayBuffer(file);
  });
}

/**
 * @param {App} app
 * @returns {Screen}
 */
export function scanScreen(app) {
  const { element, body } = frame(app, "scan", app.t("app.scan.title"));
  const ready = readiness();
  let gone = false;
  let cameraOn = false;

  // The camera.
  // The previews are small JPEG data URLs, about five a second (the CSP allows data: images).
  const preview = h("img", { class: "camera__frame", alt: app.t("app.scan.camera.preview"), testid: "camera-preview" });
  const viewport = h("div", { class: "camera__viewport", hidden: true }, preview, h("span", { class: "camera__target", "aria-hidden": "true" }));
  const cameraStatus = h("div", { class: "camera__status", role: "status", testid: "camera-message" });
  const retry = button(app.t("app.scan.camera.retry"), () => startCamera(), { icon: "camera", testid: "camera-retry" });
  retry.hidden = true;
  const camera = h(
    "section",
    { class: "section camera", "aria-labelledby": "scan-camera" },
    h("h2", { id: "scan-camera", class: "section__title", text: app.t("app.scan.camera.title") }),
    h("p", { class: "section__hint", text: app.t("app.scan.intro") }),
    viewport,
    cameraStatus,
    retry,
  );

  // What was read, or why not.
  const result = h("div", { class: "scan__result", testid: "scan-result" });

  // A picture.
  const fileInput = h("input", {
    type: "file",
    id: "scan-image",
    class: "sr-only file-input",
    accept: "image/png,image/jpeg,image/*",
    testid: "scan-image-input",
    onchange: () => scanFile(),
  });
  const picture = h(
    "div",
    { class: "other-way" },
    h("h3", { class: "other-way__title", text: app.t("app.scan.image.title") }),
    h("p", { class: "section__hint", id: "scan-image-hint", text: app.t("app.scan.image.hint") }),
    fileInput,
    h("label", { for: "scan-image", class: "button button--secondary", testid: "scan-image-button" }, icon("image"), h("span", { text: app.t("app.scan.image.button") })),
  );
  fileInput.setAttribute("aria-describedby", "scan-image-hint");

  // A link.
  const linkInput = h("input", {
    type: "text",
    id: "paste-link",
    class: "field__input",
    testid: "paste-input",
    autocomplete: "off",
    autocapitalize: "off",
    spellcheck: "false",
    inputmode: "url",
    "aria-describedby": "paste-link-hint",
  });
  const paste = h(
    "form",
    { class: "other-way", onsubmit: (/** @type {Event} */ event) => { event.preventDefault(); pasteLink(); } },
    h("h3", { class: "other-way__title" }, h("label", { for: "paste-link", text: app.t("app.scan.paste.label") })),
    h("p", { class: "section__hint", id: "paste-link-hint", text: app.t("app.scan.paste.hint") }),
    h("div", { class: "field field--inline" }, linkInput, h("button", { type: "submit", class: "button button--primary", testid: "paste-submit" }, icon("link"), h("span", { text: app.t("app.scan.paste.submit") }))),
  );

  const others = h(
    "section",
    { class: "section", "aria-labelledby": "scan-other" },
    h("h2", { id: "scan-other", class: "section__title", text: app.t("app.scan.other.title") }),
    picture,
    paste,
  );
  body.append(camera, result, others);

  /** @param {HTMLElement | null} box */
  function show(box) {
    result.replaceChildren(...(box ? [box] : []));
  }

  /** @param {ReadResult} read */
  async function found(read) {
    show(notice(app.t("app.scan.found", { summary: read.summary }), "success", "scan-found"));
    if (!gone) await app.openResult(read);
  }

  /** @param {unknown} error */
  function cameraFailed(error) {
    cameraOn = false;
    viewport.hidden = true;
    const code = errorCode(error);
    if (code === "no_camera") {
      cameraStatus.replaceChildren(notice(app.t("app.scan.camera.none"), "info", "camera-none"));
      retry.hidden = true;
    } else {
      cameraStatus.replaceChildren(notice(app.errorText(error), "error", "camera-error"));
      retry.hidden = false;
    }
  }

  /** @param {CameraEvent} event */
  function onCamera(event) {
    if (gone) return;
    if (event.kind === "preview") {
      viewport.hidden = false;
      preview.src = event.image;
    } else if (event.kind === "found") {
      cameraOn = false;
      found(event.result);
    } else {
      cameraFailed(event);
    }
  }

  async function startCamera() {
    retry.hidden = true;
    cameraStatus.replaceChildren(h("p", { class: "camera__hint", text: app.t("app.scan.camera.starting") }));
    try {
      await app.backend.cameraStart(onCamera);
      cameraOn = true;
      if (gone) {
        app.backend.cameraStop().catch(() => {});
        return;
      }
      cameraStatus.replaceChildren(h("p", { class: "camera__hint", text: app.t("app.scan.camera.looking") }));
    } catch (error) {
      if (!gone) cameraFailed(error);
    }
  }

  async function scanFile() {
    const file = fileInput.files?.[0];
    if (!file) return;
    show(h("p", { class: "camera__hint", role: "status", text: app.t("app.scan.image.reading") }));
    try {
      const bytes = await fileBytes(file);
      const reads = await app.backend.scanImage(bytes);
      if (reads.length === 1) await found(reads[0]);
      else if (reads.length === 0) show(notice(app.errorText({ code: "no_code" }), "error", "scan-error"));
      else choose(reads);
    } catch (error) {
      show(notice(app.errorText(error), "error", "scan-error"));
    } finally {
      fileInput.value = "";
    }
  }

  /** Several codes in one picture: the citizen picks one. @param {ReadResult[]} reads */
  function choose(reads) {
    show(
      h(
        "div",
        { class: "choice", role: "group", "aria-labelledby": "scan-choose" },
        h("p", { id: "scan-choose", text: app.t("app.scan.image.several") }),
        h("ul", { class: "choice__list" }, ...reads.map((read) => h("li", {}, button(read.summary, () => found(read), { testid: "scan-choice" })))),
      ),
    );
  }

  async function pasteLink() {
    const text = linkInput.value.trim();
    if (!text) {
      show(notice(app.t("app.scan.paste.empty"), "error", "scan-error"));
      linkInput.focus();
      return;
    }
    try {
      await found(await app.backend.readText(text));
    } catch (error) {
      show(notice(app.errorText(error), "error", "scan-error"));
      linkInput.focus();
    }
  }

  startCamera().finally(() => ready.resolve());

  return {
    element,
    ready: ready.promise,
    dispose: () => {
      gone = true;
      if (cameraOn) app.backend.cameraStop().catch(() => {});
    },
  };
}
