//! `warp image NAME`, step by step: read the base, unpack it into a private
//! root, add the runtime layer (the warp binary, a group-writable
//! /etc/passwd, /opt/app-root), run `warp build` inside the root in the
//! sandbox, capture the dependencies layer (the venv; cached by a hash of the
//! dependency inputs, the base and its Python) and the app layer (source,
//! collected static, build record), assemble config and manifest, write the
//! outputs.
//!
//! Timestamps: the app layer and the config's `created` use
//! SOURCE_DATE_EPOCH (default: the source's last git commit time, else 0);
//! the runtime and dependencies layers are stamped 0 so that they are shared
//! between apps and commits unchanged.
use super::base;
use super::config::{self, AddedLayer, ImageFacts, APP_ROOT, APP_SRC};
use super::diskfull;
use super::layer::{self, LayerWriter, Owner};
use super::output::{self, Finished};
use super::reference::{DockerRef, ImageRef};
use super::registry::RegistryOptions;
use super::sandbox::{self, Bind, Sandbox};
use super::store::BlobStore;
use super::{roots, sbom, unpack, Layer, LoadedImage};
use crate::error::fail;
use crate::ui;
use anyhow::{Context, Result};
use sha2::{Digest as _, Sha256};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// The base when neither --base nor `.warp/config.yaml` names one: the
/// official CPython image, Debian based (warp is linked against glibc).
pub const DEFAULT_BASE: &str = "docker.io/library/python:3.12-slim-bookworm";

/// What the user asked for.
#[derive(Debug, Clone)]
pub struct ImageOptions {
    pub name: String,
    pub src: PathBuf,
    pub base: Option<String>,
    pub outputs: Vec<String>,
    pub push: bool,
    pub registry: RegistryOptions,
    pub sbom: Option<PathBuf>,
}

/// Source entries never copied into the image.
fn skip_source(rel: &Path) -> bool {
    let first = rel
        .components()
        .next()
        .map(|c| c.as_os_str().to_string_lossy().into_owned());
    let name = rel
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    matches!(first.as_deref(), Some(".git") | Some(".venv")) || name == "__pycache__"
}

/// Parts of /opt/app-root that belong to the app layer; the rest is the venv.
const APP_PARTS: &[&str] = &["src", "tmp", "data", ".warp"];

pub fn build_image(options: &ImageOptions) -> Result<()> {
    build_app_image(options).map_err(|e| diskfull_anywhere_in_cache(e, "the image's files"))
}

/// A full disk not named by a step (their errors already say where and
/// what): it happened in the cache, the only other place written to.
pub(super) fn diskfull_anywhere_in_cache(e: anyhow::Error, what: &str) -> anyhow::Error {
    match super::store::cache_dir() {
        Ok(root) if diskfull::is_disk_full(&e) => diskfull::cache_full(&root, what),
        _ => e,
    }
}

