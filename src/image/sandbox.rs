//! Running a command inside an unpacked root filesystem as uid 1001 gid 0,
//! in new user, mount and PID namespaces — no Docker, podman or buildah, and
//! no root needed: the one-line ID maps (inside 1001 ↔ our UID, inside 0 ↔
//! our GID) are what an unprivileged user may write, so the same code path
//! runs as root and as a user where user namespaces are allowed. Files we
//! unpacked are ours on the host, hence the build's inside.
//!
//! The network is the host's. Build secrets — the host CA bundle and the
//! pip/uv configuration — are bind-mounted read-only for the run only; the
//! image's layers are taken from /opt/app-root alone, so they never reach one.
use crate::error::fail;
use anyhow::Result;
use nix::mount::{mount, MsFlags};
use nix::sched::{unshare, CloneFlags};
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult};
use std::ffi::CString;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// A host path made visible inside the root for the run.
#[derive(Debug, Clone)]
pub struct Bind {
    pub host: PathBuf,
    /// Absolute path inside the root.
    pub inside: PathBuf,
    pub read_only: bool,
}

/// An overlay mounted at the sandbox's root before anything else: the
/// cached read-only trees below, the build's writes in `upper`.
#[derive(Debug, Clone)]
pub struct Overlay {
    /// Top first.
    pub lowers: Vec<PathBuf>,
    pub upper: PathBuf,
    /// overlayfs' scratch directory (same file system as `upper`).
    pub work: PathBuf,
}

impl Overlay {
    /// The mount options; refuses paths overlayfs cannot take.
    fn options(&self) -> Result<String> {
        let all = self.lowers.iter().chain([&self.upper, &self.work]);
        for path in all {
            let text = path.to_string_lossy();
            if text.contains([',', ':', '\\']) {
                return Err(fail(
                    format!("the cache path {text} contains ',', ':' or '\\', which overlayfs cannot take"),
                    "set WARP_CACHE_DIR to a plain path",
                ));
            }
        }
        let lowers: Vec<String> = self
            .lowers
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        Ok(format!(
            "lowerdir={},upperdir={},workdir={},userxattr",
            lowers.join(":"),
            self.upper.display(),
            self.work.display()
        ))
    }
}

/// What to run, where.
#[derive(Debug, Clone)]
pub struct Sandbox {
    /// The root file system (the overlay's mount point when there is one).
    pub root: PathBuf,
    pub overlay: Option<Overlay>,
    pub workdir: PathBuf,
    pub env: Vec<(String, String)>,
    pub binds: Vec<Bind>,
    pub argv: Vec<String>,
}

/// Inside the namespaces: the user the build runs as.
pub const BUILD_UID: u32 = 1001;
pub const BUILD_GID: u32 = 0;

impl Sandbox {
    /// Run the command (its output goes to our stdout/stderr; the result is
    /// its exit code), and `meanwhile` on a thread of this process while it
    /// runs. The thread is started after the fork (a child
    /// forked from a process with other threads could inherit a lock one of
    /// them holds); when the sandbox fails before that, `meanwhile` runs
    /// after it. Either way it runs once and its result is returned.
    pub fn run_while<T: Send>(&self, meanwhile: impl FnOnce() -> T + Send) -> (Result<i32>, T) {
        let mut meanwhile = Some(meanwhile);
        let mut done = None;
        let code = self.run_forked(&mut meanwhile, &mut done);
        let done = match (done, meanwhile) {
            (Some(Ok(done)), _) => done,
            (Some(Err(panic)), _) => std::panic::resume_unwind(panic),
            (None, Some(meanwhile)) => meanwhile(),
            (None, None) => unreachable!("meanwhile ran without a result"),
        };
        (code, done)
    }

