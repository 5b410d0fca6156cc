// @ts-check
// The one file in the front end that touches Tauri's API. Everything else talks to the Backend
// interface described in ./index.js, so screens run the same against the fake backend.
//
// Tauri hands a command's arguments to Rust by name, camelCase here for snake_case there
// (`deviceName` → `device_name`). Rejections arrive as the command's `CommandError`
// (`{ code, message }`); anything else (a missing command, a panic) is turned into that shape.

/** @typedef {import("./index.js").Backend} Backend */
/** @typedef {import("./index.js").CameraEvent} CameraEvent */

/** @returns {boolean} whether the page runs inside the civkey app's webview */
export function tauriAvailable() {
  return typeof window.__TAURI__?.core?.invoke === "function";
}

/**
 * Any rejection as `{ code, message }`.
 * @param {unknown} error
 * @returns {{ code: string, message: string }}
 */
export function asCommandError(error) {
  if (error && typeof error === "object" && "code" in error && typeof error.code === "string") {
    const message = "message" in error ? String(error.message) : error.code;
    return { code: error.code, message };
  }
  return { code: "generic", message: String(error) };
}

/** How often the webview's camera hands a frame to the scanner (mobile), and its longest side. */
export const FRAME_INTERVAL_MS = 200;
export const FRAME_SIDE = 720;

/**
 * The webview's camera, for Android and iOS where the Rust side has no camera of its own: frames
 * go to `camera_frame` as raw RGBA with their size in headers, and the scanner there reads them
 * (crates/app-api/src/camera.rs). The screens never see this: `cameraStart` looks the same everywhere.
 * @param {(frame: Uint8Array, width: number, height: number) => Promise<unknown>} send
 * @returns {Promise<() => void>} stops the camera
 */
export async function webviewCamera(send) {
  const media = navigator.mediaDevices;
  if (!media?.getUserMedia) throw { code: "no_camera", message: "this webview has no camera API" };
  let stream;
  try {
    stream = await media.getUserMedia({ video: { facingMode: "environment" }, audio: false });
  } catch (error) {
    const name = error && typeof error === "object" && "name" in error ? String(error.name) : "";
    const code = name === "NotFoundError" || name === "OverconstrainedError" ? "no_camera" : "camera";
    throw { code, message: `${name}: ${error}` };
  }
  const video = document.createElement("video");
  video.muted = true;
  video.playsInline = true;
  video.srcObject = stream;
  await video.play().catch(() => {});
  const canvas = document.createElement("canvas");
  const context = canvas.getContext("2d", { willReadFrequently: true });
  let sending = false;
  const timer = setInterval(() => {
    if (sending || !context || video.videoWidth === 0) return;
    const scale = Math.min(1, FRAME_SIDE / Math.max(video.videoWidth, video.videoHeight));
    canvas.width = Math.round(video.videoWidth * scale);
    canvas.height = Math.round(video.videoHeight * scale);
    context.drawImage(video, 0, 0, canvas.width, canvas.height);
    const pixels = context.getImageData(0, 0, canvas.width, canvas.height).data;
    sending = true;
    send(new Uint8Array(pixels.buffer), canvas.width, canvas.height)
      .catch(() => {})
      .finally(() => {
        sending = false;
      });
  }, FRAME_INTERVAL_MS);
  return () => {
    clearInterval(timer);
    for (const track of stream.getTracks()) track.stop();
    video.srcObject = null;
  };
}

/** @returns {Backend} the backend served by the app's Rust commands */
export function tauriBackend() {
  const tauri = window.__TAURI__;
  if (!tauri) throw new Error("not inside the civkey app");
  const { core, event } = tauri;

  /**
   * @template T
   * @param {string} command
   * @param {Record<string, unknown> | Uint8Array} [args]
   * @param {{ headers: Record<string, string> }} [options]
   * @returns {Promise<T>}
   */
  const call = async (command, args, options) => {
    try {
      return await (options ? core.invoke(command, args, options) : core.invoke(command, args));
    } catch (error) {
      throw asCommandError(error);
    }
  };

  /** @type {(() => void) | null} the webview's camera while it feeds a scan (mobile) */
  let stopWebviewCamera = null;
  const stopCamera = () => {
    stopWebviewCamera?.();
    stopWebviewCamera = null;
  };

  /**
   * An app event as a callback; the contract's unsubscribe function is synchronous, Tauri's
   * `listen` answers with a promise of one.
   * @template T
   * @param {string} name
   * @param {(payload: T) => void} callback
   */
  const on = (name, callback) => {
    const unlisten = event.listen(name, (e) => callback(/** @type {T} */ (e.payload)));
    return () => {
      unlisten.then((stop) => stop()).catch(() => {});
    };
  };

  return {
    kind: "tauri",
    locale: () => call("ui_locale"),
    catalogue: (locale) => call("ui_catalogue", { locale }),
    status: () => call("app_status"),
    setLanguage: (locale) => call("set_language", { locale }),
    setPin: (pin) => call("set_pin", { pin }),
    unlock: (pin) => call("unlock", { pin }),
    unlockWithBiometrics: () => call("unlock_biometrics"),
    lock: () => call("lock"),
    home: () => call("home"),
    otpCodes: () => call("otp_codes"),
    otpAdd: (uri) => call("otp_add", { uri }),
    readText: (text) => call("read_text", { text }),
    // The picture goes as the request's raw body: no JSON array of numbers for megabytes.
    scanImage: (bytes) => call("scan_image", bytes),
    cameraStart: async (onEvent) => {
      stopCamera();
      /** @type {TauriChannel<CameraEvent>} */
      const channel = new core.Channel();
      channel.onmessage = (event) => {
        if (event.kind !== "preview") stopCamera();
        onEvent(event);
      };
      await call("camera_start", { onEvent: channel });
      /** @type {{ platform: string }} */
      const status = await call("app_status");
      if (status.platform === "desktop") return;
      try {
        stopWebviewCamera = await webviewCamera((frame, width, height) =>
          call("camera_frame", frame, {
            headers: { "x-frame-width": String(width), "x-frame-height": String(height) },
          }),
        );
      } catch (error) {
        await call("camera_stop").catch(() => {});
        throw error;
      }
    },
    cameraStop: async () => {
      stopCamera();
      await call("camera_stop");
    },
    pairBegin: (uri, deviceName) => call("pair_begin", { uri, deviceName: deviceName ?? null }),
    pairFinish: () => call("pair_finish"),
    pairCancel: () => call("pair_cancel"),
    onboardingStart: (serverOrigin) => call("onboarding_start", { serverOrigin }),
    onboardingCurrent: () => call("onboarding_current"),
    onboardingWait: () => call("onboarding_wait"),
    onboardingCancel: () => call("onboarding_cancel"),
    loginOpen: (uri) => call("login_open", { uri }),
    loginDecide: (approve) => call("login_decide", { approve }),
    renameIdentity: (id, name) => call("rename_identity", { id, name }),
    forgetIdentity: (id, localOnly) => call("forget_identity", { id, localOnly }),
    setScreenshotProtection: (on) => call("set_screenshot_protection", { on }),
    pendingLink: () => call("pending_link"),
    onOpenLink: (callback) => on("open-link", callback),
    onLocked: (callback) => on("locked", () => callback()),
    bokPending: () => call("bok_pending"),
    bokSubmit: (requestId, bok) => call("bok_submit", { requestId, bok }),
    notifications: () => call("notifications_list"),
    notificationsMarkRead: () => call("notifications_mark_read"),
    onBokRequest: (callback) => on("bok-request", callback),
    onNotification: (callback) => on("notification", callback),
  };
}
