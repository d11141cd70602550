//! A real docker-registry (distribution 2.8, the Debian package) on
//! 127.0.0.1 for the image tests: anonymous, with htpasswd basic auth, with
//! bearer-token auth (a token server from registry_token_server.py), or
//! over TLS with a self-signed certificate (made with the openssl CLI);
//! storage in a temporary directory, stopped by its pid when dropped. Also
//! a TCP proxy that fails the first connections, for the retry tests, and
//! Debian's nginx as a reverse proxy in front of a registry that refuses
//! some pushes (a registry's policy on tags, as hosted registries have).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct Registry {
    pub port: u16,
    child: Child,
    /// The token server, for a registry with bearer-token auth.
    token_server: Option<Child>,
    /// The proxy in front of the token server (the realm the registry names).
    realm_proxy: Option<FlakyProxy>,
    dir: tempfile::TempDir,
    /// (user, password) when started with basic or token auth.
    pub credentials: Option<(String, String)>,
}

/// How the registry authenticates clients.
enum Auth {
    Anonymous,
    Basic,
    Token,
}

impl Registry {
    /// Start an anonymous registry; None (after `require_all`) when the
    /// docker-registry binary is missing.
    pub fn anonymous() -> Option<Registry> {
        Registry::start(Auth::Anonymous, None, false)
    }

    /// Start a registry that wants `user`/`password` (htpasswd, bcrypt).
    pub fn with_basic_auth(user: &str, password: &str) -> Option<Registry> {
        Registry::start(
            Auth::Basic,
            Some((user.to_string(), password.to_string())),
            false,
        )
    }

    /// Start a registry with bearer-token auth: its realm is a token server
    /// that grants `user`/`password` everything and anonymous clients nothing.
    pub fn with_token_auth(user: &str, password: &str) -> Option<Registry> {
        Registry::start(
            Auth::Token,
            Some((user.to_string(), password.to_string())),
            false,
        )
    }

    /// Start an anonymous registry serving HTTPS with a self-signed
    /// certificate for 127.0.0.1 (`cert_file()`).
    pub fn with_tls() -> Option<Registry> {
        Registry::start(Auth::Anonymous, None, true)
    }

    /// The self-signed certificate of a registry started `with_tls`.
    pub fn cert_file(&self) -> PathBuf {
        self.dir.path().join("tls.crt")
    }

    fn start(auth: Auth, credentials: Option<(String, String)>, tls: bool) -> Option<Registry> {
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
            "version: 0.1\nlog: {{level: warn}}\nstorage: {{filesystem: {{rootdirectory: {}}}, delete: {{enabled: true}}}}\n",
            dir.path().join("data").display()
        );
        if tls {
            self_signed_certificate(dir.path(), "tls")?;
            config.push_str(&format!(
                "http: {{addr: 127.0.0.1:{port}, tls: {{certificate: {}, key: {}}}}}\n",
                dir.path().join("tls.crt").display(),
                dir.path().join("tls.key").display()
            ));
        } else {
            config.push_str(&format!("http: {{addr: 127.0.0.1:{port}}}\n"));
        }
        let (mut token_server, mut realm_proxy) = (None, None);
        if let (Auth::Token, Some((user, password))) = (&auth, &credentials) {
            self_signed_certificate(dir.path(), "token")?;
            let Some(python) = crate::support::which("python3") else {
                crate::support::require_all("python3");
                return None;
            };
            let token_port = crate::support::free_port();
            let script = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/it/support/registry_token_server.py");
            let child = Command::new(python)
                .arg(script)
                .arg(token_port.to_string())
                .arg(dir.path().join("token.key"))
                .arg(dir.path().join("token.crt"))
                .args(["warp-test-issuer", "warp-test-registry"])
                .arg(format!("{user}:{password}"))
                .arg(dir.path().join("token-server.log"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(dir.path().join("token-server.err")).unwrap())
                .spawn()
                .expect("starting the token server");
            token_server = Some(child);
            wait_listening(token_port, "the token server");
            let proxy = FlakyProxy::start(token_port, Faults::default());
            let realm_port = proxy.port;
            realm_proxy = Some(proxy);
            config.push_str(&format!(
                "auth: {{token: {{realm: \"http://127.0.0.1:{realm_port}/token\", service: warp-test-registry, issuer: warp-test-issuer, rootcertbundle: {}}}}}\n",
                dir.path().join("token.crt").display()
            ));
        }
        if let (Auth::Basic, Some((user, password))) = (&auth, &credentials) {
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
            token_server,
            realm_proxy,
            dir,
            credentials,
        };
        wait_listening(port, "docker-registry");
        Some(registry)
    }

