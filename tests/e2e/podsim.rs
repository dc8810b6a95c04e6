//! podsim: plays kubelet for one StatefulSet produced by sts-gen, on this machine, with Linux
//! namespaces and the host's own database binaries standing in for the images.
//!
//! - a pod = a network namespace (own address on a private bridge in its own namespace, no route
//!   off the island), a sandbox process that is PID 1 of the pod's PID, IPC and UTS namespaces
//!   (host name `<name>-<ordinal>`), and a shared `/etc/hosts` that lists the pods that exist
//!   (the headless Service publishes not-ready addresses);
//! - a container = `nsenter` into the pod's namespaces, then a mount namespace of its own (the
//!   pod's `/proc`), with an overlay of the host's root, or of the userland its image's profile
//!   names (MySQL: a Debian root, see `mysql_root`), so mount points and image shims never touch
//!   the host; the manifest's volumes bind-mounted at their mountPaths, run as the pod's user with
//!   the manifest's command, args and env (POD_NAME / POD_NAMESPACE from the "downward API");
//! - ConfigMaps and the Secret are materialised as directories; each volumeClaimTemplate is a
//!   per-pod directory that survives pod restarts; emptyDirs are fresh for every pod start;
//! - init containers run in order, their exit codes checked; the startup and readiness probes
//!   (exec, tcpSocket) of every container gate the next ordinal, and liveness probes must pass on
//!   a Ready pod; a pod stops with its preStop hook, SIGTERM, then SIGKILL.
//!
//! Everything lives under one work directory, in namespaces named after the run, and behind one
//! `unreachable` route for the island's subnet; `Drop` removes all of it, also when a test fails.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::StatefulSet;
use k8s_openapi::api::core::v1::{Container, PodSpec, Probe};
use sts_gen::k8s::Manifest;

/// An image → host-binary profile: what stands in for an image on this machine.
pub struct Profile {
    /// Matches `image` by prefix (`postgres:`).
    pub image_prefix: &'static str,
    /// The userland the containers' root is an overlay of: `None` for the host's `/`; else a
    /// function that returns its directory (or why there is none), for an image whose server the
    /// host does not carry.
    pub lower: Option<fn() -> Result<PathBuf, String>>,
    /// PATH inside the containers: the binaries for that image.
    pub path: &'static str,
    /// The name of the image's user (the pod's runAsUser), which the host may lack; MariaDB's
    /// unix_socket login, for one, goes by the name.
    pub user: &'static str,
    /// Directories the image ships that the host may lack.
    pub dirs: &'static [&'static str],
    /// Host configuration directories hidden from the container (Debian's defaults).
    pub masked: &'static [&'static str],
    /// The binaries that must exist for the profile to work (paths inside `lower`).
    pub needs: &'static [&'static str],
}

impl Profile {
    /// The directory the containers' overlay is built on.
    pub fn lower(&self) -> Result<PathBuf, String> {
        self.lower.map_or_else(|| Ok(PathBuf::from("/")), |f| f())
    }
}

/// The documented image → host table.
pub const PROFILES: &[Profile] = &[
    Profile {
        image_prefix: "postgres:",
        lower: None,
        user: "postgres",
        path: "/usr/lib/postgresql/15/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        dirs: &[],
        masked: &["/etc/postgresql"],
        needs: &[
            "/usr/lib/postgresql/15/bin/postgres",
            "/usr/lib/postgresql/15/bin/pg_basebackup",
        ],
    },
    Profile {
        image_prefix: "mariadb:",
        lower: None,
        user: "mysql",
        path: "/usr/sbin:/usr/bin:/sbin:/bin",
        dirs: &[],
        // Debian's /etc/mysql (bind-address = 127.0.0.1 among others): the image comments such
        // settings out, and mariadb-backup --prepare reads /etc/mysql/my.cnf.
        masked: &["/etc/mysql"],
        needs: &[
            "/usr/sbin/mariadbd",
            "/usr/bin/mariadb-install-db",
            "/usr/bin/mariadb-backup",
            "/usr/bin/mbstream",
            "/usr/bin/socat",
        ],
    },
    Profile {
        image_prefix: "redis:",
        lower: None,
        user: "redis",
        path: "/usr/sbin:/usr/bin:/sbin:/bin",
        dirs: &[],
        masked: &["/etc/redis"],
        needs: &[
            "/usr/bin/redis-server",
            "/usr/bin/redis-cli",
            "/usr/bin/redis-check-rdb",
        ],
    },
    // Debian 12 carries no MySQL: the containers run in a Debian unstable root with Debian's
    // mysql-server and mysql-client, its own bash, coreutils and C library included, as the image
    // is a userland of its own with MySQL in it.
    Profile {
        image_prefix: "mysql:",
        lower: Some(mysql_root),
        user: "mysql",
        path: "/usr/sbin:/usr/bin:/sbin:/bin",
        dirs: &[],
        // Debian's /etc/mysql (bind-address = 127.0.0.1 among others); the image's my.cnf
        // includes nothing the scripts need, they pass --defaults-file.
        masked: &["/etc/mysql"],
        needs: &[
            "/usr/sbin/mysqld",
            "/usr/bin/mysql",
            "/usr/bin/mysqladmin",
            "/usr/lib/mysql/plugin/mysql_clone.so",
            // The harness's own needs inside the root.
            "/usr/bin/env",
            "/usr/bin/setpriv",
            "/usr/bin/getent",
        ],
    },
    // The S3 client of the backup and restore Jobs, whatever the database's profile.
    Profile {
        image_prefix: "rclone/rclone:",
        lower: None,
        user: "rclone",
        path: "/usr/bin:/bin",
        dirs: &[],
        masked: &[],
        needs: &["/usr/bin/rclone"],
    },
];

