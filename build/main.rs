//! Build-time work, so that a run does none of it: templates compiled into Rust
//! (`templates.rs`) and presets converted from YAML to JSON (`presets.rs`).

use std::path::PathBuf;

mod presets;
mod templates;

fn main() {
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    templates::compile(&out_dir);
    presets::convert(&out_dir);
}
