//! The app's own files warp reads at build and start: `.warp/config.yaml` and
//! the `KEY=VALUE` environment files. The first byte picks the parser; any
//! text is either accepted or refused with an error, never a panic; an env
//! file's accepted names are shell names.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::path::Path;
use warp::app::{config, envfile};

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    if which % 2 == 0 {
        let _ = config::parse(text, Path::new(".warp/config.yaml"));
    } else if let Ok(pairs) = envfile::parse(text, Path::new(".warp/environment")) {
        for (key, value) in pairs {
            assert!(envfile::is_name(&key), "{key:?}");
            assert!(!value.contains('\n'), "{value:?}");
        }
    }
});
