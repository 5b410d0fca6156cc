// Unit tests for the screens' logic and the screens themselves against the fake backend, in jsdom.
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    environment: "jsdom",
    include: ["test/**/*.test.js"],
    setupFiles: ["test/setup.js"],
    // Two cores shared with cargo: a few workers are plenty for a suite of small files.
    maxWorkers: 2,
  },
});
