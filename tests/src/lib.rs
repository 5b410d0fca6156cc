//! Shared helpers for civkey's end-to-end tests (the tests themselves are in `e2e/`).