/// The Debian root with Debian's MySQL that `scripts/mysql-root` builds once per machine (cached
/// under `${XDG_CACHE_HOME:-~/.cache}/sts-gen/mysql-root`; `scripts/install-test-deps` builds it
/// ahead of the suite, else the first MySQL test does, which takes minutes and needs Debian's
/// archive). The pods' uid 999 needs no access to that path: the overlay reads its lower layer
/// with the credentials of whoever mounted it (root), and the containers see it from its top.
pub fn mysql_root() -> Result<PathBuf, String> {
    static ROOT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    ROOT.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/mysql-root");
        let out = Command::new(&script)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("{}: {e}", script.display()))?;
        let path = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        if !out.status.success() || path.is_empty() {
            return Err(format!(
                "scripts/mysql-root found no MySQL root and could not build one: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(PathBuf::from(path))
    })
    .clone()
}

/// The version of Debian's MySQL in the root the `mysql:` profile runs (`mysqld --version`'s
/// `Ver`, which `SELECT VERSION()` returns): `9.7.4-2`.
pub fn mysql_root_version() -> Result<String, String> {
    let root = mysql_root()?;
    let out = Command::new("chroot")
        .arg(&root)
        .args(["/usr/sbin/mysqld", "--version"])
        .output()
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .skip_while(|w| *w != "Ver")
        .nth(1)
        .map(str::to_owned)
        .ok_or_else(|| format!("mysqld --version in {}: {text}", root.display()))
}

pub fn profile(image: &str) -> &'static Profile {
    find_profile(image).unwrap_or_else(|| panic!("no host profile for image {image}"))
}

fn find_profile(image: &str) -> Option<&'static Profile> {
    PROFILES.iter().find(|p| image.starts_with(p.image_prefix))
}

/// Whether this machine can run pods; the reason if not.
pub fn preflight(profiles: &[&Profile]) -> Result<(), String> {
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .map_err(|e| e.to_string())?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Err("the e2e suite needs root (network and mount namespaces)".into());
    }
    for tool in ["ip", "unshare", "setpriv", "getent", "mount"] {
        if !Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return Err(format!("{tool} is not installed"));
        }
    }
    for p in profiles {
        let lower = p.lower()?;
        for need in p.needs {
            let path = lower.join(need.trim_start_matches('/'));
            if !path.exists() {
                return Err(format!(
                    "{} is missing (scripts/install-test-deps installs the servers)",
                    path.display()
                ));
            }
        }
    }
    Ok(())
}

static RUNS: AtomicU32 = AtomicU32::new(0);

/// The slot (network namespace, sandbox, work directory) a Job's pod runs in.
const JOB: u32 = 60;

/// A pod's "pause" process: PID 1 of the pod's PID namespace (in its network, IPC and UTS
/// namespaces), which every container and exec enters.
struct Sandbox {
    /// `unshare --kill-child`, the host-side parent: killing it kills PID 1, and with it every
    /// process of the pod.
    wrapper: Child,
    /// The host's pid of the pod's PID 1.
    init: u32,
}

pub struct Cluster {
    prefix: String,
    subnet: String,
    work: PathBuf,
    sts: StatefulSet,
    name: String,
    namespace: String,
    headless: String,
    domain: String,
    /// ConfigMap and Secret name → materialised directory.
    objects: BTreeMap<String, PathBuf>,
    /// Pods that exist (have a name in DNS), ordinal → main container processes.
    pods: BTreeMap<u32, Vec<Child>>,
    /// Each existing pod's sandbox, which holds its PID, IPC and UTS namespaces.
    sandboxes: BTreeMap<u32, Sandbox>,
    /// While `run_job` runs: the Job's pod spec, in slot `JOB`.
    job: Option<PodSpec>,
    /// The backup CronJob's pod spec, if the manifest has one.
    pub backup_job: Option<PodSpec>,
    /// The set's profile (its database's image): that of every container whose own image has
    /// none.
    profile: &'static Profile,
    /// Processes of `start_service`.
    services: Vec<Child>,
}

fn sh(cmd: &str) -> std::process::Output {
    Command::new("sh")
        .args(["-c", cmd])
        .output()
        .expect("sh runs")
}