fn build_app_image(options: &ImageOptions) -> Result<()> {
    let (name, outputs) = destinations(&options.name, &options.outputs, options.push)?;
    if !options.src.is_dir() {
        return Err(fail(
            format!(
                "the source directory {} does not exist",
                options.src.display()
            ),
            "pass --src DIR with the directory that holds your app",
        ));
    }
    let src = fs::canonicalize(&options.src)?;
    let base_text = match &options.base {
        Some(b) => b.clone(),
        None => configured_base(&src)?.unwrap_or_else(|| DEFAULT_BASE.to_string()),
    };
    let base_ref = ImageRef::parse(&base_text)?;
    let epoch = source_date_epoch(&src)?;
    let store = BlobStore::open_default()?;

    let (base, base_root) = load_base(&base_ref, &store, &options.registry)?;
    let python = sandbox::find_python(&base_root, &base_text)?;
    let exe = std::env::current_exe().context("locating the warp binary")?;
    let exe_hash = exe_hash(&store, &exe)?;

    let runtime_files = ui::step("Runtime files", || {
        runtime_files(&store, &base_root, &base, &exe, &exe_hash)
            .map_err(|e| diskfull::in_cache(e, &store, "the runtime files"))
    })?;
    let runtime_cached = runtime_files.cached(&store);

    let uv = host_uv(&base_root);
    let installer = match &uv {
        Some((_, version)) => format!("uv {version}"),
        None => "pip".to_string(),
    };
    let deps_key = dependency_key(&src, &base_root, &base, &python, &exe_hash, &installer)?;
    let cached_deps = layer::cached(&store, "deps", &deps_key);
    let deps_root = match &cached_deps {
        Some(deps) => Some(ui::step(
            "Dependencies layer (cached: install skipped)",
            || {
                roots::ensure(&store, &format!("deps-{deps_key}"), |dir| {
                    unpack::unpack_layer(
                        &store.path(&deps.digest)?,
                        dir,
                        "the cached dependencies layer",
                    )
                })
                .map_err(|e| diskfull::in_cache(e, &store, "the unpacked dependencies layer"))
            },
        )?),
        None => None,
    };

    // The build's writes land in `upper`, over the cached trees.
    let work = roots::Scratch::new(&store)?;
    let upper = work.path().join("upper");
    copy_source(&src, &upper)?;
    let mut lowers: Vec<PathBuf> = deps_root.iter().cloned().collect();
    lowers.push(runtime_files.tree.clone());
    lowers.push(base_root.clone());
    let build_cache = store.root().join("build-cache");
    fs::create_dir_all(&build_cache)?;
    let uv_cache = UvCache::lend(&build_cache, &upper)?;
    // The runtime layer does not depend on the build: when it is not cached
    // it is written meanwhile, mostly while the build waits for the network
    // or runs on one CPU.
    let mut runtime = None;
    let code = ui::step("warp build (inside the image, uid 1001)", || {
        let overlay = sandbox::Overlay {
            lowers,
            upper: upper.clone(),
            work: work.path().join("work"),
        };
        let mut sandbox = build_sandbox(
            &work.path().join("merged"),
            overlay,
            &python,
            &build_cache,
            epoch,
        );
        if let Some((uv, _)) = &uv {
            sandbox.binds.push(Bind {
                host: uv.clone(),
                inside: "/usr/local/bin/uv".into(),
                read_only: true,
            });
        }
        let (code, layer) = sandbox.run_while(|| match runtime_cached {
            Some(layer) => Ok(layer),
            None => runtime_files
                .layer(&store, &base_root, &exe)
                .map_err(|e| diskfull::in_cache(e, &store, "the runtime layer")),
        });
        runtime = Some(layer);
        code
    })?;
    drop(uv_cache);
    if code != 0 && diskfull::nearly_full(&upper) {
        return Err(diskfull::cache_full(
            store.root(),
            "the build's files (see its output above)",
        ));
    }
    if code != 0 {
        return Err(fail(
            format!("the build inside the image failed (exit {code})"),
            "its output is above; `warp build --src DIR` reproduces it outside the image",
        ));
    }
    let runtime = runtime.expect("the sandbox ran")?;
    let built_app_root = upper.join("opt/app-root");
    // The dependencies and app layers are compressed in parallel, one thread each.
    let title = match cached_deps {
        Some(_) => "App layer",
        None => "Layers: dependencies, app (in parallel)",
    };
    let (deps, app) = ui::step(title, || {
        std::thread::scope(|threads| {
            let deps = threads.spawn(|| match cached_deps {
                Some(deps) => Ok(deps),
                None => dependencies_layer(&store, &built_app_root, &base_root, &deps_key)
                    .map_err(|e| diskfull::in_cache(e, &store, "the dependencies layer")),
            });
            let app = app_layer(&store, &built_app_root, &base_root, epoch)
                .map_err(|e| diskfull::in_cache(e, &store, "the app layer"));
            Ok::<_, anyhow::Error>((joined(deps.join())?, app?))
        })
    })?;
    let venv = match &deps_root {
        Some(dir) => dir.join("opt/app-root"),
        None => built_app_root.clone(),
    };
    if let Some(path) = &options.sbom {
        sbom::write(path, &venv, &options.name, &config::rfc3339(epoch))?;
    }
    if deps_root.is_none() {
        // The venv just built is the dependencies tree of the next build
        // with these inputs: kept (renamed, not copied) instead of unpacked later.
        roots::adopt(
            &store,
            &format!("deps-{deps_key}"),
            &built_app_root,
            APP_PARTS,
        )?;
    }

    let facts = ImageFacts {
        name: options.name.clone(),
        epoch,
        source_url: git(&src, &["config", "--get", "remote.origin.url"])
            .map(|u| strip_credentials(&u)),
        revision: git(&src, &["rev-parse", "HEAD"]),
        version: name.tag.clone(),
    };
    let added = [
        AddedLayer {
            layer: runtime,
            created_by: "warp image: runtime (warp, /etc/passwd, /opt/app-root)".into(),
        },
        AddedLayer {
            layer: deps,
            created_by: "warp image: dependencies (virtualenv)".into(),
        },
        AddedLayer {
            layer: app,
            created_by: "warp image: app (source, static files, build record)".into(),
        },
    ];
    let assembled = config::assemble(&base.config, &base.layers, &added, &facts)?;
    write_outputs(
        &assembled,
        &store,
        &options.name,
        &name,
        &base_ref,
        &outputs,
        &options.registry,
    )
}

