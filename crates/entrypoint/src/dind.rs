//! What dockerd needs from the kernel inside a container, then dockerd itself.
//!
//! On cgroup v1 a container sees its own cgroup subtree mounted (often
//! read-only) at `/sys/fs/cgroup/<controller>`; dockerd needs whole
//! hierarchies it can write, so each one is mounted again, as the well-known
//! `dind` wrapper script does. On cgroup v2 the processes move to a child
//! cgroup so the root's controllers can be delegated.

use std::path::Path;
use std::process::Command;

use nix::mount::{MntFlags, MsFlags, mount, umount2};

/// One cgroup v1 hierarchy mounted in this container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CgroupMount {
    pub mount_point: String,
    /// Mount options naming the hierarchy: controllers (`cpu,cpuacct`) or `none,name=systemd`.
    pub options: String,
}

/// The cgroup v1 hierarchies under `/sys/fs/cgroup`, from `/proc/self/mountinfo`.
pub fn cgroup_v1_mounts(mountinfo: &str) -> Vec<CgroupMount> {
    const KNOWN: [&str; 13] = [
        "cpu",
        "cpuacct",
        "cpuset",
        "memory",
        "devices",
        "freezer",
        "blkio",
        "pids",
        "net_cls",
        "net_prio",
        "perf_event",
        "hugetlb",
        "rdma",
    ];
    mountinfo
        .lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let mount_point = left.split_whitespace().nth(4)?;
            let mut right = right.split_whitespace();
            if right.next()? != "cgroup" || !mount_point.starts_with("/sys/fs/cgroup/") {
                return None;
            }
            let super_options = right.nth(1)?;
            let mut hierarchy: Vec<&str> = super_options.split(',').filter(|o| KNOWN.contains(o)).collect();
            if let Some(name) = super_options.split(',').find(|o| o.starts_with("name=")) {
                hierarchy.insert(0, "none");
                hierarchy.push(name);
            }
            (!hierarchy.is_empty())
                .then(|| CgroupMount { mount_point: mount_point.to_string(), options: hierarchy.join(",") })
        })
        .collect()
}

/// Makes `/proc/sys` and `/sys` writable where the runtime mounted them
/// read-only (an unprivileged container with CAP_SYS_ADMIN): dockerd sets
/// sysctls such as `net.ipv4.ip_forward` in its network namespace. In a
/// privileged container they already are; failures are left to dockerd to report.
pub fn make_kernel_paths_writable() {
    for path in ["/proc/sys", "/sys"] {
        let _ = mount(None::<&str>, path, None::<&str>, MsFlags::MS_REMOUNT | MsFlags::MS_BIND, None::<&str>);
        let _ = mount(None::<&str>, path, None::<&str>, MsFlags::MS_REMOUNT, None::<&str>);
    }
}

/// Makes cgroups usable for dockerd (see the module docs).
pub fn prepare_cgroups() -> Result<(), String> {
    make_kernel_paths_writable();
    if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        return delegate_cgroup_v2();
    }
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").map_err(|e| format!("read mountinfo: {e}"))?;
    // /sys/fs/cgroup itself is a tmpfs, read-only in unprivileged containers.
    let _ = mount(None::<&str>, "/sys/fs/cgroup", None::<&str>, MsFlags::MS_REMOUNT, None::<&str>);
    for m in cgroup_v1_mounts(&mountinfo) {
        // Unmounted and mounted again: the whole hierarchy, writable.
        let _ = umount2(m.mount_point.as_str(), MntFlags::MNT_DETACH);
        std::fs::create_dir_all(&m.mount_point).map_err(|e| format!("mkdir {}: {e}", m.mount_point))?;
        mount(Some("cgroup"), m.mount_point.as_str(), Some("cgroup"), MsFlags::empty(), Some(m.options.as_str()))
            .map_err(|e| format!("mount cgroup -o {} on {}: {e}", m.options, m.mount_point))?;
    }
    Ok(())
}