    /// The proxy in front of the token server of a registry with token auth,
    /// to make the realm fail.
    pub fn realm_proxy(&self) -> &FlakyProxy {
        self.realm_proxy
            .as_ref()
            .expect("a registry with token auth")
    }

    /// What the token server granted, one `granted USER SCOPES` line per token.
    pub fn token_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("token-server.log")).unwrap_or_default()
    }

    /// `127.0.0.1:PORT`
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The tests' base image copied in as `warp-test/base:1`; returns its
    /// `docker://` reference (None when a fixture is missing: skip).
    pub fn push_test_base(&self) -> Option<String> {
        let archive = crate::image_support::base_archive("oci-archive")?;
        self.copy_in(
            &format!("oci-archive:{}", archive.display()),
            "warp-test/base:1",
        )
    }

    /// `warp image NAME --base BASE` of `app` with a wrong password in
    /// REGISTRY_AUTH_FILE fails with a clear refusal, not a crash.
    pub fn assert_wrong_password_is_refused(&self, app: &Path, name: &str, base: &str) {
        let dir = tempfile::tempdir().unwrap();
        let auth = dir.path().join("auth.json");
        std::fs::write(
            &auth,
            format!(
                r#"{{"auths":{{"{}":{{"auth":"d2FycDp3cm9uZw=="}}}}}}"#,
                self.host()
            ),
        )
        .unwrap();
        let cache = crate::image_support::shared_cache();
        let out = crate::support::run(
            crate::image_support::warp_image(app, &cache)
                .env("REGISTRY_AUTH_FILE", &auth)
                .args([name, "--base", base]),
        );
        crate::support::assert_fails_with(&out, "refused access (HTTP 401)");
        let stderr = crate::support::stderr(&out);
        assert!(
            stderr.contains("check the user name and password"),
            "{stderr}"
        );
    }

    /// Copy the image at `source` (a skopeo reference) into this registry as `REPO_TAG` with skopeo
    /// (TLS not verified; `creds` as USER:PASSWORD); returns the
    /// `docker://` reference. None (after `require_all`) without skopeo.
    pub fn copy_in(&self, source: &str, repo_tag: &str) -> Option<String> {
        let Some(skopeo) = crate::support::which("skopeo") else {
            crate::support::require_all("skopeo");
            return None;
        };
        let target = format!("docker://{}/{repo_tag}", self.host());
        let mut cmd = Command::new(skopeo);
        cmd.args(["copy", "-q", "--dest-tls-verify=false"]);
        if let Some((user, password)) = &self.credentials {
            cmd.arg("--dest-creds").arg(format!("{user}:{password}"));
        }
        let out = cmd
            .arg(source)
            .arg(&target)
            .env_remove("REGISTRY_AUTH_FILE")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "skopeo copy failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Some(target)
    }

    /// The manifest digest of `docker://NAME` as skopeo sees it (TLS not
    /// verified, with this registry's credentials).
    pub fn digest_of(&self, name: &str) -> String {
        let mut cmd = Command::new("skopeo");
        cmd.args(["inspect", "--tls-verify=false", "--format", "{{.Digest}}"]);
        if let Some((user, password)) = &self.credentials {
            cmd.arg("--creds").arg(format!("{user}:{password}"));
        }
        let out = cmd
            .arg(format!("docker://{name}"))
            .env_remove("REGISTRY_AUTH_FILE")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "skopeo inspect {name} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// GET `path` (`/v2/…`) of this anonymous registry with curl, asking
    /// for `accept`: (HTTP status, body).
    pub fn get(&self, path: &str, accept: &str) -> (u16, Vec<u8>) {
        let out = Command::new("curl")
            .args(["-s", "-o", "-", "-w", "\n%{http_code}", "-H"])
            .arg(format!("Accept: {accept}"))
            .arg(format!("http://{}{path}", self.host()))
            .output()
            .unwrap();
        assert!(out.status.success(), "curl {path} failed");
        let body = out.stdout;
        let cut = body.iter().rposition(|b| *b == b'\n').unwrap();
        let status = String::from_utf8_lossy(&body[cut + 1..]).parse().unwrap();
        (status, body[..cut].to_vec())
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
        for child in std::iter::once(&mut self.child).chain(self.token_server.as_mut()) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Debian's nginx in front of a registry: every request passed through,
/// except a PUT to a manifest path matching one of `refused` (nginx `location
/// ~` regular expressions), which gets HTTP 403. Single process (`master_process
/// off`), stopped by its pid when dropped.
pub struct RefusingProxy {
    pub port: u16,
    child: Child,
    dir: tempfile::TempDir,
}

impl RefusingProxy {
    /// None (after `require_all`) without nginx.
    pub fn start(registry: &Registry, refused: &[&str]) -> Option<RefusingProxy> {
        let Some(nginx) = crate::support::which("nginx") else {
            crate::support::require_all("nginx (apt-get install nginx)");
            return None;
        };
        let dir = tempfile::Builder::new()
            .prefix("warp-nginx-")
            .tempdir()
            .unwrap();
        let d = dir.path().display();
        let port = crate::support::free_port();
        let upstream = format!(
            "proxy_pass http://127.0.0.1:{};\n      proxy_set_header Host $http_host;",
            registry.port
        );
        let refusals: String = refused
            .iter()
            .map(|r| {
                format!(
                    "    location ~ \"{r}\" {{\n      limit_except GET HEAD {{ deny all; }}\n      {upstream}\n    }}\n"
                )
            })
            .collect();
        let config = format!(
            "daemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n  access_log {d}/access.log;\n\
             client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fastcgi;\n\
             uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;\n\
             server {{\n    listen 127.0.0.1:{port};\n    client_max_body_size 0;\n\
             proxy_request_buffering off;\n    proxy_buffering off;\n    proxy_http_version 1.1;\n\
             {refusals}    location / {{\n      {upstream}\n    }}\n  }}\n}}\n"
        );
        let file = dir.path().join("nginx.conf");
        std::fs::write(&file, config).unwrap();
        let child = Command::new(nginx)
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&file)
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("stderr.log")).unwrap())
            .spawn()
            .expect("starting nginx");
        let mut proxy = RefusingProxy { port, child, dir };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            let exited = proxy.child.try_wait().unwrap().is_some();
            if exited || Instant::now() > deadline {
                let log = std::fs::read_to_string(proxy.dir.path().join("error.log"));
                panic!("nginx did not listen on 127.0.0.1:{port}: {log:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(proxy)
    }

    /// `127.0.0.1:PORT`
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// nginx's access log: one line per request, with its status.
    pub fn access_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default()
    }
}

