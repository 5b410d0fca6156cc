//! The portal feature: its handlers and its pages side by side.

pub(super) mod handlers;
pub(super) mod pages;
