//! The lock-file readers (`src/build/lock/`): any text as uv.lock,
//! pylock.toml, poetry.lock, pdm.lock or Pipfile.lock (the first byte picks
//! the kind) for a CPython 3.11 on Linux, next to a small pyproject. The text
//! is either refused with an error or read into a set where every package
//! has a name, a version and at least one hash — what `--require-hashes`
//! needs — never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use std::sync::OnceLock;
use warp::build::lock::{self, markers, Kind, LockFile, Reader, Selection, Source, Target};

struct Fixture {
    home: PathBuf,
    target: Target,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let home = std::env::temp_dir().join(format!("warp-fuzz-locks-{}", std::process::id()));
        std::fs::create_dir_all(&home).unwrap();
        std::fs::write(
            home.join("pyproject.toml"),
            "[project]\nname = \"app\"\nversion = \"1\"\nrequires-python = \">=3.9\"\n\
             dependencies = [\"flask>=2.2\"]\n\n[dependency-groups]\ndev = [\"pytest\"]\n",
        )
        .unwrap();
        let values: markers::Values = serde_json::from_str(
            r#"{"implementation_name": "cpython", "implementation_version": "3.11.7",
                "os_name": "posix", "platform_machine": "x86_64",
                "platform_python_implementation": "CPython", "platform_release": "6.1.0",
                "platform_system": "Linux", "platform_version": "1 SMP",
                "python_full_version": "3.11.7", "python_version": "3.11",
                "sys_platform": "linux"}"#,
        )
        .unwrap();
        let target = Target::new(markers::environment(&values).unwrap());
        Fixture { home, target }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let kinds = [
        (Kind::Uv, "uv.lock"),
        (Kind::Pylock, "pylock.toml"),
        (Kind::Poetry, "poetry.lock"),
        (Kind::Pdm, "pdm.lock"),
        (Kind::Pipfile, "Pipfile.lock"),
    ];
    let (kind, name) = kinds[which as usize % kinds.len()];
    let fixture = fixture();
    let file = LockFile {
        kind,
        path: fixture.home.join(name),
    };
    let selection = Selection {
        groups: if which & 0x80 != 0 {
            vec!["dev".into()]
        } else {
            vec![]
        },
        extras: vec![],
    };
    let reader = Reader {
        lock: &file,
        home: &fixture.home,
        target: &fixture.target,
        selection: &selection,
    };
    let read = match kind {
        Kind::Uv => lock::uv::read(text, &reader),
        Kind::Pylock => lock::pylock::read(text, &reader),
        Kind::Poetry => lock::poetry::read(text, &reader),
        Kind::Pdm => lock::pdm::read(text, &reader),
        Kind::Pipfile => lock::pipfile::read(text, &reader),
    };
    if let Ok(locked) = read {
        for package in &locked.packages {
            assert!(!package.name.is_empty(), "{package:?}");
            assert!(!package.version.is_empty(), "{package:?}");
            match &package.source {
                Source::Registry { hashes, index } => {
                    assert!(!hashes.is_empty(), "{package:?}");
                    if let Some(index) = index {
                        assert!(index.valid().is_ok(), "{package:?}");
                    }
                }
                Source::Url { hash, .. } => assert!(!hash.is_empty(), "{package:?}"),
            }
        }
        for dir in &locked.local {
            assert!(
                dir.starts_with(fixture.home.canonicalize().unwrap()),
                "{dir:?}"
            );
        }
        let _ = lock::requirements::text(&locked.packages);
    }
});