    fn run_forked<T: Send, F: FnOnce() -> T + Send>(
        &self,
        meanwhile: &mut Option<F>,
        done: &mut Option<std::thread::Result<T>>,
    ) -> Result<i32> {
        // Everything the child needs is prepared before fork: after it, the
        // child only makes system calls.
        let argv: Vec<CString> = self
            .argv
            .iter()
            .map(|a| CString::new(a.as_str()))
            .collect::<Result<_, _>>()?;
        let envp: Vec<CString> = self
            .env
            .iter()
            .map(|(k, v)| CString::new(format!("{k}={v}")))
            .collect::<Result<_, _>>()?;
        let overlay_options = match &self.overlay {
            Some(o) => {
                fs::create_dir_all(&o.upper)?;
                fs::create_dir_all(&o.work)?;
                fs::create_dir_all(&self.root)?;
                Some(CString::new(o.options()?)?)
            }
            None => None,
        };
        // Mount points are made where the root's writes go.
        let writable = match &self.overlay {
            Some(o) => o.upper.clone(),
            None => self.root.clone(),
        };
        for bind in &self.binds {
            let target = writable.join(bind.inside.strip_prefix("/").unwrap_or(&bind.inside));
            if bind.host.is_dir() {
                fs::create_dir_all(&target)?;
            } else {
                fs::create_dir_all(target.parent().unwrap())?;
                // A symlink (e.g. /etc/resolv.conf) is replaced by a mount point
                // in this private root, so the bind lands inside it.
                if fs::symlink_metadata(&target).is_err() || target.is_symlink() {
                    let _ = fs::remove_file(&target);
                    fs::write(&target, b"")?;
                }
            }
        }
        for dir in ["proc", "dev", "tmp"] {
            fs::create_dir_all(writable.join(dir))?;
        }
        let (ready_read, ready_write) = nix::unistd::pipe()?;
        let (mapped_read, mapped_write) = nix::unistd::pipe()?;
        let euid = nix::unistd::geteuid().as_raw();
        let egid = nix::unistd::getegid().as_raw();
        // SAFETY: warp is single-threaded here (no thread was started before
        // the sandbox runs), so the child may run ordinary Rust code.
        match unsafe { fork() }? {
            ForkResult::Child => {
                drop(ready_read);
                drop(mapped_write);
                let code = match self.child(
                    ready_write,
                    mapped_read,
                    &argv,
                    &envp,
                    overlay_options.as_deref(),
                ) {
                    Ok(code) => code,
                    Err(e) => {
                        eprintln!("warp: error: {e:#}");
                        125
                    }
                };
                unsafe { libc::_exit(code) }
            }
            ForkResult::Parent { child } => {
                drop(ready_write);
                drop(mapped_read);
                let mut byte = [0u8; 1];
                let mut ready = fs::File::from(ready_read);
                let got = ready.read(&mut byte)?;
                let mut mapped = fs::File::from(mapped_write);
                if got == 1 && byte[0] == b'u' {
                    let pid = child.as_raw();
                    let maps = (|| -> std::io::Result<()> {
                        fs::write(
                            format!("/proc/{pid}/uid_map"),
                            format!("{BUILD_UID} {euid} 1\n"),
                        )?;
                        fs::write(format!("/proc/{pid}/setgroups"), "deny")?;
                        fs::write(
                            format!("/proc/{pid}/gid_map"),
                            format!("{BUILD_GID} {egid} 1\n"),
                        )?;
                        Ok(())
                    })();
                    let _ = mapped.write_all(if maps.is_ok() { b"m" } else { b"x" });
                    if let Err(e) = maps {
                        let _ = waitpid(child, None);
                        return Err(fail(
                            format!("cannot map the build user into the user namespace: {e}"),
                            "user namespaces must be allowed (sysctl user.max_user_namespaces > 0)",
                        ));
                    }
                }
                drop(mapped);
                let status = match meanwhile.take() {
                    Some(meanwhile) => std::thread::scope(|threads| {
                        let thread = threads.spawn(meanwhile);
                        let status = waitpid(child, None);
                        *done = Some(thread.join());
                        status
                    })?,
                    None => waitpid(child, None)?,
                };
                match status {
                    WaitStatus::Exited(_, 124) if got == 1 && byte[0] == b'n' => Err(fail(
                        "cannot create user namespaces for the build",
                        "allow them (sysctl kernel.unprivileged_userns_clone=1, user.max_user_namespaces > 0) or run as root",
                    )),
                    WaitStatus::Exited(_, code) => Ok(code),
                    WaitStatus::Signaled(_, signal, _) => Ok(128 + signal as i32),
                    _ => Ok(1),
                }
            }
        }
    }

