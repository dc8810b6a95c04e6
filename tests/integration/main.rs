//! One integration-test binary: CLI behaviour, preset snapshots and invariants of the output.

mod cli;
mod elasticsearch_backup;
mod harness;
mod hostile;
mod invariants;
mod layers;
mod mongodb_scripts;
mod mysql_backup;
mod presets;
mod readiness_scripts;
mod readme;
mod yaml_output;
