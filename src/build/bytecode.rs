//! Compiling a venv's bytecode after pip has installed into it, on every CPU.
//!
//! pip compiles each file it installs one after the other, in its own process
//! — about 2 s for Django alone. warp runs pip with `--no-compile` and then
//! compiles what is missing here, with a process per CPU. The result is what
//! pip would have written: the interpreter's default invalidation mode (as
//! pip's `compileall.compile_file`: timestamp-based, or hash-based when
//! SOURCE_DATE_EPOCH is set, as in image builds, so the .pyc stay valid once
//! the layer writer has reset every mtime), `__pycache__` next to each source,
//! files that do not compile skipped silently. pip does not list these .pyc
//! in the packages' RECORD, as with any `--no-compile` install; `pip
//! uninstall` removes them all the same (it adds each source's cached .pyc).
//!
//! Only sources without a .pyc are compiled, so the compile that follows
//! seeding pip (see `venv`) is not repeated after the dependencies' install.
use crate::error::fail;
use crate::proc;
use anyhow::Result;
use std::path::Path;
use std::process::Command;

/// Run by the venv's interpreter: every `*.py` under its site-packages
/// (purelib and platlib) that has no `__pycache__` entry yet, compiled by a
/// pool of processes (one per CPU), or in this process where the pool cannot
/// start or breaks (no /dev/shm for its semaphores, a worker killed).
const COMPILE_MISSING: &str = r#"
import compileall, functools, importlib.util, os, sys, sysconfig

def missing(top):
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for name in sorted(filenames):
            if name.endswith(".py"):
                path = os.path.join(dirpath, name)
                if not os.path.exists(importlib.util.cache_from_source(path)):
                    yield path

paths = sysconfig.get_paths()
tops = dict.fromkeys(os.path.realpath(paths[k]) for k in ("purelib", "platlib"))
todo = [p for top in tops for p in missing(top)]
one = functools.partial(compileall.compile_file, force=True, quiet=2)
try:
    from concurrent.futures import ProcessPoolExecutor
    with ProcessPoolExecutor() as pool:
        list(pool.map(one, todo, chunksize=max(1, len(todo) // (8 * (os.cpu_count() or 1)))))
except Exception:  # the pool, not a file (compile_file reports those by returning False)
    for path in todo:
        one(path)
"#;

/// Compile the missing bytecode of the venv whose interpreter is `python`.
pub fn compile_missing(python: &Path, env: &[(String, String)]) -> Result<()> {
    let mut cmd = Command::new(python);
    cmd.args(["-c", COMPILE_MISSING])
        .envs(env.iter().map(|(k, v)| (k, v)))
        // Before 3.11 marshal writes a set constant in hash order: one seed,
        // the same bytes whichever build (or worker) compiled the file.
        .env("PYTHONHASHSEED", "0");
    proc::run_quiet(cmd, |code| {
        fail(
            format!(
                "compiling the bytecode of {} failed (exit code {code})",
                python.display()
            ),
            "its output is above",
        )
    })
}
