//! How warp says that something is wrong: one line with the cause, one line
//! with a hint, and a non-zero exit code.
//!
//! Library code returns `anyhow::Result`; where the user can do something about
//! a failure it returns a [`UserError`] (via [`fail`]) so the hint reaches them.
use std::fmt;

/// A failure caused by the user's input or environment, with a way out.
#[derive(Debug)]
pub struct UserError {
    pub message: String,
    pub hint: Option<String>,
    /// The process exit code (2 for usage errors, 1 otherwise).
    pub code: i32,
}

impl fmt::Display for UserError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for UserError {}

/// An error with a hint, exit code 1.
pub fn fail(message: impl Into<String>, hint: impl Into<String>) -> anyhow::Error {
    UserError {
        message: message.into(),
        hint: Some(hint.into()),
        code: 1,
    }
    .into()
}

/// An error with a hint and a chosen exit code.
pub fn fail_with_code(
    message: impl Into<String>,
    hint: impl Into<String>,
    code: i32,
) -> anyhow::Error {
    UserError {
        message: message.into(),
        hint: Some(hint.into()),
        code,
    }
    .into()
}

/// Print `err` the warp way and return the exit code to use.
pub fn report(err: &anyhow::Error) -> i32 {
    if let Some(user) = err.downcast_ref::<UserError>() {
        eprintln!("warp: error: {}", user.message);
        if let Some(hint) = &user.hint {
            eprintln!("warp: hint: {hint}");
        }
        return user.code;
    }
    // An unexpected failure: the whole chain on one line.
    eprintln!("warp: error: {err:#}");
    1
}
