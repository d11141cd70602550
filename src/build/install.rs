//! Installing an app's dependencies into its venv, by layout, with uv or pip.
//!
//! Index settings are honoured for both tools: pip reads PIP_INDEX_URL,
//! PIP_EXTRA_INDEX_URL and PIP_CERT itself; uv is given them as
//! `--index-url`/`--extra-index-url`, and SSL_CERT_FILE (from PIP_CERT when
//! unset) so that a TLS-intercepting proxy's CA is trusted. A wheelhouse at
//! `.warp/wheelhouse` (or `.warpdrive/wheelhouse`) is added as find-links, and
//! WARP_PIP_NO_INDEX=1 installs from it alone.
//!
//! A lock file's set ([`crate::build::lock`]) is written to a hashed
//! requirements file in a private temporary directory (never in the venv)
//! and installed with `--require-hashes --no-deps`: pip and uv verify every
//! file against the lock and resolve nothing — one install per index the
//! lock names ([`lock::index`], given to the tool in its environment). Local
//! packages (uv workspace members) and a project that is a package are
//! installed after them with `--no-deps`.
//!
//! pip installs with `--no-compile`; the bytecode of what it installed is
//! compiled after each run, on every CPU ([`bytecode`]). uv compiles nothing
//! (its default).
use crate::app::vars::AppVars;
use crate::build::bytecode;
use crate::build::detect::{Layout, PipfileTool};
use crate::build::lock::{self, LockFile, Locked};
use crate::build::Tool;
use crate::error::fail;
use crate::proc;
use anyhow::Result;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Everything an install command needs.
pub struct Installer<'a> {
    pub tool: Tool,
    /// The venv's interpreter.
    pub python: &'a Path,
    /// Where the app is (install commands run here).
    pub home: &'a Path,
    pub src_root: &'a Path,
    pub vars: &'a AppVars,
    /// The build environment (app variables, build-env exports).
    pub env: &'a [(String, String)],
}

/// The wheelhouse of the app, if it has one.
pub fn wheelhouse(src_root: &Path) -> Option<PathBuf> {
    [".warp/wheelhouse", ".warpdrive/wheelhouse"]
        .iter()
        .map(|d| src_root.join(d))
        .find(|d| d.is_dir())
}

/// The environment uv needs beyond the build's: certificates, no downloads of Pythons.
pub fn uv_env(vars: &AppVars) -> Vec<(String, String)> {
    let mut env = vec![("UV_PYTHON_DOWNLOADS".to_string(), "never".to_string())];
    if vars.get("SSL_CERT_FILE").is_none() {
        if let Some(cert) = vars.get("PIP_CERT") {
            env.push(("SSL_CERT_FILE".into(), cert));
        }
    }
    env
}

