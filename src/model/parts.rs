//! What an engine contributes to the objects of one instance (`Parts`), and the small pod
//! pieces engines build them from. The assembler in `k8s` turns parts into objects.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EmptyDirVolumeSource, ExecAction, Probe, ResourceRequirements,
    TCPSocketAction, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

/// Volume names the assembler provides to every engine's containers.
pub mod volumes {
    /// The volumeClaimTemplate: each pod's own PersistentVolume.
    pub const DATA: &str = "data";
    /// The `<name>-config` ConfigMap.
    pub const CONFIG: &str = "config";
    /// The `<name>-scripts` ConfigMap (files mode 0555).
    pub const SCRIPTS: &str = "scripts";
    /// The credentials Secret (files mode 0440, group = the pod's fsGroup).
    pub const CREDENTIALS: &str = "credentials";
    /// The backups' claim (`<name>-backups`): in the backup Job's pod, and in the database pods
    /// of an engine whose servers write the backups themselves (`Backups::Api`).
    pub const BACKUPS: &str = "backups";
    /// The emptyDir every engine mounts at /tmp (the root file system is read-only).
    pub const TMP: &str = "tmp";
}

/// The key of the scripts ConfigMap (a file beside the scripts) that holds the replica count as
/// rendered. Scripts read it at run time and the pod template's checksum leaves it out, so that
/// scaling changes no pod template.
pub const REPLICAS_KEY: &str = "replicas";

/// Where backups live in the backup and restore Jobs' containers.
pub const BACKUPS_DIR: &str = "/backups";

/// A port the database serves; Services target it by name.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Port {
    pub name: &'static str,
    pub number: i32,
    /// Exposed by the client Services too (not only by the headless one).
    pub client: bool,
}

impl Port {
    pub fn container_port(&self) -> ContainerPort {
        ContainerPort {
            name: Some(self.name.into()),
            container_port: self.number,
            protocol: Some("TCP".into()),
            ..Default::default()
        }
    }
}

/// Who writes, and what that means for the StatefulSet, its Services and its disruption budget.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Topology {
    /// Pod 0 is the only writer and a `<name>-primary` Service reaches it alone; pod N clones a
    /// running N-1 on its first start (`OrderedReady`); one pod at a time may be disrupted.
    PrimaryReplicas,
    /// The members elect their writer among themselves (a replica set, a cluster): every member
    /// must be able to start before any is Ready (`Parallel`); voluntary disruptions may take
    /// down only what the voting majority can lose.
    Elected { max_unavailable: i32 },
}

impl Topology {
    /// The PodDisruptionBudget's maxUnavailable.
    pub fn max_unavailable(self) -> i32 {
        match self {
            Topology::PrimaryReplicas => 1,
            Topology::Elected { max_unavailable } => max_unavailable,
        }
    }

    /// The StatefulSet's podManagementPolicy.
    pub fn pod_management_policy(self) -> &'static str {
        match self {
            Topology::PrimaryReplicas => "OrderedReady",
            Topology::Elected { .. } => "Parallel",
        }
    }

    pub fn single_writer(self) -> bool {
        matches!(self, Topology::PrimaryReplicas)
    }
}

/// How the database is backed up and restored.
#[derive(Debug, Clone, PartialEq)]
pub enum Backups {
    /// A Job copies the data out with the database's own tool (`container`, `None`
    /// without a schedule; the assembler gives it the backups volume at `BACKUPS_DIR`); only the
    /// Jobs mount the claim (ReadWriteOnce). `--restore-from` fills pod 0's claim before the set starts.
    Copy { container: Option<Container> },
    /// The database takes and restores snapshots through its API into a repository of its own
    /// (Elasticsearch), which its servers write themselves: on the backups' claim, which every
    /// database pod then mounts (ReadWriteMany), or in the S3 bucket. The Jobs only call the API:
    /// `container` takes a backup, `restore` (with `--restore-from`) restores one into the
    /// running set.
    Api {
        container: Option<Container>,
        restore: Option<Box<Container>>,
    },
}

impl Backups {
    /// The backup CronJob's container, if the spec has backups.
    pub fn container(&self) -> Option<&Container> {
        match self {
            Backups::Copy { container } | Backups::Api { container, .. } => container.as_ref(),
        }
    }

    pub fn through_api(&self) -> bool {
        matches!(self, Backups::Api { .. })
    }
}

/// What an engine contributes to the objects of one instance.
#[derive(Debug, Clone, PartialEq)]
pub struct Parts {
    /// Ports of the main container, exposed by every Service.
    pub ports: Vec<Port>,
    /// `<name>-config` data: configuration files.
    pub config: BTreeMap<String, String>,
    /// `<name>-scripts` data: scripts.
    pub scripts: BTreeMap<String, String>,
    pub init_containers: Vec<Container>,
    /// The database container first. Containers that set their own `resources` keep them
    /// (small sidecars); the others get the spec's.
    pub containers: Vec<Container>,
    /// Volumes beyond data, config, scripts and credentials (emptyDirs).
    pub volumes: Vec<Volume>,
    /// The image's database user, which every container runs as.
    pub user_id: i64,
    pub topology: Topology,
    pub backups: Backups,
}

// Small constructors the engines build containers from.

pub fn mount(volume: &str, path: &str, read_only: bool) -> VolumeMount {
    VolumeMount {
        name: volume.into(),
        mount_path: path.into(),
        read_only: read_only.then_some(true),
        ..Default::default()
    }
}

pub fn exec(command: &[&str]) -> Probe {
    Probe {
        exec: Some(ExecAction {
            command: Some(command.iter().map(|s| (*s).to_owned()).collect()),
        }),
        ..Default::default()
    }
}

/// A TCP probe of the container port named `port`.
pub fn tcp(port: &str) -> Probe {
    Probe {
        tcp_socket: Some(TCPSocketAction {
            port: IntOrString::String(port.into()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub fn empty_dir(name: &str, medium: Option<&str>) -> Volume {
    Volume {
        name: name.into(),
        empty_dir: Some(EmptyDirVolumeSource {
            medium: medium.map(Into::into),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Resources of a small sidecar, which keeps them (the others get the spec's): CPU and memory
/// requests and a memory limit.
pub fn small_resources(cpu: &str, memory: &str, memory_limit: &str) -> ResourceRequirements {
    let q = |v: &str| Quantity(v.to_owned());
    ResourceRequirements {
        requests: Some([("cpu".to_owned(), q(cpu)), ("memory".to_owned(), q(memory))].into()),
        limits: Some([("memory".to_owned(), q(memory_limit))].into()),
        ..Default::default()
    }
}