/// A layer-writing thread's result (a panic becomes an error).
fn joined(result: std::thread::Result<Result<Layer>>) -> Result<Layer> {
    result.unwrap_or_else(|_| Err(anyhow::anyhow!("writing a layer panicked")))
}

/// The venv (everything of the built /opt/app-root but the app's parts),
/// stamped 0 and remembered under the dependency key.
fn dependencies_layer(
    store: &BlobStore,
    built_app_root: &Path,
    base_root: &Path,
    deps_key: &str,
) -> Result<Layer> {
    let mut w = LayerWriter::new();
    w.add_dir(Path::new(APP_ROOT), 0o775, Owner::App);
    w.add_tree(built_app_root, Path::new(APP_ROOT), Owner::App, &|rel| {
        rel.components().count() == 1
            && APP_PARTS.iter().any(|p| rel == Path::new(p))
            && rel != Path::new(".warp")
    })?;
    w.fill_parents(base_root);
    let layer = w.write(store, 0)?;
    layer::remember(store, "deps", deps_key, &layer)?;
    Ok(layer)
}

/// The app's parts of the built /opt/app-root, stamped `epoch`.
fn app_layer(
    store: &BlobStore,
    built_app_root: &Path,
    base_root: &Path,
    epoch: u64,
) -> Result<Layer> {
    let mut w = LayerWriter::new();
    for part in APP_PARTS {
        let host = built_app_root.join(part);
        if host.exists() {
            // Bytecode the build's imports wrote next to the source is
            // timestamp-based (stamped with the copy's mtime), so never
            // reproducible; and a build that reused the collected static
            // files imported nothing. The app writes its own at run time.
            w.add_tree(&host, &Path::new(APP_ROOT).join(part), Owner::App, &|rel| {
                rel.file_name().is_some_and(|n| n == "__pycache__")
            })?;
        }
    }
    w.fill_parents(base_root);
    w.write(store, epoch)
}

/// The image's name and where to write it (checked before any work):
/// `--output`s, plus the registry NAME names with `--push`.
pub(super) fn destinations(
    name_text: &str,
    outputs: &[String],
    push: bool,
) -> Result<(DockerRef, Vec<ImageRef>)> {
    let name = DockerRef::parse(name_text)?;
    let mut dests = outputs
        .iter()
        .map(|o| ImageRef::parse(o))
        .collect::<Result<Vec<_>>>()?;
    if push {
        dests.push(ImageRef::Docker(name.clone()));
    }
    Ok((name, dests))
}

