//! `--set` with arbitrary text: a layer or an error, and the layer reads as values or is refused;
//! nothing panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sts_gen::settings::Layer;

fuzz_target!(|assignment: &str| {
    if let Ok(layer) = Layer::from_set(assignment) {
        let _ = layer.common();
    }
});
