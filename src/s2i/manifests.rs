//! Kubernetes manifests for an app image (`warp manifests`): a Deployment and a
//! Service that run the image the way warp's server expects to be run.
//!
//! Choices (see README "OpenShift and Source-to-Image"):
//! - the pod runs as non-root *without* a fixed UID, so OpenShift's
//!   restricted SCC can pick an arbitrary one (the image handles it: group 0);
//! - a startup probe (TCP on the port) gates the other probes, so a
//!   liveness/readiness hook that passes before the server listens cannot send
//!   traffic to a pod that is still loading the app;
//! - terminationGracePeriodSeconds = drain delay + graceful-timeout +
//!   shutdown-timeout + a margin, so Kubernetes never SIGKILLs a server that is
//!   still draining requests the way it was told to.
use crate::error::fail;
use anyhow::Result;
use oci_spec::distribution::Reference;
use serde::Serialize;
use std::collections::BTreeMap;

/// The server's graceful-timeout and shutdown-timeout defaults (mod_wsgi-express's).
pub const DEFAULT_GRACEFUL_TIMEOUT: u32 = crate::serve::config::GRACEFUL_TIMEOUT_SECS;
pub const DEFAULT_SHUTDOWN_TIMEOUT: u32 = crate::serve::config::SHUTDOWN_TIMEOUT_SECS;
/// Seconds a terminating pod keeps serving before SIGTERM reaches the server
/// (preStop sleep), so endpoints are removed before it stops accepting.
pub const DEFAULT_DRAIN_DELAY: u32 = 5;
/// Seconds left over for the process to exit after the server's own timeouts.
const GRACE_MARGIN: u32 = 5;

/// How the liveness and readiness probes check the app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeMode {
    /// `warp alive` / `warp ready` run in the container (the app's hooks).
    Exec,
    /// HTTP GET on these paths.
    Http {
        liveness_path: String,
        readiness_path: String,
    },
}

/// What the user asked for.
#[derive(Debug, Clone)]
pub struct ManifestOptions {
    pub image: String,
    pub name: Option<String>,
    pub namespace: Option<String>,
    pub port: u16,
    pub replicas: u32,
    pub cpu_request: String,
    pub memory_request: String,
    pub cpu_limit: Option<String>,
    pub memory_limit: Option<String>,
    pub probe: ProbeMode,
    pub graceful_timeout: u32,
    pub shutdown_timeout: u32,
    pub drain_delay: u32,
}

impl ManifestOptions {
    /// The defaults for `image`.
    pub fn new(image: &str) -> ManifestOptions {
        ManifestOptions {
            image: image.to_string(),
            name: None,
            namespace: None,
            port: 8080,
            replicas: 1,
            cpu_request: "100m".into(),
            memory_request: "256Mi".into(),
            cpu_limit: None,
            memory_limit: None,
            probe: ProbeMode::Exec,
            graceful_timeout: DEFAULT_GRACEFUL_TIMEOUT,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            drain_delay: DEFAULT_DRAIN_DELAY,
        }
    }

    /// Seconds Kubernetes waits between SIGTERM (after preStop) and SIGKILL.
    pub fn termination_grace_seconds(&self) -> u32 {
        self.drain_delay + self.graceful_timeout + self.shutdown_timeout + GRACE_MARGIN
    }
}

