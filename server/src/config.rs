//! The worker's settings: [`warp_protocol::WorkerConfig`], the JSON object
//! the supervisor passes in the `WARPSERVER_CONFIG` environment variable
//! (the type, its keys and its defaults — mod_wsgi-express's tuned ones — are
//! in the shared `protocol/` crate; unknown keys are rejected there, so a typo
//! in the supervisor is caught at once). This module adds what only the
//! worker does with them: the checks and the debugger's overrides at start,
//! the trusted proxy networks and the static mounts.
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;
use warp_protocol::WorkerConfig;

/// A worker's checked settings; reads as a [`WorkerConfig`] (`config.threads`).
#[derive(Debug, Clone)]
pub struct Config(WorkerConfig);

impl std::ops::Deref for Config {
    type Target = WorkerConfig;

    fn deref(&self) -> &WorkerConfig {
        &self.0
    }
}

/// A trusted network: address and prefix length.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let addr: IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| format!("trust_proxy: {text:?} is not an IP address or CIDR"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("trust_proxy: bad prefix length in {text:?}"))?,
            None => max,
        };
        Ok(Cidr { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - self.prefix as u32).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - self.prefix as u32).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// Seconds as a `Duration`; `None` when the setting is off (0 or negative).
pub fn seconds(value: f64) -> Option<Duration> {
    (value > 0.0).then(|| Duration::from_secs_f64(value))
}

impl Config {
    pub fn from_json(text: &str) -> Result<Config, String> {
        let mut config =
            WorkerConfig::from_json(text).map_err(|e| format!("WARPSERVER_CONFIG: {e}"))?;
        if config.debugger {
            config.threads = 1;
            config.max_threads = 1;
            config.request_timeout = 0.0;
            config.queue_timeout = 0.0;
        }
        if config.threads == 0 {
            return Err("WARPSERVER_CONFIG: threads must be at least 1".into());
        }
        // Growth is on only above the base: 0 (unset) or less means none.
        config.max_threads = config.max_threads.max(config.threads);
        for cidr in &config.trust_proxy {
            Cidr::parse(cidr)?;
        }
        match config.access_log_format.as_str() {
            "common" | "combined" | "json" => {}
            other => {
                return Err(format!(
                    "WARPSERVER_CONFIG: access_log_format {other:?} is not common, combined or json"
                ))
            }
        }
        Ok(Config(config))
    }

    pub fn trusted_proxies(&self) -> Vec<Cidr> {
        self.trust_proxy
            .iter()
            .filter_map(|c| Cidr::parse(c).ok())
            .collect()
    }

    /// Every static mapping, longest URL prefix first.
    pub fn static_mounts(&self) -> Vec<(String, PathBuf)> {
        let mut mounts = self.url_aliases.clone();
        if let Some(django) = &self.django_static {
            mounts.push((django.url.clone(), django.root.clone()));
        }
        for (url, _) in mounts.iter_mut() {
            if !url.starts_with('/') {
                url.insert(0, '/');
            }
        }
        mounts.sort_by_key(|(url, _)| std::cmp::Reverse(url.len()));
        mounts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_mod_wsgi_express_ones() {
        let c = Config::from_json("{}").unwrap();
        assert_eq!(c.threads, 5);
        assert_eq!(c.request_timeout, 60.0);
        assert_eq!(c.queue_timeout, 45.0);
        assert_eq!(c.limit_request_body, 10 * 1024 * 1024);
    }

    #[test]
    fn unknown_keys_and_zero_threads_are_refused() {
        assert!(Config::from_json(r#"{"thread": 3}"#).is_err());
        assert!(Config::from_json(r#"{"threads": 0}"#).is_err());
        // The supervisor's recycle settings are not the worker's business.
        for key in [
            "restart_interval",
            "memory_limit",
            "maximum_requests_jitter",
        ] {
            assert!(
                Config::from_json(&format!(r#"{{"{key}": 1}}"#)).is_err(),
                "{key}"
            );
        }
    }

    #[test]
    fn the_debugger_means_one_thread_and_no_request_or_queue_timeout() {
        let c =
            Config::from_json(r#"{"debugger": true, "threads": 4, "request_timeout": 9}"#).unwrap();
        assert_eq!(
            (c.threads, c.request_timeout, c.queue_timeout),
            (1, 0.0, 0.0)
        );
        assert!(!Config::from_json("{}").unwrap().debugger);
        let c = Config::from_json(r#"{"debugger": true, "max_threads": 32}"#).unwrap();
        assert_eq!((c.threads, c.max_threads), (1, 1));
    }

    #[test]
    fn max_threads_below_threads_means_no_growth() {
        let grow = |json| {
            let c = Config::from_json(json).unwrap();
            (c.threads, c.max_threads)
        };
        assert_eq!(grow("{}"), (5, 5));
        assert_eq!(grow(r#"{"threads": 4, "max_threads": 2}"#), (4, 4));
        assert_eq!(grow(r#"{"threads": 4, "max_threads": 32}"#), (4, 32));
    }

    #[test]
    fn cidr_matching() {
        let net = Cidr::parse("10.1.0.0/16").unwrap();
        assert!(net.contains("10.1.200.3".parse().unwrap()));
        assert!(!net.contains("10.2.0.1".parse().unwrap()));
        assert!(net.contains("::ffff:10.1.0.9".parse().unwrap()));
        let one = Cidr::parse("127.0.0.1").unwrap();
        assert!(one.contains("127.0.0.1".parse().unwrap()));
        assert!(!one.contains("127.0.0.2".parse().unwrap()));
        assert!(Cidr::parse("0.0.0.0/0")
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
        assert!(Cidr::parse("10.0.0.0/33").is_err());
    }
}
