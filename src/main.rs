//! The `warp` command: parse the command line ([`warp::cli`]) and turn an
//! error into its one-line report and exit code ([`warp::error`]).

fn main() {
    let code = match warp::cli::run() {
        Ok(code) => code,
        Err(err) => warp::error::report(&err),
    };
    std::process::exit(code);
}
