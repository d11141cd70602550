//! The Source-to-Image builder, with real podman: the builder image made
//! from the Containerfile, and apps built in it the way `s2i build` and
//! OpenShift do (source streamed into /tmp/src, assemble as user 1001,
//! commit with run as the command, run as an arbitrary UID in group 0).
use crate::support;

use crate::s2i_support as s2i;

use support::{assert_ok, run, stderr, stdout};

#[test]
fn builder_image_carries_the_s2i_contract() {
    let Some(builder) = s2i::builder() else {
        return;
    };
    for (label, value) in [
        ("io.openshift.s2i.scripts-url", "image:///usr/libexec/s2i"),
        ("io.s2i.scripts-url", "image:///usr/libexec/s2i"),
        ("io.openshift.expose-services", "8080:http"),
        ("io.openshift.tags", "builder,python,warp"),
    ] {
        assert_eq!(s2i::label(builder, label), value, "label {label}");
    }
    assert!(!s2i::label(builder, "io.k8s.description").is_empty());
    let out = run(s2i::podman().args([
        "image",
        "inspect",
        "--format",
        "{{.Config.User}} {{.Config.WorkingDir}} {{json .Config.ExposedPorts}} {{json .Config.Cmd}}",
        builder,
    ]));
    assert_ok(&out);
    assert_eq!(
        stdout(&out).trim(),
        r#"1001 /opt/app-root/src {"8080/tcp":{}} ["/usr/libexec/s2i/usage"]"#
    );

    // An arbitrary UID in group 0 can write the app root and /etc/passwd.
    let out = run(s2i::podman().args([
        "run",
        "--rm",
        "-u",
        "100001:0",
        builder,
        "sh",
        "-c",
        "touch /opt/app-root/x /opt/app-root/src/y && test -w /etc/passwd && echo HOME=$HOME APP_ROOT=$APP_ROOT",
    ]));
    assert_ok(&out);
    assert_eq!(
        stdout(&out).trim(),
        "HOME=/opt/app-root APP_ROOT=/opt/app-root"
    );
}

#[test]
fn usage_names_the_image() {
    let Some(builder) = s2i::builder() else {
        return;
    };
    // The image's default command is usage.
    let out = run(s2i::podman().args(["run", "--rm", builder]));
    assert_ok(&out);
    let text = stdout(&out);
    assert!(
        text.contains(&format!("s2i build . {builder} your-app")),
        "{text}"
    );
    assert!(text.contains(&format!("oc new-app {builder}~")), "{text}");
}

#[test]
fn save_artifacts_writes_only_a_tar_on_stdout() {
    let Some(builder) = s2i::builder() else {
        return;
    };
    // Nothing built yet: a valid (empty) tar, messages on stderr only.
    let dir = s2i::scratch_dir();
    let tar = dir.path().join("artifacts.tar");
    let out = s2i::save_artifacts(builder, &tar);
    assert_ok(&out);
    let mut archive = tar::Archive::new(std::fs::File::open(&tar).unwrap());
    assert_eq!(archive.entries().unwrap().count(), 0);
    assert!(
        stderr(&out).contains("Saved artifacts: virtualenv no"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn assemble_without_source_says_so() {
    let Some(builder) = s2i::builder() else {
        return;
    };
    let out = run(s2i::podman().args(["run", "--rm", builder, "/usr/libexec/s2i/assemble"]));
    support::assert_fails_with(&out, "there is no app source in /tmp/src");
}
