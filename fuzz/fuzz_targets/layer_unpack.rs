//! The layer unpacker, fed any tar stream (a base image's layers come from a
//! registry or an archive: untrusted). Whether it accepts or refuses the
//! layer, nothing may be created outside the root: the root sits in a
//! directory next to an empty `outside/` (the target of the `..`, absolute
//! path and link tricks in the seed corpus), and both are checked after.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let outside = dir.path().join("outside");
    std::fs::create_dir(&root).unwrap();
    std::fs::create_dir(&outside).unwrap();
    // A pre-existing symlink out of the root, as a lower layer may hold.
    std::os::unix::fs::symlink(&outside, root.join("escape")).unwrap();
    let _ = warp::image::unpack::unpack_tar(data, &root, "the fuzzed layer");
    let outside_entries: Vec<_> = std::fs::read_dir(&outside).unwrap().flatten().collect();
    assert!(
        outside_entries.is_empty(),
        "written outside the root: {:?}",
        outside_entries.iter().map(|e| e.path()).collect::<Vec<_>>()
    );
    let mut siblings: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    siblings.sort();
    assert_eq!(siblings, ["outside", "root"], "written next to the root");
    assert!(Path::new(&root).is_dir());
    // The root must stay removable (no unreadable directory left behind).
    make_writable(&root);
});

fn make_writable(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755));
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                make_writable(&e.path());
            }
        }
    }
}
