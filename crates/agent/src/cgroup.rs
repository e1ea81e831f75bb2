//! The cgroup of a sandbox Pod, named for the node's Docker daemon: the broker
//! creates every container of a host-socket sandbox under it, so the Pod's
//! limits (memory, CPU, PIDs, set by the kubelet on the Pod's cgroup) bound
//! them too.
//!
//! The kubelet (with `cgroupsPerQOS`, its default) puts a Pod at
//! `<cgroupRoot>/kubepods[/burstable|/besteffort]/pod<uid>`. The cgroupfs
//! driver spells that as a path; the systemd driver as a slice whose name
//! joins the components with `-` (each component's own `-` becoming `_`):
//! `kubepods-burstable-pod<uid_>.slice`, which systemd expands to
//! `kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid_>.slice`.

use std::path::{Path, PathBuf};

/// A cgroup driver: how the kubelet and dockerd name and manage cgroups.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum CgroupDriver {
    /// Paths in the cgroup filesystem, e.g. `/kubepods/burstable/pod<uid>`.
    Cgroupfs,
    /// systemd slices, e.g. `kubepods-burstable-pod<uid_>.slice`.
    Systemd,
}

impl CgroupDriver {
    /// The driver `docker info` reports (`CgroupDriver`); `None` for `none` or
    /// anything else, under which a cgroup parent means nothing.
    pub fn from_docker(driver: &str) -> Option<Self> {
        match driver {
            "cgroupfs" => Some(Self::Cgroupfs),
            "systemd" => Some(Self::Systemd),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cgroupfs => "cgroupfs",
            Self::Systemd => "systemd",
        }
    }
}

/// A Pod's quality-of-service class (`status.qosClass`), which picks its
/// parent cgroup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QosClass {
    Guaranteed,
    Burstable,
    BestEffort,
}

impl QosClass {
    pub fn parse(class: &str) -> Option<Self> {
        match class {
            "Guaranteed" => Some(Self::Guaranteed),
            "Burstable" => Some(Self::Burstable),
            "BestEffort" => Some(Self::BestEffort),
            _ => None,
        }
    }
}

/// The components of a Pod's cgroup name under the kubelet's `cgroup_root`
/// (given as the kubelet's `cgroupRoot`, a cgroupfs path such as `/`).
fn components(cgroup_root: &str, qos: QosClass, pod_uid: &str) -> Vec<String> {
    let mut parts: Vec<String> = cgroup_root.split('/').filter(|p| !p.is_empty()).map(String::from).collect();
    parts.push("kubepods".into());
    match qos {
        QosClass::Guaranteed => {}
        QosClass::Burstable => parts.push("burstable".into()),
        QosClass::BestEffort => parts.push("besteffort".into()),
    }
    parts.push(format!("pod{pod_uid}"));
    parts
}

/// A Pod's cgroup as `driver` names it: what dockerd takes as a container's
/// `HostConfig.CgroupParent`.
pub fn pod_cgroup_parent(cgroup_root: &str, driver: CgroupDriver, qos: QosClass, pod_uid: &str) -> String {
    let parts = components(cgroup_root, qos, pod_uid);
    match driver {
        CgroupDriver::Cgroupfs => format!("/{}", parts.join("/")),
        CgroupDriver::Systemd => {
            let escaped: Vec<String> = parts.iter().map(|p| p.replace('-', "_")).collect();
            format!("{}.slice", escaped.join("-"))
        }
    }
}

/// Where a Pod's cgroup lies under a cgroup hierarchy's mount point (the
/// same path in every hierarchy of cgroup v1, and in the one of v2).
pub fn pod_cgroup_dir(cgroup_root: &str, driver: CgroupDriver, qos: QosClass, pod_uid: &str) -> PathBuf {
    let parts = components(cgroup_root, qos, pod_uid);
    match driver {
        CgroupDriver::Cgroupfs => parts.iter().collect(),
        // systemd nests each prefix of the slice name in the one before:
        // a-b-c.slice lies at a.slice/a-b.slice/a-b-c.slice.
        CgroupDriver::Systemd => {
            let escaped: Vec<String> = parts.iter().map(|p| p.replace('-', "_")).collect();
            (1..=escaped.len()).map(|n| format!("{}.slice", escaped[..n].join("-"))).collect()
        }
    }
}

