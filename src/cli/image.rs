//! `warp image`: build an OCI image of the app without a daemon or a Dockerfile.
use crate::image::app::{build_image, ImageOptions};
use crate::image::builder::{build_builder, BuilderOptions};
use crate::image::layer::Compression;
use crate::image::registry::RegistryOptions;
use crate::image::stage::outputs::Publish;
use clap::{ArgAction, Args};
use std::path::PathBuf;

const EXAMPLES: &str = "\
Examples:
  warp image myapp                                  load into podman/docker (else write myapp.tar)
  warp image myapp --base oci-archive:base.tar --output docker-archive:myapp.tar
  warp image 127.0.0.1:5000/team/app:1 --base docker://127.0.0.1:5000/python:3.12 --push
  warp image myapp --output oci:out:v1 --output oci-archive:app.tar --sbom app.spdx.json
  warp image quay.io/me/app:1 --push --sign-key cosign.key      signed, SBOM and provenance attached
  warp image warp-builder --builder --base docker.io/library/python:3.12-slim-bookworm
                                                    the S2I builder image, no podman needed";

#[derive(Args, Debug)]
#[command(after_help = EXAMPLES)]
pub struct ImageArgs {
    /// The image's name: [REGISTRY/]REPO[:TAG].
    pub name: String,
    #[command(flatten)]
    pub app: super::AppArgs,
    /// The base image: docker://HOST/REPO:TAG (or a bare reference),
    /// oci:DIR[:TAG], oci-archive:FILE or docker-archive:FILE.
    /// Default: `image.base` of .warp/config.yaml, else python:3.12-slim-bookworm.
    #[arg(long, value_name = "REF")]
    pub base: Option<String>,
    /// Where to write the image (repeatable): oci:DIR[:TAG], oci-archive:FILE,
    /// docker-archive:FILE or docker://REGISTRY/REPO:TAG.
    /// None: load into podman or docker when on PATH, else write NAME.tar.
    #[arg(long = "output", short = 'o', value_name = "DEST")]
    pub outputs: Vec<String>,
    /// Push the image to the registry its NAME names.
    #[arg(long)]
    pub push: bool,
    /// Verify registries' TLS certificates (a loopback registry that answers in plain HTTP is spoken to in plain HTTP).
    #[arg(long, value_name = "BOOL", default_value_t = true, action = ArgAction::Set)]
    pub tls_verify: bool,
    /// Write the venv's packages as SPDX JSON (CycloneDX when FILE ends in .cdx.json).
    #[arg(long, value_name = "FILE")]
    pub sbom: Option<PathBuf>,
    /// Attach the image's SBOMs (SPDX, CycloneDX) and provenance to it as
    /// OCI 1.1 artifacts, in OCI layouts and on push; false for a registry
    /// that refuses artifacts.
    #[arg(long, value_name = "BOOL", default_value_t = true, action = ArgAction::Set)]
    pub attach: bool,
    /// Sign the pushed image (sigstore format, as podman and skopeo verify
    /// with `use-sigstore-attachments`) with this ECDSA P-256 private key
    /// (PEM: PKCS#8 or SEC1). Needs --push or a docker:// output.
    #[arg(long, value_name = "FILE")]
    pub sign_key: Option<PathBuf>,
    /// How the layers warp adds are compressed: gzip (every client reads
    /// it) or zstd (smaller and faster; podman ≥ 4, containerd ≥ 1.5).
    #[arg(long, value_name = "gzip|zstd", default_value = "gzip", value_parser = ["gzip", "zstd"])]
    pub compression: String,
    /// Make the Source-to-Image builder image (what the Containerfile
    /// builds) instead of an app image: no app, no container engine.
    #[arg(long)]
    pub builder: bool,
}

pub fn run(args: ImageArgs) -> anyhow::Result<i32> {
    let publish = Publish {
        name: args.name,
        outputs: args.outputs,
        push: args.push,
        registry: RegistryOptions {
            tls_verify: args.tls_verify,
        },
        sign_key: args.sign_key,
        compression: compression(&args.compression),
    };
    if args.builder {
        if args.sbom.is_some() {
            return Err(crate::error::fail(
                "--sbom lists an app's packages; a builder image (--builder) has no app",
                "drop --sbom, or build the app's image without --builder",
            ));
        }
        build_builder(&BuilderOptions {
            publish,
            base: args.base,
        })?;
        return Ok(0);
    }
    build_image(&ImageOptions {
        publish,
        src: args.app.src,
        base: args.base,
        sbom: args.sbom,
        attach: args.attach,
    })?;
    Ok(0)
}

/// `--compression` (clap has checked it is gzip or zstd).
fn compression(name: &str) -> Compression {
    match name {
        "zstd" => Compression::Zstd,
        _ => Compression::Gzip,
    }
}
