//! Compiles the `.proto` files under `proto/` with protox (a protobuf compiler written in Rust,
//! so no `protoc` is needed) and generates prost messages plus tonic clients and servers.

use std::env;
use std::error::Error;
use std::path::PathBuf;

/// Every file to compile, relative to `proto/` (imports resolve from there too).
const PROTOS: &[&str] = &[
    "etcd/mvcc/mvccpb/kv.proto",
    "etcd/auth/authpb/auth.proto",
    "etcd/etcdserver/etcdserverpb/rpc.proto",
    "grpc/health/v1/health.proto",
];

fn main() -> Result<(), Box<dyn Error>> {
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?).join("proto");
    let out = PathBuf::from(env::var("OUT_DIR")?);
    for proto in PROTOS {
        println!("cargo:rerun-if-changed={}", root.join(proto).display());
    }

    let mut compiler = protox::Compiler::new([&root])?;
    compiler.include_source_info(true).include_imports(true);
    for proto in PROTOS {
        // protox's error renders the file, line and column of a syntax error.
        if let Err(e) = compiler.open_file(proto) {
            return Err(format!("{proto}: {e}").into());
        }
    }
    std::fs::write(
        out.join("file_descriptor_set.bin"),
        compiler.encode_file_descriptor_set(),
    )?;

    tonic_prost_build::configure()
        // `bytes` fields become `bytes::Bytes`: keys and values move without copies.
        .bytes(".")
        // Every server trait method has a default answering `Unimplemented`, so a service
        // implements only what it supports and the rest never gives a wrong answer.
        .generate_default_stubs(true)
        .emit_rerun_if_changed(false)
        .compile_fds(compiler.file_descriptor_set())?;
    Ok(())
}