/// Whether a Pod's cgroup exists on the node, seen through `mount` (the
/// node's `/sys/fs/cgroup`): in the unified hierarchy (cgroup v2) or in
/// the memory and pids hierarchies (v1), those that bound a container.
/// `None` when `mount` shows no cgroup hierarchy to look in.
pub fn pod_cgroup_exists(mount: &Path, relative: &Path) -> Option<bool> {
    if mount.join("cgroup.controllers").exists() {
        return Some(mount.join(relative).is_dir());
    }
    let hierarchies: Vec<PathBuf> =
        ["memory", "pids"].iter().map(|c| mount.join(c)).filter(|h| h.join("cgroup.procs").exists()).collect();
    if hierarchies.is_empty() {
        return None;
    }
    Some(hierarchies.iter().all(|h| h.join(relative).is_dir()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const UID: &str = "6f1c2b9e-8d0a-4c55-9f7e-0b1f5a3c2d10";

    #[test]
    fn cgroupfs_paths_for_each_qos_class_and_root() {
        use QosClass::*;
        let cases = [
            ("/", Guaranteed, format!("/kubepods/pod{UID}")),
            ("/", Burstable, format!("/kubepods/burstable/pod{UID}")),
            ("/", BestEffort, format!("/kubepods/besteffort/pod{UID}")),
            ("", Burstable, format!("/kubepods/burstable/pod{UID}")),
            ("/custom", Guaranteed, format!("/custom/kubepods/pod{UID}")),
            ("/custom/nested/", Burstable, format!("/custom/nested/kubepods/burstable/pod{UID}")),
            ("/custom", BestEffort, format!("/custom/kubepods/besteffort/pod{UID}")),
        ];
        for (root, qos, want) in cases {
            assert_eq!(pod_cgroup_parent(root, CgroupDriver::Cgroupfs, qos, UID), want, "{root} {qos:?}");
            assert_eq!(pod_cgroup_dir(root, CgroupDriver::Cgroupfs, qos, UID), Path::new(&want[1..]));
        }
    }

    #[test]
    fn systemd_slices_for_each_qos_class_and_root() {
        use QosClass::*;
        let uid_ = UID.replace('-', "_");
        let cases = [
            ("/", Guaranteed, format!("kubepods-pod{uid_}.slice"), format!("kubepods.slice/kubepods-pod{uid_}.slice")),
            (
                "/",
                Burstable,
                format!("kubepods-burstable-pod{uid_}.slice"),
                format!("kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{uid_}.slice"),
            ),
            (
                "/",
                BestEffort,
                format!("kubepods-besteffort-pod{uid_}.slice"),
                format!("kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{uid_}.slice"),
            ),
            (
                "/my-root",
                Guaranteed,
                format!("my_root-kubepods-pod{uid_}.slice"),
                format!("my_root.slice/my_root-kubepods.slice/my_root-kubepods-pod{uid_}.slice"),
            ),
            (
                "/my-root",
                Burstable,
                format!("my_root-kubepods-burstable-pod{uid_}.slice"),
                format!(
                    "my_root.slice/my_root-kubepods.slice/my_root-kubepods-burstable.slice/my_root-kubepods-burstable-pod{uid_}.slice"
                ),
            ),
            (
                "/my-root",
                BestEffort,
                format!("my_root-kubepods-besteffort-pod{uid_}.slice"),
                format!(
                    "my_root.slice/my_root-kubepods.slice/my_root-kubepods-besteffort.slice/my_root-kubepods-besteffort-pod{uid_}.slice"
                ),
            ),
        ];
        for (root, qos, parent, dir) in cases {
            assert_eq!(pod_cgroup_parent(root, CgroupDriver::Systemd, qos, UID), parent, "{root} {qos:?}");
            assert_eq!(pod_cgroup_dir(root, CgroupDriver::Systemd, qos, UID), Path::new(&dir), "{root} {qos:?}");
        }
    }

    #[test]
    fn drivers_and_qos_classes_parse_from_their_api_spelling() {
        assert_eq!(CgroupDriver::from_docker("cgroupfs"), Some(CgroupDriver::Cgroupfs));
        assert_eq!(CgroupDriver::from_docker("systemd"), Some(CgroupDriver::Systemd));
        assert_eq!(CgroupDriver::from_docker("none"), None);
        assert_eq!(CgroupDriver::from_docker(""), None);
        assert_eq!(QosClass::parse("Burstable"), Some(QosClass::Burstable));
        assert_eq!(QosClass::parse("BestEffort"), Some(QosClass::BestEffort));
        assert_eq!(QosClass::parse("Guaranteed"), Some(QosClass::Guaranteed));
        assert_eq!(QosClass::parse(""), None);
    }

    #[test]
    fn existence_is_checked_in_the_hierarchies_that_bound_containers() {
        let root = std::env::temp_dir().join(format!("dockyard-cgroup-test-{}", std::process::id()));
        let relative = Path::new("kubepods/burstable/podx");
        // Nothing mounted: cannot tell.
        std::fs::create_dir_all(&root).unwrap();
        assert_eq!(pod_cgroup_exists(&root, relative), None);
        // cgroup v1: memory and pids both need it.
        for controller in ["memory", "pids"] {
            std::fs::create_dir_all(root.join(controller)).unwrap();
            std::fs::write(root.join(controller).join("cgroup.procs"), "").unwrap();
        }
        assert_eq!(pod_cgroup_exists(&root, relative), Some(false));
        std::fs::create_dir_all(root.join("memory").join(relative)).unwrap();
        assert_eq!(pod_cgroup_exists(&root, relative), Some(false));
        std::fs::create_dir_all(root.join("pids").join(relative)).unwrap();
        assert_eq!(pod_cgroup_exists(&root, relative), Some(true));
        // cgroup v2: the unified hierarchy.
        std::fs::write(root.join("cgroup.controllers"), "memory pids").unwrap();
        assert_eq!(pod_cgroup_exists(&root, relative), Some(false));
        std::fs::create_dir_all(root.join(relative)).unwrap();
        assert_eq!(pod_cgroup_exists(&root, relative), Some(true));
        std::fs::remove_dir_all(root).unwrap();
    }
}
