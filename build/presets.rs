//! `presets/<db>/<name>.yaml` → `$OUT_DIR/presets/<db>/<name>.json`: the same values, which a
//! run reads with serde_json instead of parsing YAML (a tenth of a run's instructions). The YAML
//! stays the source and what `sts-gen list` prints; a unit test in `src/presets.rs` checks that
//! both forms give the same values.

use std::path::Path;

pub fn convert(out_dir: &Path) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("presets");
    println!("cargo:rerun-if-changed=presets");
    for db in std::fs::read_dir(&root).unwrap() {
        let db = db.unwrap().path();
        if !db.is_dir() {
            continue;
        }
        let dir = out_dir.join("presets").join(db.file_name().unwrap());
        std::fs::create_dir_all(&dir).unwrap();
        for file in std::fs::read_dir(&db).unwrap() {
            let path = file.unwrap().path();
            if path.extension().is_none_or(|e| e != "yaml") {
                continue;
            }
            println!("cargo:rerun-if-changed={}", path.display());
            let text = std::fs::read_to_string(&path).unwrap();
            let value: serde_json::Value = if text.trim().is_empty() {
                serde_json::Value::Object(Default::default())
            } else {
                serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            };
            let json = serde_json::to_string(&value).unwrap();
            std::fs::write(
                dir.join(path.with_extension("json").file_name().unwrap()),
                json,
            )
            .unwrap();
        }
    }
}