fn must(cmd: &str) {
    let out = sh(cmd);
    assert!(
        out.status.success(),
        "{cmd}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Cluster {
    /// Materialises the manifest of `docs` (from sts_gen::generate) in a fresh work directory.
    pub fn new(docs: &[Manifest], cluster_domain: &str) -> Cluster {
        let n = RUNS.fetch_add(1, Ordering::SeqCst);
        let id = std::process::id() % 10_000;
        let prefix = format!("sg{id}x{n}");
        // 198.18.0.0/15 is reserved for benchmarking: never the host's.
        let subnet = format!("198.18.{}", 100 + (id as u32 * 7 + n) % 150);
        let work = PathBuf::from(format!("/var/tmp/sts-gen-e2e/{prefix}"));
        let _ = std::fs::remove_dir_all(&work);
        std::fs::create_dir_all(work.join("pods")).unwrap();

        let mut sts = None;
        let mut backup_job = None;
        let mut objects = BTreeMap::new();
        let mut headless = String::new();
        for doc in docs {
            match doc {
                Manifest::StatefulSet(s) => sts = Some(s.clone()),
                Manifest::ConfigMap(cm) => {
                    let name = cm.metadata.name.clone().unwrap();
                    let dir = work.join("objects").join(&name);
                    std::fs::create_dir_all(&dir).unwrap();
                    for (k, v) in cm.data.iter().flatten() {
                        std::fs::write(dir.join(k), v).unwrap();
                    }
                    objects.insert(name, dir);
                }
                Manifest::Secret(s) => {
                    let name = s.metadata.name.clone().unwrap();
                    let dir = work.join("objects").join(&name);
                    std::fs::create_dir_all(&dir).unwrap();
                    for (k, v) in s.data.iter().flatten() {
                        std::fs::write(dir.join(k), &v.0).unwrap();
                    }
                    objects.insert(name, dir);
                }
                Manifest::Service(svc) => {
                    let spec = svc.spec.as_ref().unwrap();
                    if spec.cluster_ip.as_deref() == Some("None") {
                        headless = svc.metadata.name.clone().unwrap();
                    }
                }
                Manifest::PodDisruptionBudget(_) | Manifest::PersistentVolumeClaim(_) => {}
                // Its network is one flat switch: a policy would go unenforced, so none may come.
                Manifest::NetworkPolicy(_) => panic!("podsim enforces no NetworkPolicy"),
                Manifest::CronJob(cj) => {
                    backup_job = cj
                        .spec
                        .as_ref()
                        .and_then(|s| s.job_template.spec.as_ref())
                        .and_then(|j| j.template.spec.clone());
                }
                // A restore Job comes with `--restore-from`, in a manifest of its own.
                Manifest::Job(_) => {}
            }
        }
        let sts = sts.expect("one StatefulSet");
        let name = sts.metadata.name.clone().unwrap();
        let image = sts
            .spec
            .as_ref()
            .unwrap()
            .template
            .spec
            .as_ref()
            .unwrap()
            .containers[0]
            .image
            .clone()
            .unwrap();
        let c = Cluster {
            prefix: prefix.clone(),
            subnet: subnet.clone(),
            work,
            sts,
            name,
            namespace: "default".into(),
            headless,
            domain: cluster_domain.into(),
            objects,
            pods: BTreeMap::new(),
            sandboxes: BTreeMap::new(),
            job: None,
            backup_job,
            profile: profile(&image),
            services: Vec::new(),
        };
        // The island: a bridge in its own namespace; the host never routes into the subnet.
        must(&format!(
            "ip route add unreachable {subnet}.0/24 metric 4{n:03}"
        ));
        must(&format!(
            "ip netns add {prefix}-sw && ip -n {prefix}-sw link set lo up && \
             ip -n {prefix}-sw link add br0 type bridge && \
             ip -n {prefix}-sw link set br0 address 02:00:00:00:00:01 && ip -n {prefix}-sw link set br0 up"
        ));
        std::fs::write(c.work.join("hosts"), "127.0.0.1 localhost\n").unwrap();
        c
    }

    pub fn pod_name(&self, ordinal: u32) -> String {
        if ordinal == JOB {
            return format!("{}-job", self.name);
        }
        format!("{}-{ordinal}", self.name)
    }

    pub fn fqdn(&self, ordinal: u32) -> String {
        format!(
            "{}.{}.{}.svc.{}",
            self.pod_name(ordinal),
            self.headless,
            self.namespace,
            self.domain
        )
    }

    fn netns(&self, ordinal: u32) -> String {
        format!("{}-{ordinal}", self.prefix)
    }

    fn pod_dir(&self, ordinal: u32) -> PathBuf {
        self.work.join("pods").join(ordinal.to_string())
    }

    /// The backups' claim.
    pub fn backups(&self) -> PathBuf {
        self.work.join("backups")
    }

    /// The directory behind a claim a Job names: a pod's data (`data-<name>-<ordinal>`) or the
    /// backups'.
    fn claim_dir(&self, claim: &str) -> PathBuf {
        match claim.strip_prefix(&format!("data-{}-", self.name)) {
            Some(n) => self.volume(n.parse().expect("a pod's claim")),
            None => self.backups(),
        }
    }

    /// The pod's volume (its PVC): survives pod restarts until `wipe_volume`.
    pub fn volume(&self, ordinal: u32) -> PathBuf {
        self.pod_dir(ordinal).join("pv")
    }

    fn write_hosts(&self) {
        let mut hosts = String::from("127.0.0.1 localhost\n");
        // A Job's pod is no member of the headless Service.
        for &o in self.pods.keys().filter(|&&o| o != JOB) {
            let short = format!("{}.{}", self.pod_name(o), self.headless);
            writeln!(
                hosts,
                "{}.{} {} {short}.{ns}.svc {short}.{ns} {short} {}",
                self.subnet,
                10 + o,
                self.fqdn(o),
                self.pod_name(o),
                ns = self.namespace
            )
            .unwrap();
        }
        // In place: the containers bind-mount this inode.
        std::fs::write(self.work.join("hosts"), hosts).unwrap();
    }

    fn pod_spec(&self) -> &PodSpec {
        if let Some(job) = &self.job {
            return job;
        }
        let template = &self.sts.spec.as_ref().expect("a StatefulSet spec").template;
        template.spec.as_ref().expect("a pod spec")
    }

    fn user(&self, c: &Container) -> (i64, i64) {
        let pod = self.pod_spec();
        let psc = pod.security_context.clone().unwrap_or_default();
        let csc = c.security_context.clone().unwrap_or_default();
        let uid = csc.run_as_user.or(psc.run_as_user).unwrap_or(0);
        let gid = csc.run_as_group.or(psc.run_as_group).unwrap_or(uid);
        (uid, gid)
    }

    /// The shell script that sets a container up inside its fresh mount namespace and execs
    /// `argv`: overlay root, volumes, hosts, image shims, then chroot and setpriv.
    fn container_script(&self, ordinal: u32, c: &Container, argv: &[String]) -> String {
        let pod = self.pod_spec();
        let dir = self.pod_dir(ordinal);
        let (uid, gid) = self.user(c);
        let profile = c
            .image
            .as_deref()
            .and_then(find_profile)
            .unwrap_or(self.profile);
        let lower = profile
            .lower()
            .unwrap_or_else(|e| panic!("{}: {e}", c.name));
        let q = |s: &str| format!("'{}'", s.replace('\'', "'\\''"));
        let mut s = String::from("set -e\n");
        writeln!(s, "hostname {}", self.pod_name(ordinal)).unwrap();
        let ctr = dir.join("ctr");
        writeln!(s, "mkdir -p {0} && mount -t tmpfs ctr {0}", ctr.display()).unwrap();
        writeln!(s, "mkdir -p {0}/upper {0}/work {0}/root", ctr.display()).unwrap();
        writeln!(
            s,
            "mount -t overlay ctr -o lowerdir={1},upperdir={0}/upper,workdir={0}/work {0}/root",
            ctr.display(),
            lower.display()
        )
        .unwrap();
        let root = ctr.join("root");
        let r = root.display();
        // The pod's own /proc (its PID namespace); the host's devices and sysfs.
        writeln!(s, "mount -t proc proc {r}/proc && mount --rbind /dev {r}/dev && mount --rbind /sys {r}/sys").unwrap();
        writeln!(
            s,
            "mount --bind {} {r}/etc/hosts",
            self.work.join("hosts").display()
        )
        .unwrap();
        writeln!(s, "echo {} > {r}/etc/hostname", self.pod_name(ordinal)).unwrap();
        // The image's user by the image's name (initdb looks the uid up; unix_socket the name),
        // ahead of any host entry of the same name or uid.
        let user = profile.user;
        writeln!(
            s,
            "sed -i '1i {user}:x:{uid}:{gid}::/tmp:/bin/bash' {r}/etc/passwd"
        )
        .unwrap();
        writeln!(
            s,
            "chroot {r} getent group {gid} >/dev/null || echo 'image:x:{gid}:' >> {r}/etc/group"
        )
        .unwrap();
        for m in profile.masked {
            writeln!(s, "[ -d {r}{m} ] && mount -t tmpfs masked {r}{m} || true").unwrap();
        }
        for d in profile.dirs {
            writeln!(s, "mkdir -p {r}{d} && chown {uid}:{gid} {r}{d}").unwrap();
        }
        for m in c.volume_mounts.iter().flatten() {
            let vol = pod.volumes.iter().flatten().find(|v| v.name == m.name);
            let claim = vol
                .and_then(|v| v.persistent_volume_claim.as_ref())
                .map(|c| c.claim_name.as_str());
            let src: PathBuf = if let Some(claim) = claim {
                self.claim_dir(claim)
            } else if m.name == "data" {
                let pv = self.volume(ordinal);
                match &m.sub_path {
                    Some(sub) => {
                        let p = pv.join(sub);
                        std::fs::create_dir_all(&p).unwrap();
                        p
                    }
                    None => pv,
                }
            } else if let Some(v) = vol {
                if let Some(cm) = &v.config_map {
                    self.objects[&cm.name].clone()
                } else if let Some(sec) = &v.secret {
                    self.objects[sec.secret_name.as_ref().unwrap()].clone()
                } else {
                    // emptyDir or ephemeral: per pod start (created in start_pod).
                    dir.join("empty").join(&v.name)
                }
            } else {
                panic!("{} mounts unknown volume {}", c.name, m.name)
            };
            // Resolve the path inside the container's root (/var/run is a link to /run).
            writeln!(s, "t={r}$(chroot {r} readlink -m {})", m.mount_path).unwrap();
            writeln!(
                s,
                "mkdir -p \"$t\" && mount --bind {} \"$t\"",
                src.display()
            )
            .unwrap();
            if m.read_only == Some(true) {
                writeln!(s, "mount -o remount,bind,ro \"$t\"").unwrap();
            }
        }
        let mut env = vec![
            format!("PATH={}", profile.path),
            format!("HOSTNAME={}", self.pod_name(ordinal)),
            "HOME=/tmp".to_owned(),
        ];
        for e in c.env.iter().flatten() {
            let value = match (&e.value, &e.value_from) {
                (Some(v), _) => v.clone(),
                (None, Some(from)) => {
                    match from.field_ref.as_ref().map(|f| f.field_path.as_str()) {
                        Some("metadata.name") => self.pod_name(ordinal),
                        Some("metadata.namespace") => self.namespace.clone(),
                        other => panic!("unsupported downward API field {other:?}"),
                    }
                }
                _ => String::new(),
            };
            env.push(format!("{}={}", e.name, value));
        }
        let env: Vec<String> = env.iter().map(|e| q(e)).collect();
        let argv: Vec<String> = argv.iter().map(|a| q(a)).collect();
        writeln!(
            s,
            "cd {r} && exec chroot {r} /usr/bin/env -i {} /usr/bin/setpriv --reuid={uid} --regid={gid} --clear-groups -- {}",
            env.join(" "),
            argv.join(" ")
        )
        .unwrap();
        s
    }

    /// A container (or an exec): enters the pod's namespaces, then a mount namespace of its own.
    fn command(&self, ordinal: u32, c: &Container, argv: &[String]) -> Command {
        let init = self.sandboxes[&ordinal].init.to_string();
        let mut cmd = Command::new("nsenter");
        cmd.args([
            "--target",
            &init,
            "--net",
            "--uts",
            "--ipc",
            "--pid",
            "--",
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "--",
            "sh",
            "-c",
        ])
        .arg(self.container_script(ordinal, c, argv));
        cmd
    }

    /// Starts the pod's sandbox: PID 1 of new PID, IPC and UTS namespaces in the pod's network
    /// namespace, sets the host name and sleeps (no reaping needed for a test's lifetime).
    fn start_sandbox(&mut self, ordinal: u32) {
        let wrapper = Command::new("ip")
            .args(["netns", "exec", &self.netns(ordinal)])
            .args([
                "unshare",
                "--pid",
                "--fork",
                "--kill-child",
                "--ipc",
                "--uts",
            ])
            .args(["--mount", "--propagation", "private", "--", "sh", "-c"])
            .arg(format!(
                "hostname {} && exec sleep infinity",
                self.pod_name(ordinal)
            ))
            .spawn()
            .expect("unshare runs");
        let id = wrapper.id();
        let children = format!("/proc/{id}/task/{id}/children");
        let start = Instant::now();
        let init = loop {
            let text = std::fs::read_to_string(&children).unwrap_or_default();
            if let Some(pid) = text.split_whitespace().next() {
                break pid.parse().unwrap();
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "the sandbox of {} did not start",
                self.pod_name(ordinal)
            );
            std::thread::sleep(Duration::from_millis(10));
        };
        // PID 1 has its name once `exec sleep` ran: wait for it, so nothing enters too early.
        while std::fs::read_to_string(format!("/proc/{init}/comm")).unwrap_or_default() != "sleep\n"
        {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "the sandbox did not settle"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        self.sandboxes.insert(ordinal, Sandbox { wrapper, init });
    }

    fn argv(c: &Container) -> Vec<String> {
        c.command
            .iter()
            .flatten()
            .chain(c.args.iter().flatten())
            .cloned()
            .collect()
    }

    fn containers(&self) -> (Vec<Container>, Vec<Container>) {
        let pod = self.pod_spec();
        (
            pod.init_containers.clone().unwrap_or_default(),
            pod.containers.clone(),
        )
    }

    /// Creates pod `ordinal` (network, DNS name, fresh emptyDirs), runs its init containers in
    /// order and starts its containers; returns the init containers' combined output.
    pub fn start_pod(&mut self, ordinal: u32) -> String {
        self.try_start_pod(ordinal)
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// As `start_pod`, but a failing init container is an `Err` with its output (the pod then
    /// exists, like a pod in Init:Error, until `stop_pod`).
    /// The slot's network namespace on the bridge, address `<subnet>.<10 + slot>`.
    fn ensure_network(&self, ordinal: u32) -> String {
        let ns = self.netns(ordinal);
        if !sh(&format!("ip netns list | grep -qw {ns}"))
            .status
            .success()
        {
            must(&format!(
                "ip netns add {ns} && ip -n {p}-sw link add v{ordinal} type veth peer name eth0 netns {ns} && \
                 ip -n {p}-sw link set v{ordinal} master br0 up && ip -n {ns} link set lo up && \
                 ip -n {ns} addr add {s}.{a}/24 dev eth0 && ip -n {ns} link set eth0 up",
                p = self.prefix,
                s = self.subnet,
                a = 10 + ordinal
            ));
        }
        format!("{}.{}", self.subnet, 10 + ordinal)
    }

    /// A service outside the set (an S3 endpoint) in slot `slot`'s network namespace, as root:
    /// reachable from the pods at the returned address, stopped with the cluster.
    pub fn start_service(&mut self, slot: u32, argv: &[&str]) -> String {
        let ip = self.ensure_network(slot);
        let log = std::fs::File::create(self.work.join(format!("service-{slot}.log"))).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", &self.netns(slot)])
            .args(argv)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("the service starts");
        self.services.push(child);
        ip
    }

    /// Cuts the network between pods `a` and `b` both ways (their packets to each other are
    /// dropped), as a partition would: open connections between them stall, silently.
    pub fn partition(&self, a: u32, b: u32) {
        for (from, to) in [(a, b), (b, a)] {
            must(&format!(
                "ip -n {} route add blackhole {}/32",
                self.netns(from),
                self.ensure_network(to)
            ));
        }
    }

    /// Runs `argv` as root in slot `slot`'s network namespace (a client of a service there).
    pub fn run_in(&self, slot: u32, argv: &[&str]) -> Result<String, String> {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.netns(slot)])
            .args(argv)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        if out.status.success() {
            Ok(text)
        } else {
            Err(text)
        }
    }

    /// An existing Secret the manifest refers to but does not contain (an S3 bucket's keys).
    pub fn add_secret(&mut self, name: &str, data: &[(&str, &str)]) {
        let dir = self.work.join("objects").join(name);
        std::fs::create_dir_all(&dir).unwrap();
        for (k, v) in data {
            std::fs::write(dir.join(k), v).unwrap();
        }
        self.objects.insert(name.to_owned(), dir);
    }

    pub fn try_start_pod(&mut self, ordinal: u32) -> Result<String, String> {
        self.ensure_network(ordinal);
        let dir = self.pod_dir(ordinal);
        let pod = self.pod_spec();
        let fs_group = pod
            .security_context
            .as_ref()
            .and_then(|s| s.fs_group)
            .unwrap_or(0);
        let _ = std::fs::remove_dir_all(dir.join("empty"));
        for v in pod
            .volumes
            .iter()
            .flatten()
            // A generic ephemeral volume is a fresh claim per pod: like an emptyDir here.
            .filter(|v| v.empty_dir.is_some() || v.ephemeral.is_some())
        {
            let p = dir.join("empty").join(&v.name);
            std::fs::create_dir_all(&p).unwrap();
            must(&format!(
                "chown {fs_group}:{fs_group} {0} && chmod 2777 {0}",
                p.display()
            ));
        }
        // What kubelet does with fsGroup: the pod's claims belong to its group.
        let claims =
            pod.volumes.iter().flatten().filter_map(|v| {
                Some(self.claim_dir(&v.persistent_volume_claim.as_ref()?.claim_name))
            });
        let dirs: Vec<PathBuf> = claims.chain([self.volume(ordinal)]).collect();
        for dir in dirs {
            std::fs::create_dir_all(&dir).unwrap();
            must(&format!("chown {fs_group}:{fs_group} {}", dir.display()));
        }
        for obj in self.objects.values() {
            must(&format!(
                "chgrp -R {fs_group} {0} && chmod 0755 {0} && chmod 0444 {0}/* && chmod 0555 {0}/*.sh 2>/dev/null || true",
                obj.display()
            ));
        }
        if !self.sandboxes.contains_key(&ordinal) {
            self.start_sandbox(ordinal);
        }
        self.pods.insert(ordinal, Vec::new());
        self.write_hosts();

        let (inits, mains) = self.containers();
        let mut log = String::new();
        for c in &inits {
            let out = self.command(ordinal, c, &Self::argv(c)).output().unwrap();
            log.push_str(&String::from_utf8_lossy(&out.stdout));
            log.push_str(&String::from_utf8_lossy(&out.stderr));
            if !out.status.success() {
                return Err(format!(
                    "{} init container {} failed:\n{log}",
                    self.pod_name(ordinal),
                    c.name
                ));
            }
        }
        let mut children = Vec::new();
        for c in &mains {
            let logfile = std::fs::File::create(dir.join(format!("{}.log", c.name))).unwrap();
            let child = self
                .command(ordinal, c, &Self::argv(c))
                .stdout(Stdio::from(logfile.try_clone().unwrap()))
                .stderr(Stdio::from(logfile))
                .spawn()
                .unwrap();
            children.push(child);
        }
        self.pods.insert(ordinal, children);
        Ok(log)
    }

    /// Runs a probe of container `c`; true when it succeeds.
    fn probe(&self, ordinal: u32, c: &Container, probe: &Probe) -> bool {
        if let Some(e) = &probe.exec {
            let argv = e.command.clone().unwrap_or_default();
            return self
                .command(ordinal, c, &argv)
                .output()
                .is_ok_and(|o| o.status.success());
        }
        if let Some(t) = &probe.tcp_socket {
            let port = match &t.port {
                k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(p) => *p,
                k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(name) => {
                    c.ports
                        .iter()
                        .flatten()
                        .find(|p| p.name.as_deref() == Some(name))
                        .unwrap()
                        .container_port
                }
            };
            return sh(&format!(
                "ip netns exec {} bash -c '</dev/tcp/127.0.0.1/{port}' 2>/dev/null",
                self.netns(ordinal)
            ))
            .status
            .success();
        }
        panic!("unsupported probe {probe:?}")
    }

    /// One round of every container's startup and readiness probes, as kubelet runs them on a
    /// started pod: Ok when all pass (the pod is Ready and in its Services' endpoints), else
    /// the failing container and what its probe printed. Each exec probe must end within its
    /// timeoutSeconds (kubelet counts a late one as failed).
    pub fn readiness(&self, ordinal: u32) -> Result<(), String> {
        let (_, mains) = self.containers();
        for c in &mains {
            for p in [&c.startup_probe, &c.readiness_probe].into_iter().flatten() {
                let Some(argv) = p.exec.as_ref().and_then(|e| e.command.clone()) else {
                    if self.probe(ordinal, c, p) {
                        continue;
                    }
                    return Err(format!("{}: {p:?} fails", c.name));
                };
                let start = Instant::now();
                let out = self.command(ordinal, c, &argv).output().unwrap();
                let took = start.elapsed();
                let limit = Duration::from_secs(p.timeout_seconds.unwrap_or(1).try_into().unwrap());
                assert!(
                    took <= limit,
                    "{}: a probe of {} took {took:?}, beyond its timeoutSeconds",
                    self.pod_name(ordinal),
                    c.name
                );
                if !out.status.success() {
                    return Err(format!(
                        "{}: {}{}",
                        c.name,
                        String::from_utf8_lossy(&out.stdout),
                        String::from_utf8_lossy(&out.stderr)
                    ));
                }
            }
        }
        Ok(())
    }

    /// Waits until every container's startup and readiness probes pass (the pod is Ready, which
    /// gates the next ordinal), then checks that the liveness probes pass too.
    pub fn wait_ready(&mut self, ordinal: u32, timeout: Duration) {
        let (_, mains) = self.containers();
        let dir = self.pod_dir(ordinal);
        let logs = || {
            mains
                .iter()
                .map(|c| {
                    let f = dir.join(format!("{}.log", c.name));
                    let text = std::fs::read_to_string(f).unwrap_or_default();
                    format!("--- {}:\n{text}", c.name)
                })
                .collect::<String>()
        };
        let start = Instant::now();
        while start.elapsed() < timeout {
            // Kubernetes runs readiness only after the startup probe succeeded.
            let ready = mains.iter().all(|c| {
                [&c.startup_probe, &c.readiness_probe]
                    .into_iter()
                    .flatten()
                    .all(|p| self.probe(ordinal, c, p))
            });
            if ready {
                // A Ready pod must not be killed by its liveness probe either.
                for c in &mains {
                    if let Some(p) = &c.liveness_probe {
                        assert!(
                            self.probe(ordinal, c, p),
                            "{}: the liveness probe of {} fails on a Ready pod",
                            self.pod_name(ordinal),
                            c.name
                        );
                    }
                }
                return;
            }
            let exited = self
                .pods
                .get_mut(&ordinal)
                .is_some_and(|cs| cs.iter_mut().any(|c| c.try_wait().ok().flatten().is_some()));
            if exited {
                panic!(
                    "{}: a container exited before Ready; logs:\n{}",
                    self.pod_name(ordinal),
                    logs()
                );
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        panic!(
            "{} not ready after {timeout:?}; logs:\n{}",
            self.pod_name(ordinal),
            logs()
        );
    }

    /// What container `name` of pod `ordinal` wrote so far (stdout and stderr).
    pub fn log(&self, ordinal: u32, name: &str) -> String {
        std::fs::read_to_string(self.pod_dir(ordinal).join(format!("{name}.log")))
            .unwrap_or_default()
    }

    /// Runs `argv` in a fresh container of pod `ordinal` (kubectl exec); its stdout.
    pub fn exec(&self, ordinal: u32, argv: &[&str]) -> Result<String, String> {
        let (_, mains) = self.containers();
        let argv: Vec<String> = argv.iter().map(|s| (*s).to_owned()).collect();
        let out = self.command(ordinal, &mains[0], &argv).output().unwrap();
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// Deletes the pod (its volume stays): preStop, SIGTERM, grace period, SIGKILL; its DNS
    /// name disappears.
    pub fn stop_pod(&mut self, ordinal: u32) {
        let (_, mains) = self.containers();
        if let Some(pre) = mains[0]
            .lifecycle
            .as_ref()
            .and_then(|l| l.pre_stop.as_ref())
            .and_then(|p| p.exec.as_ref())
        {
            let _ = self
                .command(ordinal, &mains[0], &pre.command.clone().unwrap_or_default())
                .output();
        }
        // SIGTERM to every process of the pod but its sandbox, the grace period, SIGKILL to what
        // is left; then the sandbox, whose PID 1 takes any stragglers with it.
        let ns = self.netns(ordinal);
        let keep = self
            .sandboxes
            .get(&ordinal)
            .map(|b| format!("{} {}", b.wrapper.id(), b.init))
            .unwrap_or_default();
        let others = format!(
            "for p in $(ip netns pids {ns}); do case \" {keep} \" in *\" $p \"*) ;; *) echo $p ;; esac; done"
        );
        let _ = sh(&format!(
            "pids=$({others}); [ -n \"$pids\" ] && kill -TERM $pids"
        ));
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            if sh(&others).stdout.is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let _ = sh(&format!(
            "pids=$({others}); [ -n \"$pids\" ] && kill -KILL $pids"
        ));
        if let Some(mut sandbox) = self.sandboxes.remove(&ordinal) {
            let _ = sandbox.wrapper.kill();
            let _ = sandbox.wrapper.wait();
        }
        if let Some(children) = self.pods.remove(&ordinal) {
            for mut c in children {
                let _ = c.wait();
            }
        }
        let _ = sh(&format!(
            "umount -R {} 2>/dev/null",
            self.pod_dir(ordinal).join("ctr").display()
        ));
        self.write_hosts();
    }

    /// Runs a Job's pod to its end (init containers, then its containers), like the Job
    /// controller with backoffLimit 0; its combined output, or `Err` with it when a container
    /// failed.
    pub fn run_job(&mut self, pod: &PodSpec) -> Result<String, String> {
        self.job = Some(pod.clone());
        let result = self.try_start_pod(JOB).and_then(|mut log| {
            let mut ok = true;
            for mut child in self.pods.insert(JOB, Vec::new()).unwrap_or_default() {
                ok &= child.wait().is_ok_and(|s| s.success());
            }
            for c in &pod.containers {
                log.push_str(&self.log(JOB, &c.name));
            }
            if ok { Ok(log) } else { Err(log) }
        });
        self.stop_pod(JOB);
        self.job = None;
        result
    }

    /// Applies re-rendered objects to the running set, as `kubectl apply` would where no pod
    /// restarts: the ConfigMaps' files change in place (the pods' mounts see them at once, as
    /// kubelet's refresh would within a minute), and the StatefulSet's new count is taken. Its pod
    /// template must be the one the pods run: the harness plays no rolling update, and a changed
    /// template would roll every pod.
    pub fn apply(&mut self, docs: &[Manifest]) {
        for doc in docs {
            match doc {
                Manifest::StatefulSet(s) => {
                    let template = |s: &StatefulSet| {
                        serde_json::to_value(&s.spec.as_ref().unwrap().template).unwrap()
                    };
                    assert_eq!(
                        template(s),
                        template(&self.sts),
                        "the re-rendered pod template differs: applying it would roll every pod"
                    );
                    self.sts = s.clone();
                }
                Manifest::ConfigMap(cm) => {
                    let dir = &self.objects[cm.metadata.name.as_ref().unwrap()];
                    for (k, v) in cm.data.iter().flatten() {
                        std::fs::write(dir.join(k), v).unwrap();
                    }
                }
                _ => {}
            }
        }
    }

    /// Empties the pod's volume (a lost or replaced PersistentVolume).
    pub fn wipe_volume(&self, ordinal: u32) {
        let pv = self.volume(ordinal);
        let _ = std::fs::remove_dir_all(&pv);
        std::fs::create_dir_all(&pv).unwrap();
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let ordinals: Vec<u32> = self.pods.keys().copied().collect();
        for o in ordinals {
            self.stop_pod(o);
        }
        for s in &mut self.services {
            let _ = s.kill();
            let _ = s.wait();
        }
        for o in 0..64 {
            let _ = sh(&format!("ip netns del {}-{o} 2>/dev/null", self.prefix));
        }
        let _ = sh(&format!("ip netns del {}-sw 2>/dev/null", self.prefix));
        let _ = sh(&format!(
            "ip route del unreachable {}.0/24 2>/dev/null",
            self.subnet
        ));
        let _ = std::fs::remove_dir_all(&self.work);
    }
}