/// The base image read into the store, and its root filesystem (unpacked
/// once per base, then cached).
pub(super) fn load_base(
    base_ref: &ImageRef,
    store: &BlobStore,
    registry: &RegistryOptions,
) -> Result<(LoadedImage, PathBuf)> {
    let base = ui::step(&format!("Base image {base_ref}"), || {
        base::load(base_ref, store, registry)
            .map_err(|e| diskfull::in_cache(e, store, &format!("the base image {base_ref}")))
    })?;
    let base_root = ui::step(
        &format!("Base root filesystem ({} layers)", base.layers.len()),
        || {
            roots::ensure(
                store,
                // v2: file mtimes restored (valid .pyc files in the tree).
                &format!("base-{}", roots::key(&format!("v2\n{}", base.identity))),
                |dir| {
                    for (i, l) in base.layers.iter().enumerate() {
                        let what = format!("base layer {} ({})", i + 1, l.digest);
                        unpack::unpack_layer(&store.path(&l.digest)?, dir, &what)?;
                    }
                    Ok(())
                },
            )
            .map_err(|e| diskfull::in_cache(e, store, "the base's root filesystem"))
        },
    )?;
    Ok((base, base_root))
}

/// Store the config and manifest, write every output (none named: load into
/// podman/docker or write NAME.tar) and print the manifest digest.
pub(super) fn write_outputs(
    assembled: &config::Assembled,
    store: &BlobStore,
    name_text: &str,
    name: &DockerRef,
    base_ref: &ImageRef,
    outputs: &[ImageRef],
    registry: &RegistryOptions,
) -> Result<()> {
    store.put_bytes(&assembled.config)?;
    store.put_bytes(&assembled.manifest)?;
    let finished = Finished {
        assembled,
        store,
        name,
        local_name: output::local_name(name_text, name),
        base_origin: match base_ref {
            ImageRef::Docker(d) => Some(d.clone()),
            _ => None,
        },
    };
    if outputs.is_empty() {
        let done = ui::step("Output", || {
            output::load_or_save(&finished, &std::env::current_dir()?)
        })?;
        eprintln!("    {done}");
    }
    for dest in outputs {
        let done = ui::step(&format!("Output {dest}"), || {
            output::write(dest, &finished, registry)
        })?;
        eprintln!("    {done}");
    }
    println!("{}", assembled.manifest_digest);
    Ok(())
}

/// `image.base` from the app's `.warp/config.yaml` (read as `warp build`
/// reads it, so a bad file gets the same message), if set.
fn configured_base(src: &Path) -> Result<Option<String>> {
    let config = crate::app::config::Config::load(src)?;
    let base = config.image.as_ref().and_then(|image| image.get("base"));
    match base {
        None => Ok(None),
        Some(serde_yaml_ng::Value::String(base)) => Ok(Some(base.clone())),
        Some(_) => Err(fail(
            "`image.base` in .warp/config.yaml is not a string",
            "write it as `image: {base: docker.io/library/python:3.12-slim-bookworm}`",
        )),
    }
}

/// SOURCE_DATE_EPOCH, else the last commit time of the source, else 0.
pub fn source_date_epoch(src: &Path) -> Result<u64> {
    if let Some(epoch) = env_source_date_epoch()? {
        return Ok(epoch);
    }
    Ok(git(src, &["log", "-1", "--format=%ct"])
        .and_then(|t| t.parse().ok())
        .unwrap_or(0))
}

/// SOURCE_DATE_EPOCH, when set.
pub(super) fn env_source_date_epoch() -> Result<Option<u64>> {
    let Some(text) = std::env::var_os("SOURCE_DATE_EPOCH").filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let text = text.to_string_lossy();
    text.trim().parse().map(Some).map_err(|_| {
        fail(
            format!("SOURCE_DATE_EPOCH={text:?} is not a number of seconds"),
            "set it to a Unix time, e.g. $(git log -1 --format=%ct)",
        )
    })
}

/// The output of `git -C src ARGS`, if git is there and succeeds.
fn git(src: &Path, args: &[&str]) -> Option<String> {
    let mut full = vec!["-C".to_string(), src.display().to_string()];
    full.extend(args.iter().map(|a| a.to_string()));
    let out = duct::cmd("git", full)
        .stdout_capture()
        .stderr_null()
        .unchecked()
        .run()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !text.is_empty()).then_some(text)
}