fn delegate_cgroup_v2() -> Result<(), String> {
    let root = Path::new("/sys/fs/cgroup");
    let init = root.join("init");
    std::fs::create_dir_all(&init).map_err(|e| format!("mkdir {}: {e}", init.display()))?;
    let procs = std::fs::read_to_string(root.join("cgroup.procs")).unwrap_or_default();
    for pid in procs.lines() {
        let _ = std::fs::write(init.join("cgroup.procs"), pid);
    }
    let controllers = std::fs::read_to_string(root.join("cgroup.controllers")).unwrap_or_default();
    let enable: Vec<String> = controllers.split_whitespace().map(|c| format!("+{c}")).collect();
    std::fs::write(root.join("cgroup.subtree_control"), enable.join(" "))
        .map_err(|e| format!("enable cgroup v2 controllers: {e}"))
}

/// How dockerd is started.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DockerdSettings {
    pub socket: String,
    pub group: u32,
    pub data_root: String,
    pub mtu: Option<u32>,
    pub default_address_pools: Vec<String>,
    pub extra_args: Vec<String>,
}

/// The dockerd command line for `settings`.
pub fn dockerd_command(dockerd: &str, settings: &DockerdSettings) -> Command {
    let mut command = Command::new(dockerd);
    command
        .arg(format!("--host=unix://{}", settings.socket))
        .arg(format!("--group={}", settings.group))
        .arg(format!("--data-root={}", settings.data_root));
    if let Some(mtu) = settings.mtu {
        command.arg(format!("--mtu={mtu}"));
    }
    for pool in &settings.default_address_pools {
        command.arg(format!("--default-address-pool={pool}"));
    }
    command.args(&settings.extra_args);
    command
}

/// Creates the directories dockerd's paths live in.
pub fn prepare_paths(settings: &DockerdSettings) -> Result<(), String> {
    for dir in [Path::new(&settings.socket).parent(), Some(Path::new(&settings.data_root))].into_iter().flatten() {
        std::fs::create_dir_all(dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_each_v1_hierarchy_with_its_mount_options() {
        let mountinfo = "\
1000 999 0:60 / /sys/fs/cgroup ro,nosuid,nodev,noexec - tmpfs tmpfs ro,mode=755
1001 1000 0:31 /kubepods/pod1/c1 /sys/fs/cgroup/cpu,cpuacct ro,nosuid - cgroup cgroup rw,cpu,cpuacct
1002 1000 0:32 /kubepods/pod1/c1 /sys/fs/cgroup/memory ro,nosuid - cgroup cgroup rw,memory
1003 1000 0:33 /kubepods/pod1/c1 /sys/fs/cgroup/systemd ro,nosuid - cgroup cgroup rw,xattr,name=systemd
1004 1000 0:34 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
1005 999 0:35 / /proc rw - proc proc rw";
        assert_eq!(
            cgroup_v1_mounts(mountinfo),
            [
                CgroupMount { mount_point: "/sys/fs/cgroup/cpu,cpuacct".into(), options: "cpu,cpuacct".into() },
                CgroupMount { mount_point: "/sys/fs/cgroup/memory".into(), options: "memory".into() },
                CgroupMount { mount_point: "/sys/fs/cgroup/systemd".into(), options: "none,name=systemd".into() },
            ]
        );
    }

    #[test]
    fn dockerd_gets_the_given_paths_and_network_settings() {
        let settings = DockerdSettings {
            socket: "/var/run/dockyard/docker.sock".into(),
            group: 2375,
            data_root: "/var/lib/docker".into(),
            mtu: Some(1400),
            default_address_pools: vec!["base=10.201.0.0/16,size=24".into()],
            extra_args: vec!["--debug".into()],
        };
        let command = dockerd_command("dockerd", &settings);
        let args: Vec<_> = command.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        assert_eq!(
            args,
            [
                "--host=unix:///var/run/dockyard/docker.sock",
                "--group=2375",
                "--data-root=/var/lib/docker",
                "--mtu=1400",
                "--default-address-pool=base=10.201.0.0/16,size=24",
                "--debug"
            ]
        );
    }
}
