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
mod build;
mod cli;
mod error;
mod fixup;
mod image;
mod project;
mod runtime;
mod s2i;
mod serve;
mod ui;

fn main() {
    let code = match cli::run() {
        Ok(code) => code,
        Err(err) => error::report(&err),
    };
    std::process::exit(code);
}