/// `https://user:token@host/x` → `https://host/x`: a label must not carry a secret.
fn strip_credentials(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('@') {
            Some((_, host))
                if !rest.split('/').next().unwrap_or("").is_empty()
                    && rest.find('@') < rest.find('/') =>
            {
                format!("{scheme}://{host}")
            }
            _ => url.to_string(),
        },
        None => url.to_string(),
    }
}

pub(super) fn file_hash(path: &Path) -> Result<String> {
    let mut hasher = Sha256::new();
    std::io::copy(&mut fs::File::open(path)?, &mut hasher)?;
    Ok(hex::encode(hasher.finalize()))
}

/// The sha256 of the warp binary, remembered in the cache under its device,
/// inode, size and mtime (nanoseconds), so that a rebuild does not hash
/// megabytes to learn what it already knows. Any replacement of the binary
/// (a new build, an install) changes the mtime or the inode.
pub(super) fn exe_hash(store: &BlobStore, exe: &Path) -> Result<String> {
    use std::os::unix::fs::MetadataExt;
    let meta = fs::metadata(exe)?;
    let identity = format!(
        "{} {} {} {} {}.{}",
        exe.display(),
        meta.dev(),
        meta.ino(),
        meta.len(),
        meta.mtime(),
        meta.mtime_nsec()
    );
    let key = roots::key(&identity);
    if let Ok(known) = fs::read_to_string(store.index_path("exe", &key)) {
        if known.len() == 64 && known.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(known);
        }
    }
    let hash = file_hash(exe)?;
    store.write_index("exe", &key, hash.as_bytes())?;
    Ok(hash)
}

/// The passwd entry `warp start` expects for the image user.
pub(super) const APP_USER_ENTRY: &str =
    "default:x:1001:0:Default Application User:/opt/app-root/src:/sbin/nologin\n";

/// The warp binary, /etc/passwd (with user 1001, group-writable so that
/// `warp start` can add an arbitrary UID) and /opt/app-root. The same for
/// every app on a base: cached (tree and layer) by the warp binary and the base.
pub(super) fn runtime_layer(
    store: &BlobStore,
    base_root: &Path,
    base: &LoadedImage,
    exe: &Path,
    exe_hash: &str,
) -> Result<(PathBuf, Layer)> {
    let files = runtime_files(store, base_root, base, exe, exe_hash)?;
    let layer = files.layer(store, base_root, exe)?;
    Ok((files.tree, layer))
}

/// The runtime files: their tree at once (a lower layer of the build's
/// overlay), their layer when asked (so that it can be compressed while
/// other layers are).
pub(super) struct RuntimeFiles {
    pub tree: PathBuf,
    key: String,
    passwd: String,
    passwd_rel: PathBuf,
    bin_rel: PathBuf,
}

pub(super) fn runtime_files(
    store: &BlobStore,
    base_root: &Path,
    base: &LoadedImage,
    exe: &Path,
    exe_hash: &str,
) -> Result<RuntimeFiles> {
    // Paths as the base has them (through its symlinks, e.g. a merged /usr).
    let inside = |rel: &str| -> Result<PathBuf> {
        let resolved = unpack::resolve_in_root(base_root, Path::new(rel), true, "the base image")?;
        Ok(resolved.strip_prefix(base_root)?.to_path_buf())
    };
    let passwd_rel = inside("etc/passwd")?;
    let bin_rel = inside("usr/local/bin")?.join("warp");
    let mut passwd = fs::read_to_string(base_root.join(&passwd_rel)).unwrap_or_default();
    if !passwd.lines().any(|l| l.split(':').nth(2) == Some("1001")) {
        if !passwd.is_empty() && !passwd.ends_with('\n') {
            passwd.push('\n');
        }
        passwd.push_str(APP_USER_ENTRY);
    }
    let key = roots::key(&format!("runtime-v3\n{exe_hash}\n{}", base.identity));
    let tree = roots::ensure(store, &format!("runtime-{key}"), |dir| {
        for (rel, mode) in [(&passwd_rel, 0o664), (&bin_rel, 0o755)] {
            fs::create_dir_all(dir.join(rel).parent().unwrap())?;
            if rel == &bin_rel {
                fs::copy(exe, dir.join(rel))?;
            } else {
                fs::write(dir.join(rel), &passwd)?;
            }
            fs::set_permissions(dir.join(rel), fs::Permissions::from_mode(mode))?;
        }
        fs::create_dir_all(dir.join("opt/app-root/src"))?;
        Ok(())
    })?;
    Ok(RuntimeFiles {
        tree,
        key,
        passwd,
        passwd_rel,
        bin_rel,
    })
}

