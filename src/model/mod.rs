//! The bottom layer: what one instance is (`Spec`), what an engine makes of it (`Parts`), and
//! the names and quantities both are made of. It imports nothing of sts-gen above it.

pub mod cron;
pub mod names;
pub mod parts;
pub mod quantity;
pub mod scalar;
pub mod spec;

pub use names::Names;
pub use parts::{Backups, Parts, Port, Topology};
pub use quantity::Quantity;
pub use scalar::Scalar;
pub use spec::{
    AntiAffinity, BackupSpec, Credentials, Image, PasswordSource, Resources, S3Store, ServiceType,
    Spec, Storage,
};
