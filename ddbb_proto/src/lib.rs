//! etcd v3's gRPC API as Rust code: the messages, clients and servers of etcd 3.4's
//! `rpc.proto` (package `etcdserverpb`), `kv.proto` (`mvccpb`) and `auth.proto` (`authpb`),
//! plus gRPC's `grpc.health.v1` health service.
//!
//! The `.proto` files live in this crate's `proto/` folder (Apache-2.0, trimmed of etcd's
//! Go-only annotations) and are compiled by `build.rs` with protox, a protobuf compiler written
//! in Rust, so building needs no `protoc`.
//!
//! - Clients: [`etcdserverpb::kv_client::KvClient`], `watch_client::WatchClient`,
//!   `lease_client::LeaseClient`, `cluster_client::ClusterClient`,
//!   `maintenance_client::MaintenanceClient`, `auth_client::AuthClient`,
//!   [`health::health_client::HealthClient`].
//! - Servers: the traits `etcdserverpb::kv_server::Kv` etc., wrapped in `KvServer` and friends
//!   for `tonic::transport::Server`. Every trait method has a default body that answers
//!   `Unimplemented`, so a service implements only the RPCs it supports.
//! - `bytes` fields are `bytes::Bytes` (re-exported as `prost::bytes`).
//! - [`FILE_DESCRIPTOR_SET`]: the encoded `FileDescriptorSet` of all four files (with their
//!   imports and comments), for gRPC server reflection.
//!
//! Updating the files: copy etcd's upstream file over the one in `proto/etcd/...`, keep the
//! license header at its top, and delete only the Go-only parts: `import "gogoproto/gogo.proto"`,
//! `import "google/api/annotations.proto"`, the `option (gogoproto.…)` lines and each
//! `option (google.api.http) = {…};` block (the `rpc … {}` stays). Never renumber or rename.

/// etcd's `mvccpb` package: `KeyValue` and `Event`.
pub mod mvccpb {
    include!(concat!(env!("OUT_DIR"), "/mvccpb.rs"));
}

/// etcd's `authpb` package: `User`, `Permission`, `Role`.
pub mod authpb {
    include!(concat!(env!("OUT_DIR"), "/authpb.rs"));
}

/// etcd's `etcdserverpb` package: the KV, Watch, Lease, Cluster, Maintenance and Auth
/// services and their messages.
pub mod etcdserverpb {
    // The generated default bodies (`Unimplemented`) do not use their request.
    #![allow(unused_variables)]
    include!(concat!(env!("OUT_DIR"), "/etcdserverpb.rs"));
}

/// gRPC's standard health service, package `grpc.health.v1`.
pub mod health {
    #![allow(unused_variables)]
    include!(concat!(env!("OUT_DIR"), "/grpc.health.v1.rs"));
}

/// The encoded `google.protobuf.FileDescriptorSet` of every compiled file, for a reflection
/// service.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/file_descriptor_set.bin"));
