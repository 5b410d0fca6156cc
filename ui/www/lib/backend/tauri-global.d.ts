// The part of Tauri's global API (app.withGlobalTauri) that ./tauri.js uses. Only lib/backend/
// may touch it; the declaration is optional so every other use has to check first.

type TauriUnlisten = () => void;

interface TauriChannel<T> {
  onmessage: (message: T) => void;
}

interface TauriGlobal {
  core: {
    invoke<T = unknown>(
      command: string,
      args?: Record<string, unknown> | Uint8Array | ArrayBuffer | number[],
      options?: { headers: Record<string, string> },
    ): Promise<T>;
    Channel: new <T = unknown>() => TauriChannel<T>;
  };
  event: {
    listen<T = unknown>(
      event: string,
      handler: (event: { event: string; payload: T }) => void,
    ): Promise<TauriUnlisten>;
  };
}

interface Window {
  __TAURI__?: TauriGlobal;
}
