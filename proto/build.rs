//! Compiles `proto/` with protox (pure Rust: no system protoc) into tonic/prost code.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let files = protox::compile(["hypersearch/v1/coordinator.proto"], ["proto"])?;
    tonic_prost_build::configure()
        .codec_path("crate::codec::StrictCodec")
        .compile_fds(files)?;
    Ok(())
}
