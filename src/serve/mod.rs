//! The serving half, supervisor side: bind the socket once, spawn worker
//! processes (the app's Python running the `warpserver` extension), keep them alive.

pub mod extension;
