//! The citizen portal: server-rendered pages (`pages`) from plain view data (`views`).

pub mod pages;
pub mod views;
