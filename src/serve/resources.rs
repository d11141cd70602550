//! The CPUs and memory this container really has (cgroup v2 `cpu.max` and
//! `memory.max`, cgroup v1 CFS quota and memory limit, the CPU affinity mask),
//! and the worker processes × threads derived from them.
//!
//! Formula (README "Production settings"): with C = the CPUs (quota rounded
//! up, at least 1) and M = the memory limit,
//!   processes = clamp(min(C, M / 128 MiB), 1, 12)
//!   threads   = 2, growing to 32 per process
//! One process per CPU, not s2i-python-container's two, because each warp
//! worker does its network I/O outside the GIL and grows its Python threads
//! while requests wait outside the GIL (on a database): when memory caps the
//! processes, that growth makes up the request capacity a waiting view needs,
//! and a CPU-bound view, which one process can only give one CPU's worth
//! whatever its threads, keeps the 2 threads that give it the shortest tail.
use std::path::{Path, PathBuf};

/// Memory budgeted per worker process when a limit caps their number.
pub const MEMORY_PER_PROCESS: u64 = 128 << 20;
/// The most worker processes the defaults ever choose (as s2i's WEB_CONCURRENCY).
pub const MAX_PROCESSES: u32 = 12;

#[derive(Debug, Clone, PartialEq)]
pub struct Resources {
    /// CPUs available (may be fractional under a CFS quota).
    pub cpus: f64,
    /// The memory limit, when there is one.
    pub memory_bytes: Option<u64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Concurrency {
    pub processes: u32,
    pub threads: u32,
    /// How they were derived, for the banner.
    pub why: String,
}

/// Processes and threads for these resources (see the module doc).
pub fn tuned_concurrency(r: &Resources) -> Concurrency {
    let cpus = (r.cpus.ceil() as u32).max(1);
    let by_memory = r
        .memory_bytes
        .map(|m| (m / MEMORY_PER_PROCESS).min(u32::MAX as u64) as u32);
    let processes = by_memory
        .map_or(cpus, |m| m.min(cpus))
        .clamp(1, MAX_PROCESSES);
    let threads = crate::serve::config::DEFAULT_THREADS;
    let memory = r.memory_bytes.map_or("no memory limit".to_string(), |m| {
        format!("{} memory", crate::ui::human_size(m))
    });
    Concurrency {
        processes,
        threads,
        why: format!("tuned for {} CPU, {memory}", trim_float(r.cpus)),
    }
}

fn trim_float(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// Read this process's limits from /proc and /sys.
pub fn detect() -> Resources {
    let affinity = affinity_cpus().unwrap_or(1) as f64;
    let cgroup = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let root = Path::new("/sys/fs/cgroup");
    let quota = cgroup_v2_dir(&cgroup, root)
        .and_then(|d| read(&d.join("cpu.max")))
        .and_then(|t| parse_cpu_max(&t))
        .or_else(|| {
            let dir = cgroup_v1_dir(&cgroup, root, "cpu")?;
            parse_cfs(
                &read(&dir.join("cpu.cfs_quota_us"))?,
                &read(&dir.join("cpu.cfs_period_us"))?,
            )
        });
    let memory = cgroup_v2_dir(&cgroup, root)
        .and_then(|d| read(&d.join("memory.max")))
        .and_then(|t| parse_memory_max(&t))
        .or_else(|| {
            let dir = cgroup_v1_dir(&cgroup, root, "memory")?;
            parse_memory_v1(&read(&dir.join("memory.limit_in_bytes"))?)
        });
    let physical = physical_memory();
    Resources {
        cpus: quota.map_or(affinity, |q| q.min(affinity)),
        memory_bytes: match (memory, physical) {
            (Some(m), Some(p)) if m >= p => None,
            (m, _) => m,
        },
    }
}

fn read(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

fn affinity_cpus() -> Option<usize> {
    let set = nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0)).ok()?;
    let n = (0..nix::sched::CpuSet::count())
        .filter(|&i| set.is_set(i).unwrap_or(false))
        .count();
    (n > 0).then_some(n)
}

fn physical_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = info.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The unified (v2) cgroup directory of this process, when the v2 hierarchy
/// is mounted at `root` and has the controller files. Inside a container the
/// namespace makes its own cgroup `/`, so the root itself is tried last.
fn cgroup_v2_dir(proc_cgroup: &str, root: &Path) -> Option<PathBuf> {
    let rel = proc_cgroup
        .lines()
        .find_map(|l| l.strip_prefix("0::"))?
        .trim_start_matches('/');
    [root.join(rel), root.to_path_buf()]
        .into_iter()
        .find(|d| d.join("cgroup.controllers").exists())
}

/// The v1 directory of `controller` (`cpu`, `memory`) for this process.
fn cgroup_v1_dir(proc_cgroup: &str, root: &Path, controller: &str) -> Option<PathBuf> {
    let rel = proc_cgroup.lines().find_map(|l| {
        let mut parts = l.splitn(3, ':');
        let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
        controllers
            .split(',')
            .any(|c| c == controller)
            .then(|| path.trim_start_matches('/').to_string())
    })?;
    let mount = [
        controller.to_string(),
        format!("{controller},cpuacct"),
        format!("cpu,{controller}"),
    ]
    .into_iter()
    .map(|m| root.join(m))
    .find(|d| d.is_dir())?;
    [mount.join(&rel), mount]
        .into_iter()
        .find(|d| d.is_dir() && d.read_dir().is_ok_and(|mut e| e.next().is_some()))
}

/// cgroup v2 `cpu.max`: "max 100000" (no limit) or "QUOTA PERIOD".
pub fn parse_cpu_max(text: &str) -> Option<f64> {
    let mut parts = text.split_whitespace();
    let quota = parts.next()?;
    let period: f64 = parts.next().unwrap_or("100000").parse().ok()?;
    if quota == "max" || period <= 0.0 {
        return None;
    }
    Some(quota.parse::<f64>().ok()? / period)
}

/// cgroup v1 `cpu.cfs_quota_us` (-1 = no limit) and `cpu.cfs_period_us`.
pub fn parse_cfs(quota: &str, period: &str) -> Option<f64> {
    let quota: i64 = quota.trim().parse().ok()?;
    let period: i64 = period.trim().parse().ok()?;
    (quota > 0 && period > 0).then(|| quota as f64 / period as f64)
}

/// cgroup v2 `memory.max`: "max" or bytes.
pub fn parse_memory_max(text: &str) -> Option<u64> {
    text.trim().parse().ok()
}

/// cgroup v1 `memory.limit_in_bytes`: "no limit" is a huge number (≥ 2^62).
pub fn parse_memory_v1(text: &str) -> Option<u64> {
    text.trim().parse::<u64>().ok().filter(|&m| m < (1 << 62))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tuned(cpus: f64, mem_mib: Option<u64>) -> (u32, u32) {
        let c = tuned_concurrency(&Resources {
            cpus,
            memory_bytes: mem_mib.map(|m| m << 20),
        });
        (c.processes, c.threads)
    }

    #[test]
    fn one_process_per_cpu_with_two_threads() {
        assert_eq!(tuned(1.0, None), (1, 2));
        assert_eq!(tuned(2.0, None), (2, 2));
        assert_eq!(tuned(4.0, Some(8192)), (4, 2));
    }

    #[test]
    fn fractional_quota_rounds_up_and_processes_are_capped_at_twelve() {
        assert_eq!(tuned(0.5, None), (1, 2));
        assert_eq!(tuned(1.5, None), (2, 2));
        assert_eq!(tuned(64.0, None), (12, 2));
    }

    #[test]
    fn memory_caps_processes_and_growth_makes_up_capacity() {
        // 4 CPUs but 256 MiB: 2 processes (of 2 threads growing to 32).
        assert_eq!(tuned(4.0, Some(256)), (2, 2));
        // Less than one process' budget still gives one process.
        assert_eq!(tuned(2.0, Some(64)), (1, 2));
    }

    #[test]
    fn cgroup_v2_files_parse() {
        assert_eq!(parse_cpu_max("max 100000\n"), None);
        assert_eq!(parse_cpu_max("200000 100000\n"), Some(2.0));
        assert_eq!(parse_cpu_max("50000 100000"), Some(0.5));
        assert_eq!(parse_memory_max("max\n"), None);
        assert_eq!(parse_memory_max("536870912\n"), Some(512 << 20));
    }

    #[test]
    fn cgroup_v1_files_parse() {
        assert_eq!(parse_cfs("-1\n", "100000\n"), None);
        assert_eq!(parse_cfs("150000\n", "100000\n"), Some(1.5));
        assert_eq!(parse_memory_v1("9223372036854771712\n"), None);
        assert_eq!(parse_memory_v1("1073741824\n"), Some(1 << 30));
    }

    #[test]
    fn cgroup_v2_directory_is_found_from_proc_self_cgroup() {
        let root = tempfile::tempdir().unwrap();
        let own = root.path().join("kubepods/pod1");
        std::fs::create_dir_all(&own).unwrap();
        std::fs::write(own.join("cgroup.controllers"), "cpu memory").unwrap();
        std::fs::write(own.join("cpu.max"), "300000 100000").unwrap();
        let dir = cgroup_v2_dir("0::/kubepods/pod1\n", root.path()).unwrap();
        assert_eq!(
            parse_cpu_max(&read(&dir.join("cpu.max")).unwrap()),
            Some(3.0)
        );
        // A v1-only host has no "0::" line.
        assert_eq!(cgroup_v2_dir("4:memory:/x\n", root.path()), None);
    }

    #[test]
    fn cgroup_v1_directory_is_found_per_controller() {
        let root = tempfile::tempdir().unwrap();
        let mem = root.path().join("memory/app");
        std::fs::create_dir_all(&mem).unwrap();
        std::fs::write(mem.join("memory.limit_in_bytes"), "268435456").unwrap();
        let dir = cgroup_v1_dir("4:memory:/app\n1:cpu,cpuacct:/\n", root.path(), "memory").unwrap();
        assert_eq!(dir, mem);
        assert_eq!(cgroup_v1_dir("4:memory:/app\n", root.path(), "cpu"), None);
    }

    #[test]
    fn detect_reads_this_machine() {
        let r = detect();
        assert!(r.cpus >= 0.01, "{r:?}");
    }
}
