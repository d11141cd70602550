//! The builder half, second part: OCI image layers assembled directly from a
//! base image and a build run inside its root filesystem.
