//! A values file of arbitrary bytes: read as a layer and as the shared values and every engine's
//! section, it is refused with an error or read; nothing panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sts_gen::settings::Layer;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(mut layer) = Layer::from_yaml(text, "fuzz.yaml") {
        for engine in sts_gen::engine::ENGINES {
            if let Some(section) = layer.clone().take_section(engine.name()) {
                let _ = engine.check_section(&section);
            }
        }
        let _ = layer.take_section("mysql");
        let _ = layer.common();
    }
});
