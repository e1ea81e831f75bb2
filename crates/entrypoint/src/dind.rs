//! What dockerd needs from the kernel inside a container, then dockerd itself.
//!
//! On cgroup v1 a container sees its own cgroup subtree mounted (often
//! read-only) at `/sys/fs/cgroup/<controller>`; dockerd needs hierarchies it
//! can write, so each one is mounted again, as the well-known `dind` wrapper
//! script does — but first in a new cgroup namespace, whose root is the
//! sidecar's own cgroup: the re-mount then shows only that subtree. The
//! daemon's containers live under the sidecar's cgroup (the Pod's memory, CPU
//! and PIDs limits bound them) and the node's hierarchy roots, with their
//! `release_agent`, are not visible at all. On cgroup v2 the processes move to
//! a child cgroup so the root's controllers can be delegated.
//!
//! With `userns-remap` (the `userNamespace` profile) the daemon's containers
//! run in a child user namespace: [`write_subid_files`] maps the sandbox user
//! to itself, so workspace binds stay writable for it, and everything else to
//! unprivileged ids; [`unmask_kernel_paths`] removes the runtime's masks over
//! `/proc` and `/sys`, which would otherwise stop the nested `proc`/`sysfs`
//! mounts a container in a child user namespace makes.

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

/// Makes cgroups usable for dockerd (see the module docs). Returns notes for the log.
pub fn prepare_cgroups() -> Result<Vec<String>, String> {
    make_kernel_paths_writable();
    if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        return delegate_cgroup_v2().map(|()| Vec::new());
    }
    // A cgroup namespace rooted at this container's cgroup: the mounts below
    // show its subtree only, and dockerd's `/docker/<id>` lands under it.
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWCGROUP)
        .map_err(|e| format!("unshare a cgroup namespace (needs CAP_SYS_ADMIN and seccomp allowing unshare): {e}"))?;
    let mut notes = vec!["cgroup namespace rooted at this container's cgroup".to_string()];
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
    notes.extend(allow_console_device());
    notes.extend(limit_containers_memory());
    Ok(notes)
}

/// Memory kept for the sidecar's own processes (dockerd, containerd, shims)
/// out of its limit: the daemon's containers share the rest.
pub const DAEMON_MEMORY_RESERVE: u64 = 128 * 1024 * 1024;

/// The memory limit of dockerd's cgroup parent (`/docker`, where every
/// container's cgroup goes) for a sidecar limited to `sidecar_limit` bytes:
/// an OOM among the containers then stays among them. The kubelet gives the
/// sidecar's processes the Pod's `oom_score_adj` (979 for a Burstable Pod),
/// the daemon gives its containers 0, so in the sidecar's own cgroup the OOM
/// killer would take dockerd first. None: no limit (or too small to split).
pub fn containers_memory_limit(sidecar_limit: u64) -> Option<u64> {
    (2 * DAEMON_MEMORY_RESERVE..(1 << 60)).contains(&sidecar_limit).then(|| sidecar_limit - DAEMON_MEMORY_RESERVE)
}

fn limit_containers_memory() -> Option<String> {
    let memory = Path::new("/sys/fs/cgroup/memory");
    let own: u64 = std::fs::read_to_string(memory.join("memory.limit_in_bytes")).ok()?.trim().parse().ok()?;
    let limit = containers_memory_limit(own)?;
    let parent = memory.join("docker");
    let result = std::fs::create_dir_all(&parent)
        .and_then(|()| std::fs::write(parent.join("memory.limit_in_bytes"), limit.to_string()));
    Some(match result {
        Ok(()) => {
            format!("containers' memory: {} MiB of the sidecar's {} MiB (cgroup /docker)", limit >> 20, own >> 20)
        }
        Err(e) => format!("warning: cannot limit the containers' cgroup /docker to {limit} bytes: {e}"),
    })
}

/// The device rule runc writes for every container that this container's
/// devices cgroup may lack: Kubernetes' allow-list for a non-privileged
/// container has no `/dev/console` (c 5:1). With the daemon's containers
/// nested under this cgroup, the kernel refuses a child a device its parent
/// lacks; the Pod's cgroup (the parent) allows it, so it can be added here.
pub const CONSOLE_DEVICE_RULE: &str = "c 5:1 rwm";

/// Whether a devices cgroup's `devices.list` already allows every device (a privileged container).
pub fn allows_every_device(devices_list: &str) -> bool {
    devices_list.lines().any(|l| l.trim() == "a *:* rwm")
}

