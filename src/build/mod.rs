//! The builder half, first part: from an app's source to a ready virtualenv
//! (detect the layout, make the venv, install, run the hooks, collect static).

pub mod app;
pub mod record;
