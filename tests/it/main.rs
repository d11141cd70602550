//! warp's integration tests, one binary: an area of the product a module
//! (`cargo test --test it image::` runs one area), the support code once.
//! One binary, not one per area, because it builds faster (ARCHITECTURE.md,
//! "Around the code", has the figures).

#[path = "support/build.rs"]
mod build_support;
#[path = "support/debugger.rs"]
mod debugger_support;
#[path = "support/image.rs"]
mod image_support;
#[path = "support/registry.rs"]
mod registry_support;
#[path = "support/s2i.rs"]
mod s2i_support;
#[path = "support/server.rs"]
mod server_support;
#[path = "support/sid_root.rs"]
mod sid_root;
#[path = "support/simple_index.rs"]
mod simple_index;
#[path = "support/start.rs"]
mod start_support;
mod support;

mod build;
mod build_bad_input;
mod build_hooks;
mod build_server_package;
mod conformance;
mod debugger;
mod faults;
mod fuzz_regressions;
mod image;
mod image_builder;
mod image_diskfull;
mod image_django;
mod image_registry;
mod image_sbom;
mod image_sign;
mod kube;
mod locks;
mod locks_entry_points;
mod locks_image;
mod locks_sources;
mod locks_uv_sync;
mod manifests;
mod metrics;
mod newest_cpythons;
mod pep3333;
mod runtime;
mod s2i;
mod s2i_build;
mod server;
mod server_growth;
mod server_inline;
mod server_limits;
mod server_memory;
mod server_runwarp;
mod soak_regressions;
mod start;
mod start_container;