fn allow_console_device() -> Option<String> {
    let dir = Path::new("/sys/fs/cgroup/devices");
    let list = std::fs::read_to_string(dir.join("devices.list")).ok()?;
    if allows_every_device(&list) {
        return None;
    }
    Some(match std::fs::write(dir.join("devices.allow"), CONSOLE_DEVICE_RULE) {
        Ok(()) => format!("devices cgroup: allowed {CONSOLE_DEVICE_RULE} (/dev/console) for nested containers"),
        Err(e) => {
            format!("warning: devices cgroup: cannot allow {CONSOLE_DEVICE_RULE}: {e}; containers may fail to start")
        }
    })
}

/// The mounts the container runtime put over `/proc` and `/sys` paths of a
/// non-privileged container, deepest first: masked paths (a bind of
/// `/dev/null` over a file, a read-only tmpfs over a directory) and read-only
/// re-binds of `/proc` subtrees (`/proc/sys`, `/proc/sysrq-trigger`, …).
///
/// The kernel lets a child user namespace mount `proc` or `sysfs` only when an
/// existing mount of it is fully visible (`mount_too_revealing`): any mount
/// over a non-empty directory or a file of it, locked when the mounts are
/// copied into the child's namespace, blocks that. runc mounts both for every
/// container; so with `userns-remap` they must go from the sidecar. The
/// daemon's containers get their own masks from runc again.
pub fn runtime_masks(mountinfo: &str) -> Vec<String> {
    let mut masks: Vec<String> = mountinfo
        .lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let fields: Vec<&str> = left.split_whitespace().collect();
            let (root, mount_point, options) = (*fields.get(3)?, *fields.get(4)?, *fields.get(5)?);
            let fs_type = right.split_whitespace().next()?;
            let under_proc = mount_point.starts_with("/proc/");
            let under_sys = mount_point.starts_with("/sys/") && !mount_point.starts_with("/sys/fs/cgroup");
            if !(under_proc || under_sys) {
                return None;
            }
            let read_only = options.split(',').any(|o| o == "ro");
            let dev_null = root == "/null" && matches!(fs_type, "tmpfs" | "devtmpfs");
            let empty_tmpfs = fs_type == "tmpfs" && read_only;
            let proc_rebind = under_proc && fs_type == "proc" && read_only;
            (dev_null || empty_tmpfs || proc_rebind).then(|| mount_point.to_string())
        })
        .collect();
    masks.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| b.cmp(a)));
    masks.dedup();
    masks
}

/// Unmounts [`runtime_masks`]; returns what was unmounted (and what could not be).
pub fn unmask_kernel_paths() -> Result<Vec<String>, String> {
    let mut notes = Vec::new();
    // Stacked masks (a path masked twice) need more than one pass.
    for _ in 0..3 {
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").map_err(|e| format!("read mountinfo: {e}"))?;
        let masks = runtime_masks(&mountinfo);
        if masks.is_empty() {
            break;
        }
        for path in masks {
            match umount2(path.as_str(), MntFlags::MNT_DETACH) {
                Ok(()) => notes.push(format!("unmasked {path}")),
                Err(e) => return Err(format!("cannot unmount the runtime's mask over {path}: {e}")),
            }
        }
    }
    Ok(notes)
}

/// The user dockerd's `--userns-remap` names; its ranges are in /etc/subuid and /etc/subgid.
pub const REMAP_USER: &str = "dockremap";
/// First host id of the unprivileged ranges: inner root is this id on the node.
pub const REMAP_BASE: u64 = 100_000;
/// Ids in a remapped container: 0..65535.
pub const REMAP_SIZE: u64 = 65_536;

/// Subordinate id ranges (`start`, `count`) for `--userns-remap`, in the order
/// dockerd maps them to inner ids from 0: inner ids below `id` go to
/// `REMAP_BASE + inner`, `id` to itself (the sandbox user's files in the
/// workspace are its own inside and out), the rest above it back to
/// `REMAP_BASE + inner`. 65536 inner ids, no host id twice. An id outside
/// 1..65535 cannot be mapped to itself: the plain range, without it.
pub fn subid_ranges(id: u32) -> Vec<(u64, u64)> {
    let id = u64::from(id);
    if id == 0 || id >= REMAP_SIZE {
        return vec![(REMAP_BASE, REMAP_SIZE)];
    }
    [(REMAP_BASE, id), (id, 1), (REMAP_BASE + id + 1, REMAP_SIZE - id - 1)]
        .into_iter()
        .filter(|&(_, count)| count > 0)
        .collect()
}

/// `/etc/subuid` (or subgid) text for `user` with `ranges`.
pub fn subid_file(user: &str, ranges: &[(u64, u64)]) -> String {
    ranges.iter().map(|(start, count)| format!("{user}:{start}:{count}\n")).collect()
}

/// The sandbox user's ids, mapped to themselves in the daemon's containers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UsernsRemap {
    pub uid: u32,
    pub gid: u32,
}