impl RuntimeFiles {
    /// The layer written earlier for these files, if there is one.
    fn cached(&self, store: &BlobStore) -> Option<Layer> {
        layer::cached(store, "runtime", &self.key)
    }

    /// The layer: cached, else written and remembered.
    fn layer(&self, store: &BlobStore, base_root: &Path, exe: &Path) -> Result<Layer> {
        if let Some(layer) = self.cached(store) {
            return Ok(layer);
        }
        let mut w = LayerWriter::new();
        w.add_host_file(
            &Path::new("/").join(&self.bin_rel),
            exe,
            0o755,
            Owner::System,
        );
        w.add_bytes(
            &Path::new("/").join(&self.passwd_rel),
            self.passwd.clone().into_bytes(),
            0o664,
            Owner::System,
        );
        w.add_dir(Path::new(APP_ROOT), 0o775, Owner::App);
        w.add_dir(Path::new(APP_SRC), 0o775, Owner::App);
        w.fill_parents(base_root);
        let layer = w.write(store, 0)?;
        layer::remember(store, "runtime", &self.key, &layer)?;
        Ok(layer)
    }
}

/// Copy the source into the root's /opt/app-root/src.
fn copy_source(src: &Path, root: &Path) -> Result<()> {
    let target = root.join("opt/app-root/src");
    copy_tree(src, &target, Path::new(""))
}

fn copy_tree(from: &Path, to: &Path, rel: &Path) -> Result<()> {
    fs::create_dir_all(to.join(rel))?;
    for entry in fs::read_dir(from.join(rel))? {
        let entry = entry?;
        let child = rel.join(entry.file_name());
        if skip_source(&child) {
            continue;
        }
        let kind = entry.file_type()?;
        let dest = to.join(&child);
        if kind.is_dir() {
            copy_tree(from, to, &child)?;
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(entry.path())?, &dest)?;
        } else if kind.is_file() {
            fs::copy(entry.path(), &dest)
                .with_context(|| format!("copying {}", child.display()))?;
        }
    }
    Ok(())
}

/// The host's uv (on PATH, as `warp build` finds it) with its version, when
/// the base has none: bind-mounted into the build, where `warp build` then
/// prefers it to pip — a build-time tool only, never in a layer.
fn host_uv(base_root: &Path) -> Option<(PathBuf, String)> {
    let in_base = ["usr/local/bin/uv", "usr/bin/uv"].iter().any(|p| {
        unpack::resolve_in_root(base_root, Path::new(p), true, "the base image")
            .is_ok_and(|r| r.is_file())
    });
    if in_base {
        return None;
    }
    let uv = which::which("uv").ok()?;
    let out = duct::cmd!(&uv, "--version")
        .stdout_capture()
        .stderr_null()
        .unchecked()
        .run()
        .ok()?;
    let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !version.is_empty()).then_some((uv, version))
}

/// Files whose content decides what gets installed into the venv, beyond
/// what `warp build` itself counts (`inputs::source_inputs`: the layout's
/// requirement files or Pipfile, a project's tree, the wheelhouse; the
/// `pre-build`/`build-env` hooks; the env files): project metadata a
/// requirements file may install with `.`, lock files, the config.
const DEPENDENCY_INPUTS: &[&str] = &[
    "pyproject.toml",
    "setup.py",
    "setup.cfg",
    "poetry.lock",
    "uv.lock",
    ".warp/config.yaml",
];

/// Variables that change what the build installs, beyond `warp build`'s own
/// `inputs::HASHED_VARS`.
const DEPENDENCY_ENV: &[&str] = &[
    "WARP_INSTALLER",
    "WARPDRIVE_PIP_PACKAGES",
    "UV_EXTRA_INDEX_URL",
];

