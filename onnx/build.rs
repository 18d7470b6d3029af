//! Compiles the vendored `proto/onnx/onnx.proto` with protox (pure Rust: no system protoc)
//! into prost types.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto");
    let files = protox::compile(["onnx/onnx.proto"], ["proto"])?;
    prost_build::Config::new().compile_fds(files)?;
    Ok(())
}
