//! The Leptos app and the API types shared with the server.
//!
//! Architecture invariant: a type that crosses the HTTP boundary is defined
//! once, here, and used by both sides.

pub mod api;
pub mod pages;