/// The YAML text of the Deployment and the Service (two documents).
pub fn render(options: &ManifestOptions) -> Result<String> {
    let reference = parse_image(&options.image)?;
    let name = match &options.name {
        Some(name) => check_name(name, "--name")?,
        None => name_from_reference(&reference).ok_or_else(|| {
            fail(
                format!(
                    "cannot make a Kubernetes name from the image {:?}",
                    options.image
                ),
                "pass --name NAME (lowercase letters, digits and '-', starting with a letter)",
            )
        })?,
    };
    if let Some(ns) = &options.namespace {
        check_name(ns, "--namespace")?;
    }
    for (flag, value) in [
        ("--cpu", Some(&options.cpu_request)),
        ("--memory", Some(&options.memory_request)),
        ("--cpu-limit", options.cpu_limit.as_ref()),
        ("--memory-limit", options.memory_limit.as_ref()),
    ] {
        if let Some(value) = value {
            check_quantity(flag, value)?;
        }
    }
    if let ProbeMode::Http {
        liveness_path,
        readiness_path,
    } = &options.probe
    {
        check_path("--liveness-path", liveness_path)?;
        check_path("--readiness-path", readiness_path)?;
    }
    if options.port == 0 {
        return Err(fail(
            "--port 0 is not a port",
            "pass a port from 1 to 65535, e.g. --port 8080",
        ));
    }

    let deployment = deployment(options, &name);
    let service = service(options, &name);
    let mut text = serde_yaml_ng::to_string(&deployment)?;
    text.push_str("---\n");
    text.push_str(&serde_yaml_ng::to_string(&service)?);
    Ok(text)
}

/// Parse an image reference the way registries and container engines do.
pub fn parse_image(image: &str) -> Result<Reference> {
    image.parse::<Reference>().map_err(|e| {
        fail(
            format!("{image:?} is not a valid image reference ({e})"),
            "use [REGISTRY/]REPOSITORY[:TAG][@DIGEST] in lowercase, e.g. quay.io/team/myapp:1.0",
        )
    })
}

/// The last path component of the repository, made a DNS-1035 label.
fn name_from_reference(reference: &Reference) -> Option<String> {
    let last = reference.repository().rsplit('/').next()?;
    let mut name: String = last
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    name.truncate(63);
    let name = name.trim_matches('-').to_string();
    is_dns_label(&name).then_some(name)
}

fn check_name(name: &str, flag: &str) -> Result<String> {
    if is_dns_label(name) {
        Ok(name.to_string())
    } else {
        Err(fail(
            format!("{flag} {name:?} is not a valid Kubernetes name"),
            "use at most 63 lowercase letters, digits and '-', starting with a letter and ending with a letter or digit",
        ))
    }
}

/// RFC 1035 label: what Service names must be.
fn is_dns_label(s: &str) -> bool {
    let bytes = s.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes[0].is_ascii_lowercase()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
}

/// A Kubernetes resource quantity: a decimal number and an optional suffix
/// (binary Ki…Ei, decimal n u m k M G T P E, or an exponent e.g. 1e3).
fn check_quantity(flag: &str, value: &str) -> Result<()> {
    if is_quantity(value) {
        Ok(())
    } else {
        Err(fail(
            format!("{flag} {value:?} is not a Kubernetes quantity"),
            "use a number with an optional unit, e.g. --cpu 250m --memory 512Mi",
        ))
    }
}

fn is_quantity(value: &str) -> bool {
    let number_end = value
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(value.len());
    let (number, suffix) = value.split_at(number_end);
    let digits = number.chars().filter(|c| c.is_ascii_digit()).count();
    let dots = number.matches('.').count();
    if digits == 0 || dots > 1 {
        return false;
    }
    const SUFFIXES: [&str; 16] = [
        "", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "n", "u", "m", "k", "M", "G", "T", "P", "E",
    ];
    if SUFFIXES.contains(&suffix) {
        return true;
    }
    // Decimal exponent: e.g. 1e3, 5E-2.
    let Some(exponent) = suffix.strip_prefix(['e', 'E']) else {
        return false;
    };
    let exponent = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
    !exponent.is_empty() && exponent.chars().all(|c| c.is_ascii_digit())
}

fn check_path(flag: &str, path: &str) -> Result<()> {
    if path.starts_with('/') && !path.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Ok(())
    } else {
        Err(fail(
            format!("{flag} {path:?} is not a URL path"),
            "use an absolute path without spaces, e.g. --readiness-path /healthz",
        ))
    }
}

// --- the objects, in the field order people are used to read -------------

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Object<S> {
    api_version: &'static str,
    kind: &'static str,
    metadata: Metadata,
    spec: S,
}

