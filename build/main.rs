//! Build-time work, so that a run does none of it: presets converted from YAML to JSON
//! (`presets.rs`).

use std::path::PathBuf;

mod presets;

fn main() {
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    presets::convert(&out_dir);
}