    /// The first child: new namespaces, then a second fork so that the
    /// command is PID 1 of the new PID namespace.
    fn child(
        &self,
        ready: std::os::fd::OwnedFd,
        mapped: std::os::fd::OwnedFd,
        argv: &[CString],
        envp: &[CString],
        overlay: Option<&std::ffi::CStr>,
    ) -> Result<i32> {
        let mut ready = fs::File::from(ready);
        if let Err(e) =
            unshare(CloneFlags::CLONE_NEWUSER | CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWPID)
        {
            let _ = ready.write_all(b"n");
            eprintln!("warp: unshare: {e}");
            return Ok(124);
        }
        ready.write_all(b"u")?;
        drop(ready);
        let mut answer = [0u8; 1];
        fs::File::from(mapped).read_exact(&mut answer)?;
        if answer[0] != b'm' {
            return Ok(125);
        }
        match unsafe { fork() }? {
            ForkResult::Child => {
                let code = match self.enter_and_exec(argv, envp, overlay) {
                    Ok(()) => 0,
                    Err(e) => {
                        eprintln!("warp: error: sandbox: {e:#}");
                        125
                    }
                };
                unsafe { libc::_exit(code) }
            }
            ForkResult::Parent { child } => match waitpid(child, None)? {
                WaitStatus::Exited(_, code) => Ok(code),
                WaitStatus::Signaled(_, signal, _) => Ok(128 + signal as i32),
                _ => Ok(1),
            },
        }
    }

    /// PID 1 of the new namespace: mounts, chroot, exec.
    fn enter_and_exec(
        &self,
        argv: &[CString],
        envp: &[CString],
        overlay: Option<&std::ffi::CStr>,
    ) -> Result<()> {
        let none: Option<&str> = None;
        mount(none, "/", none, MsFlags::MS_REC | MsFlags::MS_PRIVATE, none)?;
        let root = &self.root;
        match overlay {
            Some(options) => mount(
                Some("overlay"),
                root.as_path(),
                Some("overlay"),
                MsFlags::empty(),
                Some(options),
            )
            .map_err(|e| anyhow::anyhow!("mounting the build's overlay file system: {e}"))?,
            None => mount(
                Some(root.as_path()),
                root.as_path(),
                none,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                none,
            )?,
        }
        mount(
            Some("proc"),
            &root.join("proc"),
            Some("proc"),
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            none,
        )?;
        mount(
            Some("/dev"),
            &root.join("dev"),
            none,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            none,
        )?;
        for bind in &self.binds {
            let target = root.join(bind.inside.strip_prefix("/").unwrap_or(&bind.inside));
            mount(
                Some(bind.host.as_path()),
                &target,
                none,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                none,
            )?;
            if bind.read_only {
                // A remount must keep the flags the kernel locked on the source.
                let locked = nix::sys::statvfs::statvfs(&bind.host)?.flags();
                let mut flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
                use nix::sys::statvfs::FsFlags;
                for (fs_flag, ms_flag) in [
                    (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
                    (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
                    (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
                    (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
                    (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
                    (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
                ] {
                    if locked.contains(fs_flag) {
                        flags |= ms_flag;
                    }
                }
                mount(none, &target, none, flags, none)?;
            }
        }
        nix::unistd::chdir(root.as_path())?;
        nix::unistd::chroot(".")?;
        nix::unistd::chdir(&self.workdir)?;
        let program = CString::new(self.argv[0].as_bytes())?;
        nix::unistd::execve(&program, argv, envp)?;
        Ok(())
    }
}

/// The interpreters looked for in a base image, in order.
pub const PYTHON_CANDIDATES: &[&str] = &[
    "/usr/local/bin/python3",
    "/usr/bin/python3",
    "/opt/app-root/bin/python3",
    "/usr/local/bin/python",
    "/usr/bin/python",
];

/// The first Python of [`PYTHON_CANDIDATES`] present in `root` (symlinks
/// resolved inside the root), or an error that lists where warp looked.
pub fn find_python(root: &Path, base: &str) -> Result<String> {
    for candidate in PYTHON_CANDIDATES {
        let rel = Path::new(candidate.trim_start_matches('/'));
        if let Ok(resolved) = super::unpack::resolve_in_root(root, rel, true, "the base image") {
            if resolved.is_file() {
                return Ok(candidate.to_string());
            }
        }
    }
    Err(fail(
        format!(
            "the base image {base} has no Python (looked for {})",
            PYTHON_CANDIDATES.join(", ")
        ),
        "use a base with python3, e.g. --base docker.io/library/python:3.12-slim-bookworm",
    ))
}

/// The host CA bundle to make available to the build, if there is one.
pub fn host_ca_bundle() -> Option<PathBuf> {
    ["SSL_CERT_FILE", "PIP_CERT", "REQUESTS_CA_BUNDLE"]
        .iter()
        .filter_map(|k| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        })
        .chain(std::iter::once(PathBuf::from(
            "/etc/ssl/certs/ca-certificates.crt",
        )))
        .find(|p| p.is_file())
}
