//! A PEP 503 simple index of real wheels on 127.0.0.1
//! (tests/fixtures/simple_index.py): a lock's own index that asks for
//! credentials, and a PyPI mirror beside it; and where a credential landed.

use crate::support::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

/// The files under `dir` holding `needle`.
pub fn files_holding(dir: &Path, needle: &str) -> String {
    stdout(&run(Command::new("grep").args(["-rIl", needle]).arg(dir)))
}

/// tests/fixtures/simple_index.py serving `wheels`; stopped (by pid) on drop.
pub struct Index {
    child: Child,
    pub port: u16,
    log: PathBuf,
}

impl Index {
    pub fn start(python: &Path, wheels: &Path) -> Index {
        let port_file = wheels.join("port");
        let log = wheels.join("requests.log");
        let child = Command::new(python)
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/simple_index.py"))
            .arg(wheels)
            .arg(&port_file)
            .arg(&log)
            .spawn()
            .unwrap();
        let mut index = Index {
            child,
            port: 0,
            log,
        };
        for _ in 0..100 {
            if let Ok(port) = std::fs::read_to_string(&port_file) {
                index.port = port.trim().parse().unwrap();
                return index;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("the index did not start");
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/simple", self.port)
    }

    /// The requests so far, and forget them.
    pub fn take_log(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        std::fs::write(&self.log, "").unwrap();
        text
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Index {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Index {
    /// The index serving the wheels of `specs` (`name==version`), downloaded
    /// from the real index into `dir` by `python`'s pip.
    pub fn serving(python: &Path, dir: &Path, specs: &[&str]) -> Index {
        assert_ok(&run(Command::new(python)
            .args(["-m", "pip", "download", "-q", "--no-deps", "-d"])
            .arg(dir)
            .args(specs)));
        Index::start(python, dir)
    }

    /// The PyPI mirror, on another host name than the private index (so
    /// that a credential the installer sends there would be one it was
    /// given for the mirror, not one it reuses for the same host).
    pub fn mirror(&self) -> String {
        format!("http://localhost:{}/mirror/simple", self.port)
    }
}
