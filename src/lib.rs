//! `warp`: take a Python WSGI application from source to a running,
//! production-grade container.
//!
//! The crate has two halves, mirrored in its modules:
//! - build/image: [`build`] (source → detect → venv) and [`image`] (→ layers → OCI image);
//! - serve: [`serve`] (the supervisor; the worker side is the `server/` crate).
//!
//! [`runtime`] holds what every command that *runs* the app shares (its
//! environment, the arbitrary-UID passwd entry, PID-1 duties), and [`cli`] is a
//! thin layer of argument parsing over all of them. See ARCHITECTURE.md.
//!
//! Why a library under the binary: the parsers that face untrusted input
//! (layer tars, image references, registry challenges, config and env files,
//! lock files) are reachable from fuzz targets and benchmarks, not only through
//! the command line.
pub mod app;
pub mod build;
pub mod cli;
pub mod error;
pub mod extension;
pub mod files;
pub mod fixup;
pub mod image;
pub mod proc;
pub mod project;
pub mod runtime;
pub mod s2i;
pub mod serve;
pub mod ui;
