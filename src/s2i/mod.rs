//! Source-to-Image: the logic behind builders/s2i/{assemble,run,save-artifacts,usage}
//! (each of those scripts only execs `warp s2i NAME`), and the Kubernetes
//! manifests for the images they make.
//!
//! The S2I contract (what `s2i build` and OpenShift's buildah builds do): the
//! app source is put in /tmp/src, the artifacts of the previous image (what its
//! `save-artifacts` wrote) in /tmp/artifacts, then `assemble` runs in the
//! builder image as a non-root user and the container is committed with `run`
//! as its command.
pub mod artifacts;
pub mod assemble;
pub mod manifests;
pub mod overrides;
pub mod paths;
pub mod run;
pub mod usage;
