//! Image references (`warp image REF`, `--base REF`, FROM of a builder): any
//! text either parses or is refused with an error, never a panic; a parsed
//! registry reference keeps to the distribution grammar and reads back the
//! same from its own `familiar()` form.
#![no_main]
use libfuzzer_sys::fuzz_target;
use warp::image::reference::{DockerRef, ImageRef};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = ImageRef::parse(text);
    if let Ok(r) = DockerRef::parse(text) {
        assert!(!r.registry.is_empty() && !r.repository.is_empty(), "{r:?}");
        assert!(
            !r.repository.contains("//") && !r.repository.starts_with('/'),
            "{r:?}"
        );
        let _ = r.is_local_registry();
        let _ = r.reference();
        if r.digest.is_none() {
            let again = DockerRef::parse(&r.familiar()).unwrap_or_else(|e| {
                panic!("{r:?}: familiar() {:?} does not parse: {e}", r.familiar())
            });
            assert_eq!(again.registry, r.registry, "{text:?}");
            assert_eq!(again.repository, r.repository, "{text:?}");
            assert_eq!(again.tag_or_latest(), r.tag_or_latest(), "{text:?}");
        }
    }
});
