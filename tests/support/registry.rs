//! A real docker-registry (distribution 2.8, the Debian package) on
//! 127.0.0.1 for the image tests: anonymous or with htpasswd basic auth,
//! storage in a temporary directory, stopped by its pid when dropped.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Registry {
    pub port: u16,
    child: Child,
    dir: tempfile::TempDir,
    /// (user, password) when started with basic auth.
    pub credentials: Option<(String, String)>,
}

impl Registry {
    /// Start an anonymous registry; None (after `require_all`) when the
    /// docker-registry binary is missing.
    pub fn anonymous() -> Option<Registry> {
        Registry::start(None)
    }

    /// Start a registry that wants `user`/`password` (htpasswd, bcrypt).
    pub fn with_basic_auth(user: &str, password: &str) -> Option<Registry> {
        Registry::start(Some((user.to_string(), password.to_string())))
    }

    fn start(credentials: Option<(String, String)>) -> Option<Registry> {
        let Some(binary) = crate::support::which("docker-registry") else {
            crate::support::require_all("docker-registry (apt-get install docker-registry)");
            return None;
        };
        let dir = tempfile::Builder::new()
            .prefix("warp-registry-")
            .tempdir()
            .unwrap();
        let port = crate::support::free_port();
        let mut config = format!(
            "version: 0.1\nlog: {{level: warn}}\nstorage: {{filesystem: {{rootdirectory: {}}}, delete: {{enabled: true}}}}\nhttp: {{addr: 127.0.0.1:{port}}}\n",
            dir.path().join("data").display()
        );
        if let Some((user, password)) = &credentials {
            let Some(htpasswd) = crate::support::which("htpasswd") else {
                crate::support::require_all("htpasswd (apt-get install apache2-utils)");
                return None;
            };
            let out = Command::new(htpasswd)
                .args(["-Bbn", user, password])
                .output()
                .unwrap();
            assert!(out.status.success(), "htpasswd failed");
            let file = dir.path().join("htpasswd");
            std::fs::write(&file, &out.stdout).unwrap();
            config.push_str(&format!(
                "auth: {{htpasswd: {{realm: warp-test, path: {}}}}}\n",
                file.display()
            ));
        }
        let config_file = dir.path().join("config.yml");
        std::fs::write(&config_file, config).unwrap();
        let child = Command::new(binary)
            .arg("serve")
            .arg(&config_file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("registry.log")).unwrap())
            .spawn()
            .expect("starting docker-registry");
        let registry = Registry {
            port,
            child,
            dir,
            credentials,
        };
        registry.wait_ready();
        Some(registry)
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "docker-registry did not listen on {} within 20 s:\n{}",
            self.port,
            self.log()
        );
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default()
    }

    /// `127.0.0.1:PORT`
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// An auth file (containers-auth.json / docker config format) with this
    /// registry's credentials, for REGISTRY_AUTH_FILE.
    pub fn auth_file(&self, dir: &Path) -> PathBuf {
        use std::fmt::Write as _;
        let (user, password) = self.credentials.clone().expect("a registry with auth");
        let token = base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("{user}:{password}"),
        );
        let mut json = String::new();
        write!(
            json,
            r#"{{"auths":{{"{}":{{"auth":"{token}"}}}}}}"#,
            self.host()
        )
        .unwrap();
        let path = dir.join("auth.json");
        std::fs::write(&path, json).unwrap();
        path
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