/// The key of the dependencies layer: dependency inputs + base + its Python
/// + the warp binary (which installs the server extension).
fn dependency_key(
    src: &Path,
    root: &Path,
    base: &LoadedImage,
    python: &str,
    exe_hash: &str,
    installer: &str,
) -> Result<String> {
    use crate::build::inputs::hash_field;
    let mut h = Sha256::new();
    let mut field = |name: &str, value: &[u8]| hash_field(&mut h, name, value);
    field("key", b"deps-v5");
    field("base", base.identity.as_bytes());
    field("python", python.as_bytes());
    field("warp", exe_hash.as_bytes());
    field("installer", installer.as_bytes());
    for lib in ["usr/lib", "usr/local/lib"] {
        if let Ok(entries) = fs::read_dir(root.join(lib)) {
            let mut versions: Vec<String> = entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("python3"))
                .collect();
            versions.sort();
            field(lib, versions.join(" ").as_bytes());
        }
    }
    for rel in DEPENDENCY_INPUTS.iter().chain(&crate::app::vars::ENV_FILES) {
        field(rel, &fs::read(src.join(rel)).unwrap_or_default());
    }
    // What `warp build` itself hashes: its dependency plan (layout, lock,
    // groups, extras, the app's files, variables and hooks) for this
    // installer and Python, plus the image-only variables.
    let interpreter = crate::build::plan::Interpreter {
        path: PathBuf::new(),
        version: python.to_string(),
    };
    let plan = crate::build::plan::Plan::of_source(src, installer, interpreter, DEPENDENCY_ENV)?;
    field("plan", plan.hash().as_bytes());
    Ok(hex::encode(h.finalize()))
}

/// Where uv's cache is inside the build's root (in the overlay's upper).
const UV_CACHE_INSIDE: &str = "/tmp/warp-uv-cache";

/// uv's download/unpack cache, kept in the cache directory between builds
/// (`build-cache/uv`) and renamed into the build's upper directory while it
/// runs — the same file system as the venv it installs into, so uv
/// hard-links files instead of copying them (a bind mount would be another
/// mount, where links fail). Renamed back afterwards; when two builds run at
/// once, the second starts with an empty cache and the first one back wins.
struct UvCache {
    kept: PathBuf,
    inside: PathBuf,
}

impl UvCache {
    fn lend(build_cache: &Path, upper: &Path) -> Result<UvCache> {
        let kept = build_cache.join("uv");
        let inside = upper.join(UV_CACHE_INSIDE.trim_start_matches('/'));
        fs::create_dir_all(inside.parent().unwrap())?;
        if fs::rename(&kept, &inside).is_err() {
            fs::create_dir_all(&inside)?;
        }
        Ok(UvCache { kept, inside })
    }
}

impl Drop for UvCache {
    fn drop(&mut self) {
        if self.inside.is_dir() && !self.kept.exists() {
            let _ = fs::rename(&self.inside, &self.kept);
        }
    }
}

