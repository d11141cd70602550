//! The Python-facing side of a request: PEP 3333 environ, start_response,
//! wsgi.input, wsgi.file_wrapper and running the app's response iterable.
pub mod chunk;
pub mod environ;
pub mod file_wrapper;
pub mod input;
pub mod responder;
pub mod run;