/// Writes /etc/subuid and /etc/subgid for [`REMAP_USER`], adding the account
/// when the image lacks it (Dockyard's DinD image has it). Returns notes for the log.
pub fn write_subid_files(remap: UsernsRemap) -> Result<Vec<String>, String> {
    let mut notes = Vec::new();
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let group = std::fs::read_to_string("/etc/group").unwrap_or_default();
    let has = |text: &str| text.lines().any(|l| l.split(':').next() == Some(REMAP_USER));
    if !has(&group) {
        append("/etc/group", &format!("{REMAP_USER}:x:{}:\n", REMAP_BASE - 1))?;
        notes.push(format!("added group {REMAP_USER} to /etc/group"));
    }
    if !has(&passwd) {
        let id = REMAP_BASE - 1;
        append("/etc/passwd", &format!("{REMAP_USER}:x:{id}:{id}::/nonexistent:/usr/sbin/nologin\n"))?;
        notes.push(format!("added user {REMAP_USER} to /etc/passwd"));
    }
    for (file, id) in [("/etc/subuid", remap.uid), ("/etc/subgid", remap.gid)] {
        let ranges = subid_ranges(id);
        std::fs::write(file, subid_file(REMAP_USER, &ranges)).map_err(|e| format!("write {file}: {e}"))?;
        let mapped = if ranges.len() == 1 { "not mapped to itself: outside 1..65535" } else { "mapped to itself" };
        notes.push(format!("{file}: {} ({id} {mapped})", subid_file(REMAP_USER, &ranges).trim().replace('\n', ", ")));
    }
    Ok(notes)
}

fn append(path: &str, line: &str) -> Result<(), String> {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(line.as_bytes()))
        .map_err(|e| format!("append to {path}: {e}"))
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
    /// The socket the workload uses.
    pub socket: String,
    /// The socket dockerd listens on. The same as `socket` while nothing
    /// stands between them; with the policy proxy, a path only the sidecar has
    /// (see `dind` in main.rs).
    pub raw_socket: String,
    /// Group of the workload's socket.
    pub group: u32,
    pub data_root: String,
    pub mtu: Option<u32>,
    pub default_address_pools: Vec<String>,
    pub registry_mirrors: Vec<String>,
    pub insecure_registries: Vec<String>,
    pub storage_driver: Option<String>,
    /// `--userns-remap` with this user (see [`write_subid_files`]).
    pub userns_remap: Option<String>,
    pub extra_args: Vec<String>,
}

impl DockerdSettings {
    /// Whether dockerd's own socket is the workload's (no proxy between them).
    pub fn serves_workload_directly(&self) -> bool {
        self.raw_socket == self.socket
    }
}

/// The dockerd command line for `settings`.
pub fn dockerd_command(dockerd: &str, settings: &DockerdSettings) -> Command {
    let mut command = Command::new(dockerd);
    // A raw socket behind a proxy belongs to root alone.
    let group = if settings.serves_workload_directly() { settings.group } else { 0 };
    command
        .arg(format!("--host=unix://{}", settings.raw_socket))
        .arg(format!("--group={group}"))
        .arg(format!("--data-root={}", settings.data_root));
    if let Some(mtu) = settings.mtu {
        command.arg(format!("--mtu={mtu}"));
    }
    for pool in &settings.default_address_pools {
        command.arg(format!("--default-address-pool={pool}"));
    }
    for mirror in &settings.registry_mirrors {
        command.arg(format!("--registry-mirror={mirror}"));
    }
    for registry in &settings.insecure_registries {
        command.arg(format!("--insecure-registry={registry}"));
    }
    if let Some(driver) = &settings.storage_driver {
        command.arg(format!("--storage-driver={driver}"));
    }
    if let Some(user) = &settings.userns_remap {
        command.arg(format!("--userns-remap={user}"));
    }
    command.args(&settings.extra_args);
    command
}