impl Drop for RefusingProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_listening(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{what} did not listen on 127.0.0.1:{port} within 20 s");
}

/// `DIR/NAME.key` and `DIR/NAME.crt`: RSA 2048, self-signed, for IP
/// 127.0.0.1, not a CA (webpki refuses a CA certificate as a server's own,
/// even when it is trusted directly).
fn self_signed_certificate(dir: &Path, name: &str) -> Option<()> {
    let Some(openssl) = crate::support::which("openssl") else {
        crate::support::require_all("openssl (apt-get install openssl)");
        return None;
    };
    let out = Command::new(openssl)
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args([
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-addext",
            "basicConstraints=critical,CA:FALSE",
        ])
        .arg("-keyout")
        .arg(dir.join(format!("{name}.key")))
        .arg("-out")
        .arg(dir.join(format!("{name}.crt")))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl req failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(())
}

/// What a [`FlakyProxy`] does to the first connections, in this order.
#[derive(Debug, Default, Clone, Copy)]
pub struct Faults {
    /// The first connections of any kind are closed at once.
    pub drop_first: usize,
    /// Then plain-HTTP connections (not a TLS handshake) get a canned
    /// `503 Service Unavailable`.
    pub http_503_first: usize,
    /// Then plain-HTTP connections get a canned `429 Too Many Requests`
    /// with `Retry-After: 2`.
    pub http_429_first: usize,
    /// Then forwarded connections have the server's side cut off after
    /// `cut_after` bytes.
    pub cut_first: usize,
    pub cut_after: u64,
    /// Then forwarded connections have the client's side (an upload) cut
    /// off after `cut_upload_after` bytes.
    pub cut_upload_first: usize,
    pub cut_upload_after: u64,
}