#[derive(Serialize)]
struct Metadata {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    namespace: Option<String>,
    labels: BTreeMap<&'static str, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DeploymentSpec {
    replicas: u32,
    selector: Selector,
    strategy: Strategy,
    template: PodTemplate,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Selector {
    match_labels: BTreeMap<&'static str, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Strategy {
    #[serde(rename = "type")]
    kind: &'static str,
    rolling_update: RollingUpdate,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RollingUpdate {
    max_unavailable: u32,
    max_surge: u32,
}

#[derive(Serialize)]
struct PodTemplate {
    metadata: TemplateMetadata,
    spec: PodSpec,
}

#[derive(Serialize)]
struct TemplateMetadata {
    labels: BTreeMap<&'static str, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PodSpec {
    automount_service_account_token: bool,
    termination_grace_period_seconds: u32,
    security_context: PodSecurityContext,
    containers: Vec<Container>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PodSecurityContext {
    run_as_non_root: bool,
    seccomp_profile: SeccompProfile,
}

#[derive(Serialize)]
struct SeccompProfile {
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Container {
    name: String,
    image: String,
    ports: Vec<ContainerPort>,
    env: Vec<EnvVar>,
    resources: Resources,
    startup_probe: Probe,
    liveness_probe: Probe,
    readiness_probe: Probe,
    lifecycle: Lifecycle,
    security_context: ContainerSecurityContext,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ContainerPort {
    name: &'static str,
    container_port: u16,
    protocol: &'static str,
}

#[derive(Serialize)]
struct EnvVar {
    name: &'static str,
    value: String,
}

#[derive(Serialize)]
struct Resources {
    requests: BTreeMap<&'static str, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    limits: BTreeMap<&'static str, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Probe {
    #[serde(flatten)]
    handler: Handler,
    #[serde(skip_serializing_if = "Option::is_none")]
    initial_delay_seconds: Option<u32>,
    period_seconds: u32,
    timeout_seconds: u32,
    failure_threshold: u32,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
enum Handler {
    Exec { command: Vec<String> },
    HttpGet { path: String, port: &'static str },
    TcpSocket { port: &'static str },
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Lifecycle {
    #[serde(skip_serializing_if = "Option::is_none")]
    pre_stop: Option<LifecycleHandler>,
}

#[derive(Serialize)]
struct LifecycleHandler {
    exec: ExecCommand,
}

#[derive(Serialize)]
struct ExecCommand {
    command: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ContainerSecurityContext {
    run_as_non_root: bool,
    allow_privilege_escalation: bool,
    capabilities: Capabilities,
}

#[derive(Serialize)]
struct Capabilities {
    drop: Vec<&'static str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ServiceSpec {
    #[serde(rename = "type")]
    kind: &'static str,
    selector: BTreeMap<&'static str, String>,
    ports: Vec<ServicePort>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ServicePort {
    name: &'static str,
    port: u16,
    target_port: &'static str,
    protocol: &'static str,
}

const PORT_NAME: &str = "http";

fn labels(name: &str) -> BTreeMap<&'static str, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name", name.to_string()),
        ("app.kubernetes.io/component", "web".to_string()),
    ])
}

fn selector(name: &str) -> BTreeMap<&'static str, String> {
    BTreeMap::from([("app.kubernetes.io/name", name.to_string())])
}

fn metadata(options: &ManifestOptions, name: &str) -> Metadata {
    Metadata {
        name: name.to_string(),
        namespace: options.namespace.clone(),
        labels: labels(name),
    }
}

fn probes(options: &ManifestOptions) -> (Probe, Probe) {
    let probe = |handler| Probe {
        handler,
        initial_delay_seconds: None,
        period_seconds: 10,
        // `warp alive` starts a process and maybe a Python hook: 1 s (the
        // Kubernetes default) is too short on a busy node.
        timeout_seconds: 5,
        failure_threshold: 3,
    };
    match &options.probe {
        ProbeMode::Exec => (
            probe(Handler::Exec {
                command: vec!["warp".into(), "alive".into()],
            }),
            probe(Handler::Exec {
                command: vec!["warp".into(), "ready".into()],
            }),
        ),
        ProbeMode::Http {
            liveness_path,
            readiness_path,
        } => (
            probe(Handler::HttpGet {
                path: liveness_path.clone(),
                port: PORT_NAME,
            }),
            probe(Handler::HttpGet {
                path: readiness_path.clone(),
                port: PORT_NAME,
            }),
        ),
    }
}

fn deployment(options: &ManifestOptions, name: &str) -> Object<DeploymentSpec> {
    let (liveness_probe, readiness_probe) = probes(options);
    // No imagePullPolicy: Kubernetes' default (Always for :latest or no tag,
    // else IfNotPresent) is what a user of a tag expects.
    let requests = BTreeMap::from([
        ("cpu", options.cpu_request.clone()),
        ("memory", options.memory_request.clone()),
    ]);
    let mut limits = BTreeMap::new();
    if let Some(cpu) = &options.cpu_limit {
        limits.insert("cpu", cpu.clone());
    }
    if let Some(memory) = &options.memory_limit {
        limits.insert("memory", memory.clone());
    }
    let container = Container {
        name: name.to_string(),
        image: options.image.clone(),
        ports: vec![ContainerPort {
            name: PORT_NAME,
            container_port: options.port,
            protocol: "TCP",
        }],
        env: vec![EnvVar {
            name: "WARP_HTTP_PORT",
            value: options.port.to_string(),
        }],
        resources: Resources { requests, limits },
        // Up to 60 s to load the app (the server's startup-timeout is 15 s,
        // and a failed load is retried), checked every 2 s.
        startup_probe: Probe {
            handler: Handler::TcpSocket { port: PORT_NAME },
            initial_delay_seconds: None,
            period_seconds: 2,
            timeout_seconds: 2,
            failure_threshold: 30,
        },
        liveness_probe,
        readiness_probe,
        lifecycle: Lifecycle {
            pre_stop: (options.drain_delay > 0).then(|| LifecycleHandler {
                exec: ExecCommand {
                    command: vec!["sleep".into(), options.drain_delay.to_string()],
                },
            }),
        },
        security_context: ContainerSecurityContext {
            run_as_non_root: true,
            allow_privilege_escalation: false,
            capabilities: Capabilities { drop: vec!["ALL"] },
        },
    };
    Object {
        api_version: "apps/v1",
        kind: "Deployment",
        metadata: metadata(options, name),
        spec: DeploymentSpec {
            replicas: options.replicas,
            selector: Selector {
                match_labels: selector(name),
            },
            strategy: Strategy {
                kind: "RollingUpdate",
                rolling_update: RollingUpdate {
                    max_unavailable: 0,
                    max_surge: 1,
                },
            },
            template: PodTemplate {
                metadata: TemplateMetadata {
                    labels: labels(name),
                },
                spec: PodSpec {
                    automount_service_account_token: false,
                    termination_grace_period_seconds: options.termination_grace_seconds(),
                    security_context: PodSecurityContext {
                        run_as_non_root: true,
                        seccomp_profile: SeccompProfile {
                            kind: "RuntimeDefault",
                        },
                    },
                    containers: vec![container],
                },
            },
        },
    }
}

fn service(options: &ManifestOptions, name: &str) -> Object<ServiceSpec> {
    Object {
        api_version: "v1",
        kind: "Service",
        metadata: metadata(options, name),
        spec: ServiceSpec {
            kind: "ClusterIP",
            selector: selector(name),
            ports: vec![ServicePort {
                name: PORT_NAME,
                port: options.port,
                target_port: PORT_NAME,
                protocol: "TCP",
            }],
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docs(options: &ManifestOptions) -> Vec<serde_yaml_ng::Value> {
        let text = render(options).unwrap();
        text.split("---\n")
            .map(|doc| serde_yaml_ng::from_str(doc).unwrap())
            .collect()
    }

    #[test]
    fn name_comes_from_the_repository() {
        let docs = docs(&ManifestOptions::new("quay.io/team/my_app.web:1.0"));
        assert_eq!(docs[0]["metadata"]["name"], "my-app-web");
        assert_eq!(docs[1]["metadata"]["name"], "my-app-web");
        assert_eq!(
            docs[1]["spec"]["selector"]["app.kubernetes.io/name"],
            "my-app-web"
        );
        let containers = &docs[0]["spec"]["template"]["spec"]["containers"];
        assert_eq!(containers[0]["image"], "quay.io/team/my_app.web:1.0");
    }

    #[test]
    fn a_name_that_cannot_be_a_label_needs_name() {
        let err = render(&ManifestOptions::new("registry:5000/9app")).unwrap_err();
        assert!(
            err.to_string().contains("cannot make a Kubernetes name"),
            "{err}"
        );
        let mut options = ManifestOptions::new("registry:5000/9app");
        options.name = Some("app9".into());
        assert_eq!(docs(&options)[0]["metadata"]["name"], "app9");
    }

    #[test]
    fn bad_inputs_are_refused() {
        for image in ["", "MyApp:1", "a b", "app:bad tag", "app@sha256:12"] {
            let err = render(&ManifestOptions::new(image)).unwrap_err();
            assert!(
                err.to_string().contains("not a valid image reference"),
                "{image}: {err}"
            );
        }
        let mut options = ManifestOptions::new("app");
        options.name = Some("Bad_Name".into());
        assert!(render(&options).is_err());
        let mut options = ManifestOptions::new("app");
        options.memory_request = "lots".into();
        assert!(render(&options)
            .unwrap_err()
            .to_string()
            .contains("--memory"));
        let mut options = ManifestOptions::new("app");
        options.probe = ProbeMode::Http {
            liveness_path: "healthz".into(),
            readiness_path: "/ready".into(),
        };
        assert!(render(&options)
            .unwrap_err()
            .to_string()
            .contains("--liveness-path"));
    }

    #[test]
    fn quantities() {
        for ok in [
            "1", "100m", "0.5", "512Mi", "1Gi", "1e3", "2E-1", "1.5G", ".5",
        ] {
            assert!(is_quantity(ok), "{ok}");
        }
        for bad in ["", "m", "1.2.3", "10mb", "1e", "-1", "1 Gi", "Gi1"] {
            assert!(!is_quantity(bad), "{bad}");
        }
    }

    #[test]
    fn security_and_grace() {
        let options = ManifestOptions::new("app");
        let docs = docs(&options);
        let pod = &docs[0]["spec"]["template"]["spec"];
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
        assert!(pod["securityContext"].get("runAsUser").is_none());
        assert_eq!(
            pod["securityContext"]["seccompProfile"]["type"],
            "RuntimeDefault"
        );
        let container = &pod["containers"][0];
        assert_eq!(
            container["securityContext"]["allowPrivilegeEscalation"],
            false
        );
        assert_eq!(
            container["securityContext"]["capabilities"]["drop"][0],
            "ALL"
        );
        // 5 s drain + 15 s graceful + 5 s shutdown + 5 s margin.
        assert_eq!(pod["terminationGracePeriodSeconds"], 30);
        assert_eq!(container["lifecycle"]["preStop"]["exec"]["command"][1], "5");
    }

    #[test]
    fn exec_and_http_probes() {
        let docs_exec = docs(&ManifestOptions::new("app"));
        let container = &docs_exec[0]["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(container["livenessProbe"]["exec"]["command"][1], "alive");
        assert_eq!(container["readinessProbe"]["exec"]["command"][1], "ready");
        assert_eq!(container["startupProbe"]["tcpSocket"]["port"], "http");

        let mut options = ManifestOptions::new("app");
        options.port = 9000;
        options.probe = ProbeMode::Http {
            liveness_path: "/alive".into(),
            readiness_path: "/ready".into(),
        };
        let docs_http = docs(&options);
        let container = &docs_http[0]["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/alive");
        assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/ready");
        assert_eq!(container["ports"][0]["containerPort"], 9000);
        assert_eq!(docs_http[1]["spec"]["ports"][0]["port"], 9000);
    }
}