/// Creates the directories dockerd's paths live in.
pub fn prepare_paths(settings: &DockerdSettings) -> Result<(), String> {
    let dirs = [
        Path::new(&settings.socket).parent(),
        Path::new(&settings.raw_socket).parent(),
        Some(Path::new(&settings.data_root)),
    ];
    for dir in dirs.into_iter().flatten() {
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
            raw_socket: "/var/run/dockyard/docker.sock".into(),
            group: 2375,
            data_root: "/var/lib/docker".into(),
            mtu: Some(1400),
            default_address_pools: vec!["base=10.201.0.0/16,size=24".into()],
            registry_mirrors: vec!["https://mirror.example".into()],
            insecure_registries: vec!["registry.internal:5000".into()],
            storage_driver: Some("vfs".into()),
            userns_remap: Some("dockremap".into()),
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
                "--registry-mirror=https://mirror.example",
                "--insecure-registry=registry.internal:5000",
                "--storage-driver=vfs",
                "--userns-remap=dockremap",
                "--debug"
            ]
        );
    }

    #[test]
    fn a_raw_socket_behind_a_proxy_belongs_to_root() {
        let settings = DockerdSettings {
            socket: "/var/run/dockyard/docker.sock".into(),
            raw_socket: "/run/dockyard-dind/docker.sock".into(),
            group: 2375,
            data_root: "/var/lib/docker".into(),
            ..Default::default()
        };
        assert!(!settings.serves_workload_directly());
        let command = dockerd_command("dockerd", &settings);
        let args: Vec<_> = command.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        assert_eq!(args, ["--host=unix:///run/dockyard-dind/docker.sock", "--group=0", "--data-root=/var/lib/docker"]);
    }

    #[test]
    fn the_sandbox_user_is_mapped_to_itself_and_nothing_overlaps() {
        for id in [1u32, 2, 999, 1000, 1001, 4242, 65534, 65535] {
            let ranges = subid_ranges(id);
            assert_eq!(ranges.iter().map(|r| r.1).sum::<u64>(), REMAP_SIZE, "{id}: 65536 inner ids");
            // dockerd gives inner ids in file order: inner `id` must be host `id`.
            let mut inner = 0;
            let mut hosts = Vec::new();
            for &(start, count) in &ranges {
                if (inner..inner + count).contains(&u64::from(id)) {
                    assert_eq!(start + u64::from(id) - inner, u64::from(id), "{id} maps to itself");
                }
                assert!(inner > 0 || start == REMAP_BASE, "{id}: inner root is {start}, not {REMAP_BASE}");
                hosts.push((start, start + count));
                inner += count;
            }
            hosts.sort();
            assert!(hosts.windows(2).all(|w| w[0].1 <= w[1].0), "{id}: overlapping host ranges {hosts:?}");
        }
        assert_eq!(
            subid_file(REMAP_USER, &subid_ranges(1000)),
            "dockremap:100000:1000\ndockremap:1000:1\ndockremap:101001:64535\n"
        );
        assert_eq!(subid_ranges(65535), [(100000, 65535), (65535, 1)]);
        assert_eq!(subid_ranges(70000), [(100000, 65536)], "not mappable to itself: the plain range");
        assert_eq!(subid_ranges(0), [(100000, 65536)]);
    }

    #[test]
    fn only_the_runtimes_masks_are_unmounted() {
        // A non-privileged container under containerd + runc (trimmed).
        let mountinfo = "\
1200 1100 0:70 / / rw,relatime - overlay overlay rw,lowerdir=/l,upperdir=/u,workdir=/w
1201 1200 0:72 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw
1202 1200 0:73 / /dev rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755
1203 1200 0:74 / /sys ro,nosuid,nodev,noexec,relatime - sysfs sysfs ro
1204 1203 0:31 /kubepods/pod1/c1 /sys/fs/cgroup/memory ro,nosuid - cgroup cgroup rw,memory
1205 1200 8:1 /var/lib/kubelet/pods/p/volumes/w /workspace rw,relatime - ext4 /dev/sda1 rw
1206 1201 0:72 /bus /proc/bus ro,nosuid,nodev,noexec,relatime - proc proc rw
1207 1201 0:72 /sys /proc/sys ro,nosuid,nodev,noexec,relatime - proc proc rw
1208 1201 0:72 /sysrq-trigger /proc/sysrq-trigger ro,nosuid,nodev,noexec,relatime - proc proc rw
1209 1201 0:75 / /proc/acpi ro,relatime - tmpfs tmpfs ro
1210 1201 0:73 /null /proc/kcore rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755
1211 1201 0:73 /null /proc/keys rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755
1212 1203 0:76 / /sys/firmware ro,relatime - tmpfs tmpfs ro
1213 1202 0:77 / /dev/shm rw - tmpfs shm rw
1214 1200 0:78 / /tmp/x ro - tmpfs tmpfs ro";
        assert_eq!(
            runtime_masks(mountinfo),
            [
                "/proc/sysrq-trigger",
                "/sys/firmware",
                "/proc/kcore",
                "/proc/keys",
                "/proc/acpi",
                "/proc/sys",
                "/proc/bus",
            ]
        );
    }

    #[test]
    fn the_containers_leave_the_daemon_some_memory() {
        let mib = 1024 * 1024;
        assert_eq!(containers_memory_limit(512 * mib), Some(384 * mib));
        assert_eq!(containers_memory_limit(256 * mib), Some(128 * mib));
        assert_eq!(containers_memory_limit(200 * mib), None, "too small to split");
        assert_eq!(containers_memory_limit(9_223_372_036_854_771_712), None, "no limit");
    }

    #[test]
    fn a_privileged_devices_cgroup_is_left_alone() {
        assert!(allows_every_device("a *:* rwm\n"));
        assert!(!allows_every_device("c 1:3 rwm\nc 5:0 rwm\n"));
    }
}
