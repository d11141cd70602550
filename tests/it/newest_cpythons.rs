//! The newest CPythons (3.14, 3.15), which pyenv here does not have: Debian
//! sid packages them, and tests/run.sh makes a sid root once per checkout
//! ($WARP_TEST_SID_ROOT, tests/fixtures/sid-root.sh). This build of warp, run
//! inside that root with chroot (which shares the host's loopback), builds an
//! app with each and serves it; the test asks over 127.0.0.1. The older
//! CPythons (3.9–3.13 and Debian's python3) are tests/it/server.rs's
//! `one_build_serves_every_cpython_from_3_9`.
use crate::sid_root;
use crate::support;

use sid_root::{in_root, InsideDir};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::{assert_ok, run, stdout};

const PYTHONS: [&str; 2] = ["3.14", "3.15"];

/// `warp start` running in the root: unshare's one child is warp (sh and
/// chroot exec into it), stopped with SIGTERM by that pid when dropped.
struct Chrooted(Child);

impl Chrooted {
    fn warp_pid(&self) -> Option<i32> {
        let pid = self.0.id();
        let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).ok()?;
        children.split_whitespace().next()?.parse().ok()
    }
}

impl Drop for Chrooted {
    fn drop(&mut self) {
        if let Some(pid) = self.warp_pid() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// GET http://127.0.0.1:PORT/ until it answers or `secs` pass.
fn get_until_up(port: u16, secs: u64) -> Option<String> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        let out = Command::new("curl")
            .args(["-sf", "--max-time", "5"])
            .arg(format!("http://127.0.0.1:{port}/"))
            .output()
            .unwrap();
        if out.status.success() {
            return Some(String::from_utf8_lossy(&out.stdout).into_owned());
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    None
}

#[test]
fn cpython_3_14_and_3_15_from_debian_sid_build_and_serve() {
    let Some(root) = sid_root::sid_root("usr/bin/python3.15") else {
        return;
    };
    for version in PYTHONS {
        let dir = InsideDir::new(&root);
        std::fs::copy(support::warp_bin(), dir.host.path().join("warp")).unwrap();
        let app = dir.host.path().join("app");
        std::fs::create_dir(&app).unwrap();
        std::fs::write(
            app.join("wsgi.py"),
            "import sys\n\ndef application(environ, start_response):\n    start_response('200 OK', [('Content-Type', 'text/plain')])\n    return [('%d.%d %s' % (sys.version_info[:2] + (environ['PATH_INFO'],))).encode()]\n",
        )
        .unwrap();
        let warp = format!("{}/warp", dir.rel);
        let src = format!("{}/app", dir.rel);
        let python = format!("python{version}");

        let out = run(&mut in_root(
            &root,
            &[&warp, "build", "--src", &src, "--python", &python],
        ));
        assert_ok(&out);
        let text = format!("{}{}", stdout(&out), support::stderr(&out));
        assert!(
            text.contains(&format!("Python {version}.")),
            "{version}: {text}"
        );
        // A symlink to the root's /usr/bin/pythonX.Y: it resolves inside only.
        assert!(app.join(".venv/bin/python").symlink_metadata().is_ok());

        let port = support::free_port();
        let log = std::fs::File::create(dir.host.path().join("start.log")).unwrap();
        let server = Chrooted(
            in_root(
                &root,
                &[
                    &warp,
                    "start",
                    "--src",
                    &src,
                    "--host",
                    "127.0.0.1",
                    "--port",
                    &port.to_string(),
                    "--processes",
                    "1",
                ],
            )
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap(),
        );
        let answer = get_until_up(port, 30);
        let logs = std::fs::read_to_string(dir.host.path().join("start.log")).unwrap();
        assert_eq!(
            answer.as_deref(),
            Some(format!("{version} /").as_str()),
            "python{version} in the sid root:\n{logs}"
        );
        assert!(
            logs.contains(&format!("Python             : {version}.")),
            "{logs}"
        );
        drop(server);
        let logs = std::fs::read_to_string(dir.host.path().join("start.log")).unwrap();
        assert!(
            !logs.contains("panicked"),
            "python{version} in the sid root:\n{logs}"
        );
    }
}