/// A TCP proxy on 127.0.0.1 in front of `target_port` that fails the first
/// connections as `Faults` says and forwards the others. Stopped when dropped.
pub struct FlakyProxy {
    pub port: u16,
    stop: Arc<AtomicBool>,
    /// The faults still to come (each count goes down as it is used).
    faults: Arc<Mutex<Faults>>,
    pub connections: Arc<AtomicUsize>,
}

impl FlakyProxy {
    pub fn start(target_port: u16, faults: Faults) -> FlakyProxy {
        let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let connections = Arc::new(AtomicUsize::new(0));
        let faults = Arc::new(Mutex::new(faults));
        let (stop2, count, to_come) = (stop.clone(), connections.clone(), faults.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(mut client) = client else { continue };
                count.fetch_add(1, Ordering::SeqCst);
                let mut faults = to_come.lock().unwrap();
                if faults.drop_first > 0 {
                    faults.drop_first -= 1;
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let _ = client.set_read_timeout(Some(Duration::from_secs(5)));
                let mut first = [0u8; 1];
                let is_tls = client
                    .peek(&mut first)
                    .is_ok_and(|len| len == 1 && first[0] == 0x16);
                let canned: Option<&[u8]> = if is_tls {
                    None
                } else if faults.http_503_first > 0 {
                    faults.http_503_first -= 1;
                    Some(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                } else if faults.http_429_first > 0 {
                    faults.http_429_first -= 1;
                    Some(b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 2\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                } else {
                    None
                };
                if let Some(answer) = canned {
                    // Read the request's head (it arrives in one piece from a
                    // local client), answer, and let the client close.
                    let mut head = [0u8; 8192];
                    let _ = client.read(&mut head);
                    let _ = client.write_all(answer);
                    let _ = client.shutdown(Shutdown::Write);
                    let _ = std::io::copy(&mut client, &mut std::io::sink());
                    continue;
                }
                let down_limit = if faults.cut_first > 0 {
                    faults.cut_first -= 1;
                    faults.cut_after
                } else {
                    u64::MAX
                };
                let up_limit = if faults.cut_first == 0 && faults.cut_upload_first > 0 {
                    faults.cut_upload_first -= 1;
                    faults.cut_upload_after
                } else {
                    u64::MAX
                };
                std::thread::spawn(move || forward(client, target_port, up_limit, down_limit));
            }
        });
        FlakyProxy {
            port,
            stop,
            faults,
            connections,
        }
    }

    /// Fail the next connections as `faults` says (instead of what was left).
    pub fn set_faults(&self, faults: Faults) {
        *self.faults.lock().unwrap() = faults;
    }

    /// `127.0.0.1:PORT`
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

/// Copy bytes both ways; the connection is cut when the client has sent
/// `up_limit` bytes or the server `down_limit`.
fn forward(client: TcpStream, target_port: u16, up_limit: u64, down_limit: u64) {
    let _ = client.set_read_timeout(None);
    let Ok(upstream) = TcpStream::connect(("127.0.0.1", target_port)) else {
        return;
    };
    let (client_reader, mut upstream_writer) =
        (client.try_clone().unwrap(), upstream.try_clone().unwrap());
    let upload = std::thread::spawn(move || {
        let sent = std::io::copy(&mut (&client_reader).take(up_limit), &mut upstream_writer);
        if sent.is_ok_and(|n| n == up_limit) {
            let _ = client_reader.shutdown(Shutdown::Both);
            let _ = upstream_writer.shutdown(Shutdown::Both);
        } else {
            let _ = upstream_writer.shutdown(Shutdown::Write);
        }
    });
    let (upstream_reader, mut client_writer) = (upstream, client);
    let _ = std::io::copy(&mut (&upstream_reader).take(down_limit), &mut client_writer);
    let _ = client_writer.shutdown(Shutdown::Both);
    let _ = upstream_reader.shutdown(Shutdown::Both);
    let _ = upload.join();
}

impl Drop for FlakyProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so that it sees the flag and ends.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}