impl Installer<'_> {
    /// A `pip install` (or `uv pip install`) command with the index options.
    fn install_command(&self) -> Command {
        self.install_command_from(None)
    }

    /// The same, taking packages from a lock's own index instead of the
    /// environment's ([`lock::index`]: given in the tool's environment).
    fn install_command_from(&self, index: Option<&lock::index::Use>) -> Command {
        let mut cmd;
        match self.tool {
            Tool::Pip => {
                cmd = Command::new(self.python);
                // The bytecode is compiled after each install, on every CPU
                // (see `bytecode`), instead of by pip one file at a time.
                cmd.args(["-m", "pip", "install", "--no-input", "--no-compile"]);
            }
            Tool::Uv => {
                cmd = Command::new("uv");
                cmd.args(["pip", "install", "--python"]).arg(self.python);
                if let (None, Some(url)) = (index, self.vars.get("PIP_INDEX_URL")) {
                    cmd.arg("--index-url").arg(url);
                }
                if let (None, Some(urls)) = (index, self.vars.get("PIP_EXTRA_INDEX_URL")) {
                    for url in urls.split_whitespace() {
                        cmd.arg("--extra-index-url").arg(url);
                    }
                }
                cmd.envs(uv_env(self.vars));
            }
        }
        if let Some(dir) = wheelhouse(self.src_root) {
            cmd.arg("--find-links").arg(dir);
        }
        if self.vars.flag("WARP_PIP_NO_INDEX") || self.vars.flag("WARPDRIVE_PIP_NO_INDEX") {
            cmd.arg("--no-index");
        }
        cmd.current_dir(self.home)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env(
                "VIRTUAL_ENV",
                self.python
                    .parent()
                    .and_then(Path::parent)
                    .unwrap_or(self.python),
            );
        if let Some(index) = index {
            let (set, removed) = index.env(self.tool == Tool::Uv);
            cmd.envs(set);
            for name in removed {
                cmd.env_remove(name);
            }
        }
        cmd
    }

    /// Run an install; `what` names it in the error.
    fn run(&self, cmd: Command, args: &[&std::ffi::OsStr], what: &str) -> Result<()> {
        self.run_hinted(
            cmd,
            args,
            what,
            "fix the dependency, or the index settings (PIP_INDEX_URL, WARP_PIP_NO_INDEX)",
        )
    }

    /// Run an install with `hint` in its error.
    fn run_hinted(
        &self,
        mut cmd: Command,
        args: &[&std::ffi::OsStr],
        what: &str,
        hint: &str,
    ) -> Result<()> {
        cmd.args(args);
        let tool = self.tool.name();
        proc::run_quiet(cmd, |code| {
            fail(
                format!("installing {what} failed ({tool} exit code {code})"),
                format!("{tool}'s last lines of output are above; {hint}"),
            )
        })?;
        match self.tool {
            Tool::Pip => bytecode::compile_missing(self.python, self.env),
            Tool::Uv => Ok(()),
        }
    }

    /// Upgrade pip itself (UPGRADE_PIP_TO_LATEST; pip installs only: uv does not use it).
    pub fn upgrade_pip(&self) -> Result<()> {
        if self.tool == Tool::Pip {
            self.run(
                self.install_command(),
                &[
                    "--upgrade".as_ref(),
                    "pip".as_ref(),
                    "setuptools".as_ref(),
                    "wheel".as_ref(),
                ],
                "the latest pip",
            )?;
        }
        Ok(())
    }

    /// Install the dependencies of `layout`.
    pub fn install(&self, layout: &Layout) -> Result<()> {
        match layout {
            Layout::None => Ok(()),
            Layout::Requirements(files) => {
                let mut args: Vec<&std::ffi::OsStr> = Vec::new();
                for file in files {
                    args.push("-r".as_ref());
                    args.push(file.as_os_str());
                }
                self.run(
                    self.install_command(),
                    &args,
                    &format!("dependencies from {}", layout.name()),
                )
            }
            Layout::Pyproject | Layout::SetupPy => self.run(
                self.install_command(),
                &[".".as_ref()],
                &format!("the project ({})", layout.name()),
            ),
            Layout::Pipfile { tool } => self.install_pipfile(*tool),
            Layout::Lock(file) => Err(fail(
                format!("{} was not read before the install", file.name()),
                "this is a bug in warp: please report it",
            )),
        }
    }

    /// Install exactly the locked set, hashes verified, then the project
    /// itself when it is a package.
    pub fn install_lock(&self, file: &LockFile, locked: &Locked) -> Result<()> {
        let name = file.name();
        let offline =
            self.vars.flag("WARP_PIP_NO_INDEX") || self.vars.flag("WARPDRIVE_PIP_NO_INDEX");
        for batch in lock::index::batches(locked, self.vars, offline)? {
            let requirements = lock_requirements(batch.packages)?;
            let args: [&std::ffi::OsStr; 4] = [
                "--require-hashes".as_ref(),
                "--no-deps".as_ref(),
                "-r".as_ref(),
                requirements.path().as_os_str(),
            ];
            if self.installed_offline(batch.index.as_ref(), &args) {
                continue;
            }
            match &batch.index {
                None => self.run(self.install_command(), &args, &format!("the packages of {name}"))?,
                Some(index) => self.run_hinted(
                    self.install_command_from(Some(index)),
                    &args,
                    &format!("the packages {name} locks from {}", index.shown),
                    "check that the build reaches that index, and its credentials (UV_INDEX_<NAME>_USERNAME/_PASSWORD, netrc)",
                )?,
            }
        }
        for dir in &locked.local {
            self.run(
                self.install_command(),
                &["--no-deps".as_ref(), dir.as_os_str()],
                &format!("the local package {} (locked by {name})", dir.display()),
            )?;
        }
        if locked.install_project {
            self.run(
                self.install_command(),
                &["--no-deps".as_ref(), ".".as_ref()],
                &format!("the project (locked by {name})"),
            )?;
        }
        Ok(())
    }

    /// uv only: install a locked set from uv's cache alone (`--offline`), as
    /// `uv sync --locked` does, without asking the index again for the files
    /// of each package — a round trip per package that a warm cache makes
    /// useless, since every version is pinned and every file's hash given.
    /// False (nothing said) when uv is not the tool or the cache lacks
    /// something: the caller installs online.
    fn installed_offline(
        &self,
        index: Option<&lock::index::Use>,
        args: &[&std::ffi::OsStr],
    ) -> bool {
        if self.tool != Tool::Uv {
            return false;
        }
        let mut cmd = self.install_command_from(index);
        cmd.arg("--offline")
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        cmd.status().is_ok_and(|s| s.success())
    }

    /// Pipfile apps: the lock file is turned into a hashed requirements file
    /// (by micropipenv or pipenv, installed into the venv) and installed like one.
    fn install_pipfile(&self, tool: PipfileTool) -> Result<()> {
        let bin = self.python.parent().expect("venv bin");
        let (package, exe) = match tool {
            PipfileTool::Micropipenv => ("micropipenv[toml]", bin.join("micropipenv")),
            PipfileTool::Pipenv => ("pipenv", bin.join("pipenv")),
        };
        self.run(self.install_command(), &[package.as_ref()], package)?;
        if tool == PipfileTool::Pipenv && !self.home.join("Pipfile.lock").is_file() {
            self.run_tool(&exe, &["lock"], "pipenv lock")?;
        }
        let args: &[&str] = match tool {
            PipfileTool::Micropipenv => &[
                "requirements",
                "--method",
                "pipenv",
                "--no-dev",
                "--no-indexes",
            ],
            PipfileTool::Pipenv => &["requirements", "--hash"],
        };
        let out = self.tool_command(&exe).args(args).output()?;
        if !out.status.success() {
            eprintln!("{}", String::from_utf8_lossy(&out.stderr));
            return Err(fail(
                format!("reading Pipfile.lock with {} failed", exe.display()),
                "check that Pipfile.lock is valid (`pipenv lock` rewrites it)",
            ));
        }
        let requirements = tempfile::Builder::new()
            .prefix("warp-pipfile-")
            .suffix(".txt")
            .tempfile()?;
        std::fs::write(requirements.path(), &out.stdout)?;
        self.run(
            self.install_command(),
            &["-r".as_ref(), requirements.path().as_os_str()],
            "dependencies from Pipfile.lock",
        )
    }

    fn tool_command(&self, exe: &Path) -> Command {
        let mut cmd = Command::new(exe);
        cmd.current_dir(self.home)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("PIPENV_VERBOSITY", "-1");
        cmd
    }

    fn run_tool(&self, exe: &Path, args: &[&str], what: &str) -> Result<()> {
        let mut cmd = self.tool_command(exe);
        cmd.args(args);
        proc::run_quiet(cmd, |code| {
            fail(
                format!("{what} failed (exit code {code})"),
                "its output is above",
            )
        })
    }
}

/// The locked set as a requirements file in a private temporary file.
pub fn lock_requirements<'a>(
    packages: impl IntoIterator<Item = &'a lock::Pinned>,
) -> Result<tempfile::NamedTempFile> {
    let file = tempfile::Builder::new()
        .prefix("warp-lock-")
        .suffix(".txt")
        .tempfile()?;
    std::fs::write(file.path(), lock::requirements::text(packages))?;
    Ok(file)
}