/// The `warp build` run inside the root.
fn build_sandbox(
    root: &Path,
    overlay: sandbox::Overlay,
    python: &str,
    build_cache: &Path,
    epoch: u64,
) -> Sandbox {
    let cache_inside = "/tmp/warp-build-cache";
    // Collected static files are kept per static key in the cache's `static/`
    // (see build::static_reuse): a code-only rebuild copies them in instead
    // of running collectstatic.
    let static_cache = format!("{cache_inside}/static");
    let mut env: Vec<(String, String)> = vec![
        ("PATH".into(), config::IMAGE_PATH.into()),
        ("HOME".into(), "/tmp/warp-home".into()),
        ("APP_ROOT".into(), APP_ROOT.into()),
        ("WARP_APP_ROOT".into(), APP_ROOT.into()),
        ("WARP_PYTHON".into(), python.into()),
        ("LANG".into(), "C.UTF-8".into()),
        ("LC_ALL".into(), "C.UTF-8".into()),
        ("SOURCE_DATE_EPOCH".into(), epoch.to_string()),
        ("XDG_CACHE_HOME".into(), cache_inside.into()),
        ("PIP_CACHE_DIR".into(), format!("{cache_inside}/pip")),
        // uv's cache is moved into the build's own tree for the build (see
        // UvCache): on the venv's file system, uv hard-links from it instead
        // of copying thousands of files.
        ("UV_CACHE_DIR".into(), UV_CACHE_INSIDE.into()),
        ("UV_LINK_MODE".into(), "hardlink".into()),
        ("PIP_DISABLE_PIP_VERSION_CHECK".into(), "1".into()),
        // Bytecode written by imports during the build (collectstatic's) is
        // timestamp-based: stamped with install-time mtimes, it made the
        // dependencies layer differ between cold builds, and it is stale in
        // the image anyway (layer files have mtime 0). pip's install-time
        // compilation is not affected and, with SOURCE_DATE_EPOCH, writes
        // hash-based .pyc files that stay valid.
        ("PYTHONDONTWRITEBYTECODE".into(), "1".into()),
        (crate::build::static_reuse::CACHE_VAR.into(), static_cache),
    ];
    // The user's index and build settings pass through (never into a layer).
    for (k, v) in std::env::vars() {
        let prefixed = ["PIP_", "UV_", "WARPDRIVE_", "WARP_"]
            .iter()
            .any(|p| k.starts_with(p))
            && !matches!(k.as_str(), "PIP_CERT" | "WARP_CACHE_DIR" | "WARP_PROJECT");
        let app_setting = crate::build::inputs::HASHED_VARS.contains(&k.as_str())
            || matches!(
                k.as_str(),
                "DISABLE_COLLECTSTATIC" | "APP_MODULE" | "APP_FILE" | "APP_SCRIPT"
            );
        if (prefixed || app_setting) && !env.iter().any(|(e, _)| *e == k) {
            env.push((k, v));
        }
    }
    let mut binds = vec![Bind {
        host: build_cache.to_path_buf(),
        inside: cache_inside.into(),
        read_only: false,
    }];
    for file in ["/etc/resolv.conf", "/etc/hosts"] {
        if Path::new(file).is_file() {
            binds.push(Bind {
                host: file.into(),
                inside: file.into(),
                read_only: true,
            });
        }
    }
    if let Some(bundle) = sandbox::host_ca_bundle() {
        let inside = "/etc/ssl/certs/ca-certificates.crt";
        binds.push(Bind {
            host: bundle,
            inside: inside.into(),
            read_only: true,
        });
        for k in ["SSL_CERT_FILE", "PIP_CERT", "REQUESTS_CA_BUNDLE"] {
            env.push((k.into(), inside.into()));
        }
    }
    let home = dirs_home();
    for (host, inside) in [
        (PathBuf::from("/etc/pip.conf"), "/etc/pip.conf"),
        (home.join(".config/pip/pip.conf"), "/etc/pip.conf"),
        (home.join(".pip/pip.conf"), "/etc/pip.conf"),
        (home.join(".config/uv/uv.toml"), "/etc/uv/uv.toml"),
    ] {
        if host.is_file() && !binds.iter().any(|b| b.inside == Path::new(inside)) {
            binds.push(Bind {
                host,
                inside: inside.into(),
                read_only: true,
            });
        }
    }
    fs::create_dir_all(overlay.upper.join("tmp/warp-home")).ok();
    Sandbox {
        root: root.to_path_buf(),
        overlay: Some(overlay),
        workdir: APP_SRC.into(),
        env,
        binds,
        argv: vec![
            "/usr/local/bin/warp".into(),
            "build".into(),
            "--src".into(),
            APP_SRC.into(),
        ],
    }
}

fn dirs_home() -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/nonexistent"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_stripped_from_source_urls() {
        assert_eq!(
            strip_credentials("https://u:tok@github.com/a/b.git"),
            "https://github.com/a/b.git"
        );
        assert_eq!(
            strip_credentials("https://github.com/a/b@c.git"),
            "https://github.com/a/b@c.git"
        );
        assert_eq!(
            strip_credentials("git@github.com:a/b.git"),
            "git@github.com:a/b.git"
        );
    }
}
