//! civkey's end-to-end suite again, every test server on PostgreSQL: the same modules as
//! e2e/main.rs (e2e/suite.rs), in a binary whose name tells `civkey_tests::postgres` to give each
//! test server a fresh database on the suite's PostgreSQL server (scripts/lib/with-postgres).

// Test-only code: fixtures outside #[test] functions fail loudly on broken setup.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

include!("e2e/suite.rs");
