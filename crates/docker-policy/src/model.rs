//! Typed request bodies of the Docker Engine API, as dockerd reads them.
//!
//! Each type mirrors a moby Go type field for field, with the JSON names of
//! its Go tags. Where dockerd 20.10 (API 1.41) and the newest moby (API 1.5x)
//! differ, a type holds the union of both: Docker CLIs of both generations
//! send them, and Go ignores the fields a given daemon does not know.
//!
//! Go's value/pointer distinction is kept, because dockerd acts on it:
//!
//! - value scalars and value structs are plain Rust values; absent and zero
//!   mean the same to Go, so zero is not serialised;
//! - pointers, slices and maps are `Option`s: `None` is Go's `nil`, and
//!   `Some(vec![])` is an empty but non-nil slice, which dockerd may treat
//!   differently (`MaskedPaths: []` unmasks everything, `null` keeps the
//!   defaults);
//! - `map[string]struct{}` values are [`Empty`], Go's `strslice.StrSlice` is
//!   [`StrSlice`].
//!
//! Every struct refuses unknown fields: a field this crate does not know is
//! a field it cannot check. Serialising writes every non-zero value under its
//! Go name once, in a fixed order, so dockerd reads back the value that was
//! checked.
//!
//! Paths in the docs are in github.com/moby/moby; "20.10" means the v20.10.27
//! tag, "newest" the master branch (API 1.56).

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Whether a Go value-type field holds its zero value, which Go cannot tell
/// from an absent one.
fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

/// The value of a Go `map[string]struct{}` (`ExposedPorts`, `Volumes`): `{}`
/// and nothing else.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

/// A list of strings that may arrive as a single JSON string (one element),
/// as Go's `strslice.StrSlice` (api/types/strslice/strslice.go in 20.10 and
/// 28.x) accepts. Always serialised as an array.
///
/// The newest moby made `Cmd`, `Entrypoint`, `Shell`, `CapAdd` and `CapDrop`
/// plain `[]string` and refuses the single string; an array means the same to
/// every version.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StrSlice(pub Vec<String>);

impl Serialize for StrSlice {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for StrSlice {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StrSliceVisitor;

        impl<'de> Visitor<'de> for StrSliceVisitor {
            type Value = StrSlice;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or an array of strings")
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<StrSlice, E> {
                Ok(StrSlice(vec![value.to_owned()]))
            }

            fn visit_string<E: de::Error>(self, value: String) -> Result<StrSlice, E> {
                Ok(StrSlice(vec![value]))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<StrSlice, A::Error> {
                let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
                while let Some(item) = seq.next_element::<String>()? {
                    items.push(item);
                }
                Ok(StrSlice(items))
            }
        }

        deserializer.deserialize_any(StrSliceVisitor)
    }
}

impl From<Vec<String>> for StrSlice {
    fn from(items: Vec<String>) -> Self {
        StrSlice(items)
    }
}

/// Defines a struct with the given fields followed by every field of Go's
/// `container.Config` (api/types/container/config.go), union of 20.10 and
/// newest. Used for [`ContainerConfig`] and [`ContainerCreate`], which
/// embeds `*container.Config` so that its fields sit at the top level.
///
/// A macro rather than `#[serde(flatten)]`: flatten defeats
/// `deny_unknown_fields` and goes through `deserialize_map`, which a
/// Go-semantics deserializer cannot drive field by field.
macro_rules! with_container_config_fields {
    ($(#[$meta:meta])* pub struct $name:ident { $($fields:tt)* }) => {
        $(#[$meta])*
        pub struct $name {
            $($fields)*
            #[serde(rename = "Hostname", skip_serializing_if = "is_default")]
            pub hostname: String,
            #[serde(rename = "Domainname", skip_serializing_if = "is_default")]
            pub domainname: String,
            #[serde(rename = "User", skip_serializing_if = "is_default")]
            pub user: String,
            #[serde(rename = "AttachStdin", skip_serializing_if = "is_default")]
            pub attach_stdin: bool,
            #[serde(rename = "AttachStdout", skip_serializing_if = "is_default")]
            pub attach_stdout: bool,
            #[serde(rename = "AttachStderr", skip_serializing_if = "is_default")]
            pub attach_stderr: bool,
            /// Keys are `port/proto` (`nat.PortSet`, newest `network.PortSet`).
            #[serde(rename = "ExposedPorts", skip_serializing_if = "Option::is_none")]
            pub exposed_ports: Option<BTreeMap<String, Empty>>,
            #[serde(rename = "Tty", skip_serializing_if = "is_default")]
            pub tty: bool,
            #[serde(rename = "OpenStdin", skip_serializing_if = "is_default")]
            pub open_stdin: bool,
            #[serde(rename = "StdinOnce", skip_serializing_if = "is_default")]
            pub stdin_once: bool,
            #[serde(rename = "Env", skip_serializing_if = "Option::is_none")]
            pub env: Option<Vec<String>>,
            /// `None` (or empty) takes the image's `CMD` when the entrypoint
            /// is empty too.
            #[serde(rename = "Cmd", skip_serializing_if = "Option::is_none")]
            pub cmd: Option<StrSlice>,
            #[serde(rename = "Healthcheck", skip_serializing_if = "Option::is_none")]
            pub healthcheck: Option<HealthConfig>,
            #[serde(rename = "ArgsEscaped", skip_serializing_if = "is_default")]
            pub args_escaped: bool,
            #[serde(rename = "Image", skip_serializing_if = "is_default")]
            pub image: String,
            /// Anonymous volumes to create and mount at these paths.
            #[serde(rename = "Volumes", skip_serializing_if = "Option::is_none")]
            pub volumes: Option<BTreeMap<String, Empty>>,
            #[serde(rename = "WorkingDir", skip_serializing_if = "is_default")]
            pub working_dir: String,
            /// `None` takes the image's `ENTRYPOINT`; `Some` replaces it, even
            /// when empty (the CLI's `--entrypoint ""` sends `[""]`).
            #[serde(rename = "Entrypoint", skip_serializing_if = "Option::is_none")]
            pub entrypoint: Option<StrSlice>,
            #[serde(rename = "NetworkDisabled", skip_serializing_if = "is_default")]
            pub network_disabled: bool,
            /// Deprecated since API 1.44 (moved to
            /// [`EndpointSettings::mac_address`]); dockerd migrates it for
            /// API < 1.52 by re-reading the raw body, and refuses it from
            /// 1.52 on. Gone from the newest `container.Config`.
            #[serde(rename = "MacAddress", skip_serializing_if = "is_default")]
            pub mac_address: String,
            #[serde(rename = "OnBuild", skip_serializing_if = "Option::is_none")]
            pub on_build: Option<Vec<String>>,
            #[serde(rename = "Labels", skip_serializing_if = "Option::is_none")]
            pub labels: Option<BTreeMap<String, String>>,
            #[serde(rename = "StopSignal", skip_serializing_if = "is_default")]
            pub stop_signal: String,
            /// Seconds (Go `*int`).
            #[serde(rename = "StopTimeout", skip_serializing_if = "Option::is_none")]
            pub stop_timeout: Option<i64>,
            #[serde(rename = "Shell", skip_serializing_if = "Option::is_none")]
            pub shell: Option<StrSlice>,
        }
    };
}

/// Defines a struct with the given fields followed by every field of Go's
/// `container.Resources` (api/types/container/hostconfig.go, 20.10:
/// host_config.go), union of 20.10 and newest. Go embeds `Resources` in
/// `HostConfig` and `UpdateConfig`, so its fields sit at the same level as
/// theirs: used for [`Resources`], [`HostConfig`] and [`ContainerUpdate`].
/// A macro for the same reason as `with_container_config_fields!`.
macro_rules! with_resources_fields {
    ($(#[$meta:meta])* pub struct $name:ident { $($fields:tt)* }) => {
        $(#[$meta])*
        pub struct $name {
            $($fields)*
            #[serde(rename = "CpuShares", skip_serializing_if = "is_default")]
            pub cpu_shares: i64,
            /// Bytes.
            #[serde(rename = "Memory", skip_serializing_if = "is_default")]
            pub memory: i64,
            /// CPUs × 10⁹.
            #[serde(rename = "NanoCpus", skip_serializing_if = "is_default")]
            pub nano_cpus: i64,
            #[serde(rename = "CgroupParent", skip_serializing_if = "is_default")]
            pub cgroup_parent: String,
            #[serde(rename = "BlkioWeight", skip_serializing_if = "is_default")]
            pub blkio_weight: u16,
            #[serde(rename = "BlkioWeightDevice", skip_serializing_if = "Option::is_none")]
            pub blkio_weight_device: Option<Vec<WeightDevice>>,
            #[serde(rename = "BlkioDeviceReadBps", skip_serializing_if = "Option::is_none")]
            pub blkio_device_read_bps: Option<Vec<ThrottleDevice>>,
            #[serde(rename = "BlkioDeviceWriteBps", skip_serializing_if = "Option::is_none")]
            pub blkio_device_write_bps: Option<Vec<ThrottleDevice>>,
            #[serde(rename = "BlkioDeviceReadIOps", skip_serializing_if = "Option::is_none")]
            pub blkio_device_read_iops: Option<Vec<ThrottleDevice>>,
            #[serde(rename = "BlkioDeviceWriteIOps", skip_serializing_if = "Option::is_none")]
            pub blkio_device_write_iops: Option<Vec<ThrottleDevice>>,
            #[serde(rename = "CpuPeriod", skip_serializing_if = "is_default")]
            pub cpu_period: i64,
            #[serde(rename = "CpuQuota", skip_serializing_if = "is_default")]
            pub cpu_quota: i64,
            #[serde(rename = "CpuRealtimePeriod", skip_serializing_if = "is_default")]
            pub cpu_realtime_period: i64,
            #[serde(rename = "CpuRealtimeRuntime", skip_serializing_if = "is_default")]
            pub cpu_realtime_runtime: i64,
            #[serde(rename = "CpusetCpus", skip_serializing_if = "is_default")]
            pub cpuset_cpus: String,
            #[serde(rename = "CpusetMems", skip_serializing_if = "is_default")]
            pub cpuset_mems: String,
            /// Host devices to expose in the container.
            #[serde(rename = "Devices", skip_serializing_if = "Option::is_none")]
            pub devices: Option<Vec<DeviceMapping>>,
            /// Extra device cgroup rules, e.g. `c 1:3 rwm`.
            #[serde(rename = "DeviceCgroupRules", skip_serializing_if = "Option::is_none")]
            pub device_cgroup_rules: Option<Vec<String>>,
            /// GPUs and other driver-provided devices (`--gpus`).
            #[serde(rename = "DeviceRequests", skip_serializing_if = "Option::is_none")]
            pub device_requests: Option<Vec<DeviceRequest>>,
            /// 20.10 to 28.x only; ignored on cgroup v2.
            #[serde(rename = "KernelMemory", skip_serializing_if = "is_default")]
            pub kernel_memory: i64,
            /// 20.10 to 28.x only.
            #[serde(rename = "KernelMemoryTCP", skip_serializing_if = "is_default")]
            pub kernel_memory_tcp: i64,
            #[serde(rename = "MemoryReservation", skip_serializing_if = "is_default")]
            pub memory_reservation: i64,
            /// Memory plus swap, bytes; -1 is unlimited swap.
            #[serde(rename = "MemorySwap", skip_serializing_if = "is_default")]
            pub memory_swap: i64,
            /// The CLI sends -1 ("unset") on create.
            #[serde(rename = "MemorySwappiness", skip_serializing_if = "Option::is_none")]
            pub memory_swappiness: Option<i64>,
            #[serde(rename = "OomKillDisable", skip_serializing_if = "Option::is_none")]
            pub oom_kill_disable: Option<bool>,
            /// `None` keeps the daemon's default (create) or the current value
            /// (update); zero or negative means unlimited.
            #[serde(rename = "PidsLimit", skip_serializing_if = "Option::is_none")]
            pub pids_limit: Option<i64>,
            #[serde(rename = "Ulimits", skip_serializing_if = "Option::is_none")]
            pub ulimits: Option<Vec<Ulimit>>,
            #[serde(rename = "CpuCount", skip_serializing_if = "is_default")]
            pub cpu_count: i64,
            #[serde(rename = "CpuPercent", skip_serializing_if = "is_default")]
            pub cpu_percent: i64,
            #[serde(rename = "IOMaximumIOps", skip_serializing_if = "is_default")]
            pub io_maximum_iops: u64,
            #[serde(rename = "IOMaximumBandwidth", skip_serializing_if = "is_default")]
            pub io_maximum_bandwidth: u64,
        }
    };
}

with_container_config_fields! {
    /// The portable configuration of a container: the top level of the
    /// `POST /containers/create` body (see [`ContainerCreate`]) and the
    /// `POST /commit` body.
    ///
    /// Go: `container.Config`, api/types/container/config.go.
    #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    pub struct ContainerConfig {}
}

/// A container's health check, in `ContainerConfig.Healthcheck`.
///
/// Go: `container.HealthConfig`, api/types/container/config.go (20.10); in
/// the newest an alias of `HealthcheckConfig` in
/// github.com/moby/docker-image-spec/specs-go/v1/image.go.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HealthConfig {
    /// `None`/empty inherits the image's check, `["NONE"]` disables it,
    /// `["CMD", ...]` and `["CMD-SHELL", cmd]` run a command.
    #[serde(rename = "Test", skip_serializing_if = "Option::is_none")]
    pub test: Option<Vec<String>>,
    /// Nanoseconds (Go `time.Duration`); zero inherits.
    #[serde(rename = "Interval", skip_serializing_if = "is_default")]
    pub interval: i64,
    /// Nanoseconds.
    #[serde(rename = "Timeout", skip_serializing_if = "is_default")]
    pub timeout: i64,
    /// Nanoseconds.
    #[serde(rename = "StartPeriod", skip_serializing_if = "is_default")]
    pub start_period: i64,
    /// Nanoseconds; API 1.44 on (dockerd zeroes it for older clients).
    #[serde(rename = "StartInterval", skip_serializing_if = "is_default")]
    pub start_interval: i64,
    #[serde(rename = "Retries", skip_serializing_if = "is_default")]
    pub retries: i64,
}

with_resources_fields! {
    /// A container's resource limits (cgroups, ulimits, devices). Appears
    /// flattened into [`HostConfig`] and [`ContainerUpdate`]; this struct is
    /// the part of those two that is only resources.
    ///
    /// Go: `container.Resources`, api/types/container/hostconfig.go (20.10:
    /// host_config.go).
    #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    pub struct Resources {}
}

with_resources_fields! {
    /// The body of `POST /containers/{id}/update`: resources and restart
    /// policy to change on an existing container. Zero values and `None`
    /// leave the current setting alone.
    ///
    /// Go: `container.UpdateConfig` (embedded `Resources` + `RestartPolicy`),
    /// api/types/container/hostconfig.go (20.10: host_config.go).
    #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    pub struct ContainerUpdate {
        /// Changed only when `name` is non-empty.
        #[serde(rename = "RestartPolicy", skip_serializing_if = "is_default")]
        pub restart_policy: RestartPolicy,
    }
}

with_resources_fields! {
    /// The host-dependent configuration of a container: `HostConfig` in the
    /// `POST /containers/create` body. dockerd 20.10 also reads these fields
    /// at the body's top level (deprecated embedded `*container.HostConfig`
    /// of `runconfig.ContainerConfigWrapper`); [`ContainerCreate`] leaves
    /// them out.
    ///
    /// Go: `container.HostConfig` with its embedded `Resources`,
    /// api/types/container/hostconfig.go (20.10: host_config.go).
    #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    pub struct HostConfig {
        /// `src:dst[:opts]` bind mounts and named volumes.
        #[serde(rename = "Binds", skip_serializing_if = "Option::is_none")]
        pub binds: Option<Vec<String>>,
        #[serde(rename = "ContainerIDFile", skip_serializing_if = "is_default")]
        pub container_id_file: String,
        #[serde(rename = "LogConfig", skip_serializing_if = "is_default")]
        pub log_config: LogConfig,
        /// Empty is `default`; also `bridge`, `host`, `none`,
        /// `container:<id>`, or a network name.
        #[serde(rename = "NetworkMode", skip_serializing_if = "is_default")]
        pub network_mode: String,
        /// Keys are `port/proto` (`nat.PortMap`, newest `network.PortMap`).
        /// A `null` or empty list publishes the port on an ephemeral host
        /// port (dockerd backfills `[{}]`).
        #[serde(rename = "PortBindings", skip_serializing_if = "Option::is_none")]
        pub port_bindings: Option<BTreeMap<String, Option<Vec<PortBinding>>>>,
        #[serde(rename = "RestartPolicy", skip_serializing_if = "is_default")]
        pub restart_policy: RestartPolicy,
        #[serde(rename = "AutoRemove", skip_serializing_if = "is_default")]
        pub auto_remove: bool,
        #[serde(rename = "VolumeDriver", skip_serializing_if = "is_default")]
        pub volume_driver: String,
        /// `container[:ro|rw]`: mounts all volumes of another container.
        #[serde(rename = "VolumesFrom", skip_serializing_if = "Option::is_none")]
        pub volumes_from: Option<Vec<String>>,
        /// Height and width (Go `[2]uint`, a value). Ignored for API < 1.42.
        #[serde(rename = "ConsoleSize", skip_serializing_if = "is_default")]
        pub console_size: [u64; 2],
        /// OCI annotations passed to the runtime; API 1.43 on (dockerd drops
        /// them for older clients).
        #[serde(rename = "Annotations", skip_serializing_if = "Option::is_none")]
        pub annotations: Option<BTreeMap<String, String>>,
        #[serde(rename = "CapAdd", skip_serializing_if = "Option::is_none")]
        pub cap_add: Option<StrSlice>,
        #[serde(rename = "CapDrop", skip_serializing_if = "Option::is_none")]
        pub cap_drop: Option<StrSlice>,
        #[serde(rename = "CgroupnsMode", skip_serializing_if = "is_default")]
        pub cgroupns_mode: String,
        #[serde(rename = "Dns", skip_serializing_if = "Option::is_none")]
        pub dns: Option<Vec<String>>,
        #[serde(rename = "DnsOptions", skip_serializing_if = "Option::is_none")]
        pub dns_options: Option<Vec<String>>,
        #[serde(rename = "DnsSearch", skip_serializing_if = "Option::is_none")]
        pub dns_search: Option<Vec<String>>,
        #[serde(rename = "ExtraHosts", skip_serializing_if = "Option::is_none")]
        pub extra_hosts: Option<Vec<String>>,
        #[serde(rename = "GroupAdd", skip_serializing_if = "Option::is_none")]
        pub group_add: Option<Vec<String>>,
        #[serde(rename = "IpcMode", skip_serializing_if = "is_default")]
        pub ipc_mode: String,
        #[serde(rename = "Cgroup", skip_serializing_if = "is_default")]
        pub cgroup: String,
        #[serde(rename = "Links", skip_serializing_if = "Option::is_none")]
        pub links: Option<Vec<String>>,
        #[serde(rename = "OomScoreAdj", skip_serializing_if = "is_default")]
        pub oom_score_adj: i64,
        #[serde(rename = "PidMode", skip_serializing_if = "is_default")]
        pub pid_mode: String,
        #[serde(rename = "Privileged", skip_serializing_if = "is_default")]
        pub privileged: bool,
        #[serde(rename = "PublishAllPorts", skip_serializing_if = "is_default")]
        pub publish_all_ports: bool,
        #[serde(rename = "ReadonlyRootfs", skip_serializing_if = "is_default")]
        pub readonly_rootfs: bool,
        #[serde(rename = "SecurityOpt", skip_serializing_if = "Option::is_none")]
        pub security_opt: Option<Vec<String>>,
        #[serde(rename = "StorageOpt", skip_serializing_if = "Option::is_none")]
        pub storage_opt: Option<BTreeMap<String, String>>,
        /// Mount point to tmpfs options.
        #[serde(rename = "Tmpfs", skip_serializing_if = "Option::is_none")]
        pub tmpfs: Option<BTreeMap<String, String>>,
        #[serde(rename = "UTSMode", skip_serializing_if = "is_default")]
        pub uts_mode: String,
        #[serde(rename = "UsernsMode", skip_serializing_if = "is_default")]
        pub userns_mode: String,
        /// Bytes.
        #[serde(rename = "ShmSize", skip_serializing_if = "is_default")]
        pub shm_size: i64,
        #[serde(rename = "Sysctls", skip_serializing_if = "Option::is_none")]
        pub sysctls: Option<BTreeMap<String, String>>,
        #[serde(rename = "Runtime", skip_serializing_if = "is_default")]
        pub runtime: String,
        #[serde(rename = "Isolation", skip_serializing_if = "is_default")]
        pub isolation: String,
        #[serde(rename = "Mounts", skip_serializing_if = "Option::is_none")]
        pub mounts: Option<Vec<Mount>>,
        /// `None` masks dockerd's default paths (unless privileged);
        /// `Some(vec![])` masks nothing.
        #[serde(rename = "MaskedPaths", skip_serializing_if = "Option::is_none")]
        pub masked_paths: Option<Vec<String>>,
        /// `None` makes dockerd's default paths read-only (unless
        /// privileged); `Some(vec![])` none.
        #[serde(rename = "ReadonlyPaths", skip_serializing_if = "Option::is_none")]
        pub readonly_paths: Option<Vec<String>>,
        /// `None` follows the daemon's `init` setting.
        #[serde(rename = "Init", skip_serializing_if = "Option::is_none")]
        pub init: Option<bool>,
    }
}

with_container_config_fields! {
    /// The body of `POST /containers/create`: the container's
    /// [`ContainerConfig`] fields at the top level, plus its [`HostConfig`]
    /// and [`NetworkingConfig`].
    ///
    /// Go: `container.CreateRequest` (`*Config` embedded), newest
    /// api/types/container/create_request.go; in 20.10
    /// `runconfig.ContainerConfigWrapper`, runconfig/config_unix.go, which
    /// also embeds a deprecated `*container.HostConfig` whose fields may
    /// appear at the top level: those are not part of this struct.
    #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    pub struct ContainerCreate {
        /// `None` on 28.x and newer skips dockerd's HostConfig validation
        /// (and 28.x its default network mode).
        #[serde(rename = "HostConfig", skip_serializing_if = "Option::is_none")]
        pub host_config: Option<HostConfig>,
        #[serde(rename = "NetworkingConfig", skip_serializing_if = "Option::is_none")]
        pub networking_config: Option<NetworkingConfig>,
        /// Deprecated alias of `HostConfig.CpusetCpus`, read by dockerd 20.10
        /// only, when that is empty.
        #[serde(rename = "Cpuset", skip_serializing_if = "is_default")]
        pub cpuset: String,
    }
}

/// Where a container's logs go, in `HostConfig.LogConfig`.
///
/// Go: `container.LogConfig`, api/types/container/hostconfig.go.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    #[serde(rename = "Type", skip_serializing_if = "is_default")]
    pub r#type: String,
    #[serde(rename = "Config", skip_serializing_if = "Option::is_none")]
    pub config: Option<BTreeMap<String, String>>,
}

/// When dockerd restarts a container, in `HostConfig.RestartPolicy` and the
/// body of `POST /containers/{id}/update`.
///
/// Go: `container.RestartPolicy`, api/types/container/hostconfig.go.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RestartPolicy {
    /// `no`, `always`, `on-failure`, `unless-stopped`, or empty (`no`).
    #[serde(rename = "Name", skip_serializing_if = "is_default")]
    pub name: String,
    #[serde(rename = "MaximumRetryCount", skip_serializing_if = "is_default")]
    pub maximum_retry_count: i64,
}

/// One host address a container port is published on, in
/// `HostConfig.PortBindings`.
///
/// Go: `nat.PortBinding` (github.com/docker/go-connections/nat) in 20.10,
/// `network.PortBinding`, api/types/network/port.go, in the newest.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PortBinding {
    /// Empty is every host address.
    #[serde(rename = "HostIp", skip_serializing_if = "is_default")]
    pub host_ip: String,
    /// A port, a range `a-b`, or empty (ephemeral).
    #[serde(rename = "HostPort", skip_serializing_if = "is_default")]
    pub host_port: String,
}

/// A block IO weight for one device, in `BlkioWeightDevice`.
///
/// Go: `blkiodev.WeightDevice`, api/types/blkiodev/blkio.go.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WeightDevice {
    #[serde(rename = "Path", skip_serializing_if = "is_default")]
    pub path: String,
    #[serde(rename = "Weight", skip_serializing_if = "is_default")]
    pub weight: u16,
}

/// A block IO rate limit for one device, in `BlkioDevice{Read,Write}{Bps,IOps}`.
///
/// Go: `blkiodev.ThrottleDevice`, api/types/blkiodev/blkio.go.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ThrottleDevice {
    #[serde(rename = "Path", skip_serializing_if = "is_default")]
    pub path: String,
    #[serde(rename = "Rate", skip_serializing_if = "is_default")]
    pub rate: u64,
}

/// A host device exposed in the container, in `Devices`.
///
/// Go: `container.DeviceMapping`, api/types/container/hostconfig.go.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeviceMapping {
    #[serde(rename = "PathOnHost", skip_serializing_if = "is_default")]
    pub path_on_host: String,
    #[serde(rename = "PathInContainer", skip_serializing_if = "is_default")]
    pub path_in_container: String,
    #[serde(rename = "CgroupPermissions", skip_serializing_if = "is_default")]
    pub cgroup_permissions: String,
}

/// Devices requested from a device driver (GPUs), in `DeviceRequests`.
///
/// Go: `container.DeviceRequest`, api/types/container/hostconfig.go.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeviceRequest {
    #[serde(rename = "Driver", skip_serializing_if = "is_default")]
    pub driver: String,
    /// -1 is all devices.
    #[serde(rename = "Count", skip_serializing_if = "is_default")]
    pub count: i64,
    #[serde(rename = "DeviceIDs", skip_serializing_if = "Option::is_none")]
    pub device_ids: Option<Vec<String>>,
    /// An OR of ANDs of capabilities (`[["gpu"]]`). dockerd only takes the
    /// length of the inner lists, so they are not `Option`s.
    #[serde(rename = "Capabilities", skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<Vec<Vec<String>>>,
    #[serde(rename = "Options", skip_serializing_if = "Option::is_none")]
    pub options: Option<BTreeMap<String, String>>,
}

/// A resource limit (`setrlimit`), in `Ulimits`.
///
/// Go: `units.Ulimit` (github.com/docker/go-units/ulimit.go), aliased as
/// `container.Ulimit` in the newest.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Ulimit {
    #[serde(rename = "Name", skip_serializing_if = "is_default")]
    pub name: String,
    #[serde(rename = "Hard", skip_serializing_if = "is_default")]
    pub hard: i64,
    #[serde(rename = "Soft", skip_serializing_if = "is_default")]
    pub soft: i64,
}

/// A mount (`--mount`), in `HostConfig.Mounts`.
///
/// Go: `mount.Mount`, api/types/mount/mount.go.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Mount {
    /// `bind`, `volume`, `tmpfs`, `npipe`, `cluster`, `image` (API 1.48 on).
    #[serde(rename = "Type", skip_serializing_if = "is_default")]
    pub r#type: String,
    #[serde(rename = "Source", skip_serializing_if = "is_default")]
    pub source: String,
    #[serde(rename = "Target", skip_serializing_if = "is_default")]
    pub target: String,
    #[serde(rename = "ReadOnly", skip_serializing_if = "is_default")]
    pub read_only: bool,
    #[serde(rename = "Consistency", skip_serializing_if = "is_default")]
    pub consistency: String,
    #[serde(rename = "BindOptions", skip_serializing_if = "Option::is_none")]
    pub bind_options: Option<BindOptions>,
    #[serde(rename = "VolumeOptions", skip_serializing_if = "Option::is_none")]
    pub volume_options: Option<VolumeOptions>,
    /// API 1.48 on.
    #[serde(rename = "ImageOptions", skip_serializing_if = "Option::is_none")]
    pub image_options: Option<ImageOptions>,
    #[serde(rename = "TmpfsOptions", skip_serializing_if = "Option::is_none")]
    pub tmpfs_options: Option<TmpfsOptions>,
    /// Swarm cluster volumes; Go's `ClusterOptions` has no fields.
    #[serde(rename = "ClusterOptions", skip_serializing_if = "Option::is_none")]
    pub cluster_options: Option<Empty>,
}

/// Options of a `bind` mount, in `Mount.BindOptions`.
///
/// Go: `mount.BindOptions`, api/types/mount/mount.go.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BindOptions {
    #[serde(rename = "Propagation", skip_serializing_if = "is_default")]
    pub propagation: String,
    #[serde(rename = "NonRecursive", skip_serializing_if = "is_default")]
    pub non_recursive: bool,
    /// API 1.42 on: create the source path on the host if missing.
    #[serde(rename = "CreateMountpoint", skip_serializing_if = "is_default")]
    pub create_mountpoint: bool,
    /// API 1.44 on.
    #[serde(rename = "ReadOnlyNonRecursive", skip_serializing_if = "is_default")]
    pub read_only_non_recursive: bool,
    /// API 1.44 on.
    #[serde(rename = "ReadOnlyForceRecursive", skip_serializing_if = "is_default")]
    pub read_only_force_recursive: bool,
}

/// Options of a `volume` mount, in `Mount.VolumeOptions`.
///
/// Go: `mount.VolumeOptions`, api/types/mount/mount.go.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VolumeOptions {
    #[serde(rename = "NoCopy", skip_serializing_if = "is_default")]
    pub no_copy: bool,
    #[serde(rename = "Labels", skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    /// A path inside the volume to mount instead of its root; API 1.45 on.
    #[serde(rename = "Subpath", skip_serializing_if = "is_default")]
    pub subpath: String,
    /// Driver and options for a volume the mount creates.
    #[serde(rename = "DriverConfig", skip_serializing_if = "Option::is_none")]
    pub driver_config: Option<MountDriver>,
}

/// The volume driver of a `volume` mount, in `VolumeOptions.DriverConfig`.
///
/// Go: `mount.Driver`, api/types/mount/mount.go.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MountDriver {
    #[serde(rename = "Name", skip_serializing_if = "is_default")]
    pub name: String,
    /// Passed to the driver; for `local`, `type`/`device`/`o` are a
    /// `mount(2)` of anything, host paths included.
    #[serde(rename = "Options", skip_serializing_if = "Option::is_none")]
    pub options: Option<BTreeMap<String, String>>,
}

/// Options of an `image` mount (API 1.48 on), in `Mount.ImageOptions`.
///
/// Go: `mount.ImageOptions`, api/types/mount/mount.go (not in 20.10).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImageOptions {
    #[serde(rename = "Subpath", skip_serializing_if = "is_default")]
    pub subpath: String,
}

/// Options of a `tmpfs` mount, in `Mount.TmpfsOptions`.
///
/// Go: `mount.TmpfsOptions`, api/types/mount/mount.go.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TmpfsOptions {
    /// Bytes.
    #[serde(rename = "SizeBytes", skip_serializing_if = "is_default")]
    pub size_bytes: i64,
    /// Go `os.FileMode`, as a plain number (the CLI's `tmpfs-mode=1777`
    /// arrives as 1023).
    #[serde(rename = "Mode", skip_serializing_if = "is_default")]
    pub mode: u32,
    /// Raw tmpfs options, each `[key]` or `[key, value]`; API 1.46 on.
    /// dockerd only takes the length of the inner lists.
    #[serde(rename = "Options", skip_serializing_if = "Option::is_none")]
    pub options: Option<Vec<Vec<String>>>,
}

/// The networks to connect a new container to: `NetworkingConfig` in the
/// `POST /containers/create` body.
///
/// Go: `network.NetworkingConfig`, api/types/network/network.go (newest:
/// network_types.go).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetworkingConfig {
    /// Network name or ID to endpoint settings. API < 1.44 allows one entry
    /// only. The key `default` stands for `HostConfig.NetworkMode`'s default
    /// network. Go's values are pointers; a `null` value is not modelled.
    #[serde(rename = "EndpointsConfig", skip_serializing_if = "Option::is_none")]
    pub endpoints_config: Option<BTreeMap<String, EndpointSettings>>,
}

/// A container's endpoint on one network: in
/// `NetworkingConfig.EndpointsConfig` of `POST /containers/create` and
/// `EndpointConfig` of `POST /networks/{id}/connect`.
///
/// Go: `network.EndpointSettings`, api/types/network/endpoint.go. The newest
/// types the addresses as `netip.Addr`/`HardwareAddr`, which read an empty
/// string as unset and refuse unparsable ones; 20.10 and 28.x take any string.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EndpointSettings {
    /// Static addresses requested for the endpoint.
    #[serde(rename = "IPAMConfig", skip_serializing_if = "Option::is_none")]
    pub ipam_config: Option<EndpointIpamConfig>,
    #[serde(rename = "Links", skip_serializing_if = "Option::is_none")]
    pub links: Option<Vec<String>>,
    /// Extra DNS names of the container on this network.
    #[serde(rename = "Aliases", skip_serializing_if = "Option::is_none")]
    pub aliases: Option<Vec<String>>,
    /// Passed to the network driver; includes
    /// `com.docker.network.endpoint.sysctls`, into which dockerd also
    /// migrates `HostConfig.Sysctls` entries `net.*.*.eth0.*` (API ≤ 1.47).
    #[serde(rename = "DriverOpts", skip_serializing_if = "Option::is_none")]
    pub driver_opts: Option<BTreeMap<String, String>>,
    /// API 1.48 on (dockerd zeroes it for older clients).
    #[serde(rename = "GwPriority", skip_serializing_if = "is_default")]
    pub gw_priority: i64,
    /// Honoured from API 1.44 on; older clients use
    /// `ContainerConfig::mac_address`.
    #[serde(rename = "MacAddress", skip_serializing_if = "is_default")]
    pub mac_address: String,
    #[serde(rename = "NetworkID", skip_serializing_if = "is_default")]
    pub network_id: String,
    #[serde(rename = "EndpointID", skip_serializing_if = "is_default")]
    pub endpoint_id: String,
    #[serde(rename = "Gateway", skip_serializing_if = "is_default")]
    pub gateway: String,
    #[serde(rename = "IPAddress", skip_serializing_if = "is_default")]
    pub ip_address: String,
    #[serde(rename = "IPPrefixLen", skip_serializing_if = "is_default")]
    pub ip_prefix_len: i64,
    #[serde(rename = "IPv6Gateway", skip_serializing_if = "is_default")]
    pub ipv6_gateway: String,
    #[serde(rename = "GlobalIPv6Address", skip_serializing_if = "is_default")]
    pub global_ipv6_address: String,
    #[serde(rename = "GlobalIPv6PrefixLen", skip_serializing_if = "is_default")]
    pub global_ipv6_prefix_len: i64,
    /// API 1.44 on.
    #[serde(rename = "DNSNames", skip_serializing_if = "Option::is_none")]
    pub dns_names: Option<Vec<String>>,
}

/// Static addresses of an endpoint, in `EndpointSettings.IPAMConfig`.
///
/// Go: `network.EndpointIPAMConfig`, api/types/network/endpoint.go.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EndpointIpamConfig {
    #[serde(rename = "IPv4Address", skip_serializing_if = "is_default")]
    pub ipv4_address: String,
    #[serde(rename = "IPv6Address", skip_serializing_if = "is_default")]
    pub ipv6_address: String,
    #[serde(rename = "LinkLocalIPs", skip_serializing_if = "Option::is_none")]
    pub link_local_ips: Option<Vec<String>>,
}

/// The body of `POST /containers/{id}/exec`.
///
/// Go: `types.ExecConfig`, api/types/configs.go (20.10);
/// `container.ExecOptions`, api/types/container/exec.go (28.x);
/// `container.ExecCreateRequest`, api/types/container/exec_create_request.go
/// (newest).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExecCreate {
    #[serde(rename = "User", skip_serializing_if = "is_default")]
    pub user: String,
    #[serde(rename = "Privileged", skip_serializing_if = "is_default")]
    pub privileged: bool,
    #[serde(rename = "Tty", skip_serializing_if = "is_default")]
    pub tty: bool,
    /// Height and width (Go `*[2]uint`); API 1.42 on.
    #[serde(rename = "ConsoleSize", skip_serializing_if = "Option::is_none")]
    pub console_size: Option<[u64; 2]>,
    #[serde(rename = "AttachStdin", skip_serializing_if = "is_default")]
    pub attach_stdin: bool,
    #[serde(rename = "AttachStderr", skip_serializing_if = "is_default")]
    pub attach_stderr: bool,
    #[serde(rename = "AttachStdout", skip_serializing_if = "is_default")]
    pub attach_stdout: bool,
    /// Unused by dockerd (detaching is `ExecStart`'s); gone in the newest.
    #[serde(rename = "Detach", skip_serializing_if = "is_default")]
    pub detach: bool,
    #[serde(rename = "DetachKeys", skip_serializing_if = "is_default")]
    pub detach_keys: String,
    #[serde(rename = "Env", skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    #[serde(rename = "WorkingDir", skip_serializing_if = "is_default")]
    pub working_dir: String,
    /// Plain `[]string` in every version (no single-string form); dockerd
    /// refuses an empty command.
    #[serde(rename = "Cmd", skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
}

/// The body of `POST /exec/{id}/start`.
///
/// Go: `types.ExecStartCheck`, api/types/types.go (20.10);
/// `container.ExecStartOptions`, api/types/container/exec.go (28.x);
/// `container.ExecStartRequest`, api/types/container/exec_start_request.go
/// (newest).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExecStart {
    #[serde(rename = "Detach", skip_serializing_if = "is_default")]
    pub detach: bool,
    #[serde(rename = "Tty", skip_serializing_if = "is_default")]
    pub tty: bool,
    /// Height and width (Go `*[2]uint`); API 1.42 on.
    #[serde(rename = "ConsoleSize", skip_serializing_if = "Option::is_none")]
    pub console_size: Option<[u64; 2]>,
}

/// The body of `POST /networks/create`.
///
/// Go: `types.NetworkCreateRequest` (embedded `NetworkCreate` + `Name`),
/// api/types/types.go (20.10); `network.CreateRequest` (embedded
/// `CreateOptions`), api/types/network/network.go (28.x);
/// `network.CreateRequest`, api/types/network/network_types.go (newest).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetworkCreate {
    #[serde(rename = "Name", skip_serializing_if = "is_default")]
    pub name: String,
    /// A `bool` in 20.10, `*bool` in 28.x (deprecated since API 1.44),
    /// gone in the newest.
    #[serde(rename = "CheckDuplicate", skip_serializing_if = "Option::is_none")]
    pub check_duplicate: Option<bool>,
    #[serde(rename = "Driver", skip_serializing_if = "is_default")]
    pub driver: String,
    #[serde(rename = "Scope", skip_serializing_if = "is_default")]
    pub scope: String,
    /// API 1.47 on; `None` takes the daemon's default.
    #[serde(rename = "EnableIPv4", skip_serializing_if = "Option::is_none")]
    pub enable_ipv4: Option<bool>,
    /// A `bool` in 20.10, `*bool` (`None`: daemon default) since API 1.45.
    #[serde(rename = "EnableIPv6", skip_serializing_if = "Option::is_none")]
    pub enable_ipv6: Option<bool>,
    #[serde(rename = "IPAM", skip_serializing_if = "Option::is_none")]
    pub ipam: Option<Ipam>,
    #[serde(rename = "Internal", skip_serializing_if = "is_default")]
    pub internal: bool,
    #[serde(rename = "Attachable", skip_serializing_if = "is_default")]
    pub attachable: bool,
    #[serde(rename = "Ingress", skip_serializing_if = "is_default")]
    pub ingress: bool,
    #[serde(rename = "ConfigOnly", skip_serializing_if = "is_default")]
    pub config_only: bool,
    #[serde(rename = "ConfigFrom", skip_serializing_if = "Option::is_none")]
    pub config_from: Option<ConfigReference>,
    /// Driver options, e.g. `com.docker.network.bridge.name`.
    #[serde(rename = "Options", skip_serializing_if = "Option::is_none")]
    pub options: Option<BTreeMap<String, String>>,
    #[serde(rename = "Labels", skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
}

/// A network's address management, in `NetworkCreate.IPAM`.
///
/// Go: `network.IPAM`, api/types/network/ipam.go (20.10: network.go).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Ipam {
    #[serde(rename = "Driver", skip_serializing_if = "is_default")]
    pub driver: String,
    #[serde(rename = "Options", skip_serializing_if = "Option::is_none")]
    pub options: Option<BTreeMap<String, String>>,
    #[serde(rename = "Config", skip_serializing_if = "Option::is_none")]
    pub config: Option<Vec<IpamConfig>>,
}

/// One address pool of a network, in `Ipam.Config`.
///
/// Go: `network.IPAMConfig`, api/types/network/ipam.go (20.10: network.go);
/// `netip.Prefix`/`netip.Addr` fields in the newest.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IpamConfig {
    #[serde(rename = "Subnet", skip_serializing_if = "is_default")]
    pub subnet: String,
    #[serde(rename = "IPRange", skip_serializing_if = "is_default")]
    pub ip_range: String,
    #[serde(rename = "Gateway", skip_serializing_if = "is_default")]
    pub gateway: String,
    /// Go field `AuxAddress`.
    #[serde(rename = "AuxiliaryAddresses", skip_serializing_if = "Option::is_none")]
    pub auxiliary_addresses: Option<BTreeMap<String, String>>,
}

/// The config-only network a network takes its configuration from, in
/// `NetworkCreate.ConfigFrom`.
///
/// Go: `network.ConfigReference`, api/types/network/network.go (newest:
/// config_reference.go).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConfigReference {
    #[serde(rename = "Network", skip_serializing_if = "is_default")]
    pub network: String,
}

/// The body of `POST /networks/{id}/connect`.
///
/// Go: `types.NetworkConnect`, api/types/types.go (20.10);
/// `network.ConnectOptions`, api/types/network/network.go (28.x);
/// `network.ConnectRequest`, api/types/network/connect_request.go (newest).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetworkConnect {
    /// Container name or ID.
    #[serde(rename = "Container", skip_serializing_if = "is_default")]
    pub container: String,
    #[serde(rename = "EndpointConfig", skip_serializing_if = "Option::is_none")]
    pub endpoint_config: Option<EndpointSettings>,
}

/// The body of `POST /networks/{id}/disconnect`.
///
/// Go: `types.NetworkDisconnect`, api/types/types.go (20.10);
/// `network.DisconnectOptions`, api/types/network/network.go (28.x);
/// `network.DisconnectRequest`, api/types/network/disconnect_request.go
/// (newest).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetworkDisconnect {
    /// Container name or ID.
    #[serde(rename = "Container", skip_serializing_if = "is_default")]
    pub container: String,
    #[serde(rename = "Force", skip_serializing_if = "is_default")]
    pub force: bool,
}

/// The body of `POST /volumes/create`.
///
/// Go: `volume.VolumeCreateBody`, api/types/volume/volume_create.go (20.10);
/// `volume.CreateOptions`, api/types/volume/create_options.go (28.x);
/// `volume.CreateRequest`, api/types/volume/create_request.go (newest).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VolumeCreate {
    #[serde(rename = "Name", skip_serializing_if = "is_default")]
    pub name: String,
    #[serde(rename = "Driver", skip_serializing_if = "is_default")]
    pub driver: String,
    /// Passed to the driver; for `local`, `type`/`device`/`o` are a
    /// `mount(2)` of anything, host paths included.
    #[serde(rename = "DriverOpts", skip_serializing_if = "Option::is_none")]
    pub driver_opts: Option<BTreeMap<String, String>>,
    #[serde(rename = "Labels", skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    /// Swarm cluster volumes (API 1.42 on); 20.10 ignores it.
    #[serde(rename = "ClusterVolumeSpec", skip_serializing_if = "Option::is_none")]
    pub cluster_volume_spec: Option<ClusterVolumeSpec>,
}

/// How a Swarm cluster volume is created, in
/// `VolumeCreate.ClusterVolumeSpec`.
///
/// Go: `volume.ClusterVolumeSpec`, api/types/volume/cluster_volume.go.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterVolumeSpec {
    #[serde(rename = "Group", skip_serializing_if = "is_default")]
    pub group: String,
    #[serde(rename = "AccessMode", skip_serializing_if = "Option::is_none")]
    pub access_mode: Option<AccessMode>,
    #[serde(rename = "AccessibilityRequirements", skip_serializing_if = "Option::is_none")]
    pub accessibility_requirements: Option<TopologyRequirement>,
    #[serde(rename = "CapacityRange", skip_serializing_if = "Option::is_none")]
    pub capacity_range: Option<CapacityRange>,
    #[serde(rename = "Secrets", skip_serializing_if = "Option::is_none")]
    pub secrets: Option<Vec<ClusterVolumeSecret>>,
    #[serde(rename = "Availability", skip_serializing_if = "is_default")]
    pub availability: String,
}

/// How a cluster volume may be used, in `ClusterVolumeSpec.AccessMode`.
///
/// Go: `volume.AccessMode`, api/types/volume/cluster_volume.go.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccessMode {
    #[serde(rename = "Scope", skip_serializing_if = "is_default")]
    pub scope: String,
    #[serde(rename = "Sharing", skip_serializing_if = "is_default")]
    pub sharing: String,
    #[serde(rename = "MountVolume", skip_serializing_if = "Option::is_none")]
    pub mount_volume: Option<TypeMount>,
    /// Go's `TypeBlock` has no fields.
    #[serde(rename = "BlockVolume", skip_serializing_if = "Option::is_none")]
    pub block_volume: Option<Empty>,
}

/// A cluster volume used as a filesystem, in `AccessMode.MountVolume`.
///
/// Go: `volume.TypeMount`, api/types/volume/cluster_volume.go.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TypeMount {
    #[serde(rename = "FsType", skip_serializing_if = "is_default")]
    pub fs_type: String,
    #[serde(rename = "MountFlags", skip_serializing_if = "Option::is_none")]
    pub mount_flags: Option<Vec<String>>,
}

/// Where a cluster volume must be reachable, in
/// `ClusterVolumeSpec.AccessibilityRequirements`.
///
/// Go: `volume.TopologyRequirement`, api/types/volume/cluster_volume.go.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TopologyRequirement {
    #[serde(rename = "Requisite", skip_serializing_if = "Option::is_none")]
    pub requisite: Option<Vec<Topology>>,
    #[serde(rename = "Preferred", skip_serializing_if = "Option::is_none")]
    pub preferred: Option<Vec<Topology>>,
}

/// One topology segment set, in `TopologyRequirement`.
///
/// Go: `volume.Topology`, api/types/volume/cluster_volume.go.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Topology {
    #[serde(rename = "Segments", skip_serializing_if = "Option::is_none")]
    pub segments: Option<BTreeMap<String, String>>,
}

/// The size bounds of a cluster volume, in `ClusterVolumeSpec.CapacityRange`.
///
/// Go: `volume.CapacityRange`, api/types/volume/cluster_volume.go.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CapacityRange {
    #[serde(rename = "RequiredBytes", skip_serializing_if = "is_default")]
    pub required_bytes: i64,
    #[serde(rename = "LimitBytes", skip_serializing_if = "is_default")]
    pub limit_bytes: i64,
}

/// A Swarm secret passed to the volume's CSI driver, in
/// `ClusterVolumeSpec.Secrets`.
///
/// Go: `volume.Secret`, api/types/volume/cluster_volume.go.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterVolumeSecret {
    #[serde(rename = "Key", skip_serializing_if = "is_default")]
    pub key: String,
    #[serde(rename = "Secret", skip_serializing_if = "is_default")]
    pub secret: String,
}

/// Registry credentials: the body of `POST /auth`, and the JSON inside the
/// base64url `X-Registry-Auth` header (image pull/push, service create...).
///
/// Go: `types.AuthConfig`, api/types/auth.go (20.10);
/// `registry.AuthConfig`, api/types/registry/authconfig.go (newest). The JSON
/// names are lower case.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    #[serde(rename = "username", skip_serializing_if = "is_default")]
    pub username: String,
    #[serde(rename = "password", skip_serializing_if = "is_default")]
    pub password: String,
    /// base64 of `username:password`.
    #[serde(rename = "auth", skip_serializing_if = "is_default")]
    pub auth: String,
    /// Deprecated; gone in the newest.
    #[serde(rename = "email", skip_serializing_if = "is_default")]
    pub email: String,
    #[serde(rename = "serveraddress", skip_serializing_if = "is_default")]
    pub server_address: String,
    #[serde(rename = "identitytoken", skip_serializing_if = "is_default")]
    pub identity_token: String,
    #[serde(rename = "registrytoken", skip_serializing_if = "is_default")]
    pub registry_token: String,
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde::de::DeserializeOwned;
    use serde_json::{Value, json};

    use super::*;

    // Bodies the Docker CLIs sent to a fake dockerd on a unix socket, byte for
    // byte: Debian's 20.10.24 CLI (negotiating API 1.41), the 28.2.2 CLI
    // negotiating 1.41, and the 28.2.2 CLI at its own 1.50.
    // docker run -it --rm -v /workspace:/w -p 8080:80 --name x busybox sh
    // POST /v1.41/containers/create, Docker-Client/20.10.24+dfsg1
    const CLI20_RUN_IT: &str = r#"{"Hostname":"","Domainname":"","User":"","AttachStdin":true,"AttachStdout":true,"AttachStderr":true,"ExposedPorts":{"80/tcp":{}},"Tty":true,"OpenStdin":true,"StdinOnce":true,"Env":null,"Cmd":["sh"],"Image":"busybox","Volumes":{},"WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":{},"HostConfig":{"Binds":["/workspace:/w"],"ContainerIDFile":"","LogConfig":{"Type":"","Config":{}},"NetworkMode":"default","PortBindings":{"80/tcp":[{"HostIp":"","HostPort":"8080"}]},"RestartPolicy":{"Name":"no","MaximumRetryCount":0},"AutoRemove":true,"VolumeDriver":"","VolumesFrom":null,"CapAdd":null,"CapDrop":null,"CgroupnsMode":"","Dns":[],"DnsOptions":[],"DnsSearch":[],"ExtraHosts":null,"GroupAdd":null,"IpcMode":"","Cgroup":"","Links":null,"OomScoreAdj":0,"PidMode":"","Privileged":false,"PublishAllPorts":false,"ReadonlyRootfs":false,"SecurityOpt":null,"UTSMode":"","UsernsMode":"","ShmSize":0,"ConsoleSize":[0,0],"Isolation":"","CpuShares":0,"Memory":0,"NanoCpus":0,"CgroupParent":"","BlkioWeight":0,"BlkioWeightDevice":[],"BlkioDeviceReadBps":null,"BlkioDeviceWriteBps":null,"BlkioDeviceReadIOps":null,"BlkioDeviceWriteIOps":null,"CpuPeriod":0,"CpuQuota":0,"CpuRealtimePeriod":0,"CpuRealtimeRuntime":0,"CpusetCpus":"","CpusetMems":"","Devices":[],"DeviceCgroupRules":null,"DeviceRequests":null,"KernelMemory":0,"KernelMemoryTCP":0,"MemoryReservation":0,"MemorySwap":0,"MemorySwappiness":-1,"OomKillDisable":false,"PidsLimit":0,"Ulimits":null,"CpuCount":0,"CpuPercent":0,"IOMaximumIOps":0,"IOMaximumBandwidth":0,"MaskedPaths":null,"ReadonlyPaths":null},"NetworkingConfig":{"EndpointsConfig":{}}}"#;
    // docker exec -it x sh
    // POST /v1.41/containers/x/exec, Docker-Client/20.10.24+dfsg1
    const CLI20_EXEC_IT: &str = r#"{"User":"","Privileged":false,"Tty":true,"AttachStdin":true,"AttachStderr":true,"AttachStdout":true,"Detach":false,"DetachKeys":"","Env":null,"WorkingDir":"","Cmd":["sh"]}"#;
    // docker exec -it x sh (start)
    // POST /v1.41/exec/execid/start, Docker-Client/20.10.24+dfsg1
    const CLI20_EXEC_IT_START: &str = r#"{"Detach":false,"Tty":true}"#;
    // docker exec -d -e A=1 -w /tmp -u 1000 x true
    // POST /v1.41/containers/x/exec, Docker-Client/20.10.24+dfsg1
    const CLI20_EXEC_DETACHED: &str = r#"{"User":"1000","Privileged":false,"Tty":false,"AttachStdin":false,"AttachStderr":false,"AttachStdout":false,"Detach":true,"DetachKeys":"","Env":["A=1"],"WorkingDir":"/tmp","Cmd":["true"]}"#;
    // docker exec -d -e A=1 -w /tmp -u 1000 x true (start)
    // POST /v1.41/exec/execid/start, Docker-Client/20.10.24+dfsg1
    const CLI20_EXEC_DETACHED_START: &str = r#"{"Detach":true,"Tty":false}"#;
    // docker network create x
    // POST /v1.41/networks/create, Docker-Client/20.10.24+dfsg1
    const CLI20_NETWORK_CREATE: &str = r#"{"CheckDuplicate":true,"Driver":"bridge","Scope":"","EnableIPv6":false,"IPAM":{"Driver":"default","Options":{},"Config":[]},"Internal":false,"Attachable":false,"Ingress":false,"ConfigOnly":false,"ConfigFrom":null,"Options":{},"Labels":{},"Name":"x"}"#;
    // docker volume create v
    // POST /v1.41/volumes/create, Docker-Client/20.10.24+dfsg1
    const CLI20_VOLUME_CREATE: &str = r#"{"Driver":"local","DriverOpts":{},"Labels":{},"Name":"v"}"#;
    // docker network connect net1 x
    // POST /v1.41/networks/net1/connect, Docker-Client/20.10.24+dfsg1
    const CLI20_NETWORK_CONNECT: &str = r#"{"Container":"x","EndpointConfig":{"IPAMConfig":{},"Links":null,"Aliases":[],"NetworkID":"","EndpointID":"","Gateway":"","IPAddress":"","IPPrefixLen":0,"IPv6Gateway":"","GlobalIPv6Address":"","GlobalIPv6PrefixLen":0,"MacAddress":"","DriverOpts":{}}}"#;
    // docker network disconnect -f net1 x
    // POST /v1.41/networks/net1/disconnect, Docker-Client/20.10.24+dfsg1
    const CLI20_NETWORK_DISCONNECT: &str = r#"{"Container":"x","Force":true}"#;
    // docker update --memory 1g --cpus 1.5 --restart on-failure:3 x
    // POST /v1.41/containers/x/update, Docker-Client/20.10.24+dfsg1
    const CLI20_UPDATE: &str = r#"{"CpuShares":0,"Memory":1073741824,"NanoCpus":1500000000,"CgroupParent":"","BlkioWeight":0,"BlkioWeightDevice":null,"BlkioDeviceReadBps":null,"BlkioDeviceWriteBps":null,"BlkioDeviceReadIOps":null,"BlkioDeviceWriteIOps":null,"CpuPeriod":0,"CpuQuota":0,"CpuRealtimePeriod":0,"CpuRealtimeRuntime":0,"CpusetCpus":"","CpusetMems":"","Devices":null,"DeviceCgroupRules":null,"DeviceRequests":null,"KernelMemory":0,"KernelMemoryTCP":0,"MemoryReservation":0,"MemorySwap":0,"MemorySwappiness":null,"OomKillDisable":null,"PidsLimit":null,"Ulimits":null,"CpuCount":0,"CpuPercent":0,"IOMaximumIOps":0,"IOMaximumBandwidth":0,"RestartPolicy":{"Name":"on-failure","MaximumRetryCount":3}}"#;
    // docker run -it --rm -v /workspace:/w -p 8080:80 --name x busybox sh
    // POST /v1.41/containers/create, Docker-Client/28.2.2
    const CLI28_API141_RUN_IT: &str = r#"{"Hostname":"","Domainname":"","User":"","AttachStdin":true,"AttachStdout":true,"AttachStderr":true,"ExposedPorts":{"80/tcp":{}},"Tty":true,"OpenStdin":true,"StdinOnce":true,"Env":null,"Cmd":["sh"],"Image":"busybox","Volumes":{},"WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":{},"HostConfig":{"Binds":["/workspace:/w"],"ContainerIDFile":"","LogConfig":{"Type":"","Config":{}},"NetworkMode":"default","PortBindings":{"80/tcp":[{"HostIp":"","HostPort":"8080"}]},"RestartPolicy":{"Name":"no","MaximumRetryCount":0},"AutoRemove":true,"VolumeDriver":"","VolumesFrom":null,"ConsoleSize":[0,0],"CapAdd":null,"CapDrop":null,"CgroupnsMode":"","Dns":[],"DnsOptions":[],"DnsSearch":[],"ExtraHosts":null,"GroupAdd":null,"IpcMode":"","Cgroup":"","Links":null,"OomScoreAdj":0,"PidMode":"","Privileged":false,"PublishAllPorts":false,"ReadonlyRootfs":false,"SecurityOpt":null,"UTSMode":"","UsernsMode":"","ShmSize":0,"Isolation":"","CpuShares":0,"Memory":0,"NanoCpus":0,"CgroupParent":"","BlkioWeight":0,"BlkioWeightDevice":[],"BlkioDeviceReadBps":[],"BlkioDeviceWriteBps":[],"BlkioDeviceReadIOps":[],"BlkioDeviceWriteIOps":[],"CpuPeriod":0,"CpuQuota":0,"CpuRealtimePeriod":0,"CpuRealtimeRuntime":0,"CpusetCpus":"","CpusetMems":"","Devices":[],"DeviceCgroupRules":null,"DeviceRequests":null,"MemoryReservation":0,"MemorySwap":0,"MemorySwappiness":-1,"OomKillDisable":false,"PidsLimit":0,"Ulimits":[],"CpuCount":0,"CpuPercent":0,"IOMaximumIOps":0,"IOMaximumBandwidth":0,"MaskedPaths":null,"ReadonlyPaths":null},"NetworkingConfig":{"EndpointsConfig":{"default":{"IPAMConfig":null,"Links":null,"Aliases":null,"MacAddress":"","DriverOpts":null,"GwPriority":0,"NetworkID":"","EndpointID":"","Gateway":"","IPAddress":"","IPPrefixLen":0,"IPv6Gateway":"","GlobalIPv6Address":"","GlobalIPv6PrefixLen":0,"DNSNames":null}}}}"#;
    // docker exec -it x sh
    // POST /v1.41/containers/x/exec, Docker-Client/28.2.2
    const CLI28_API141_EXEC_IT: &str = r#"{"User":"","Privileged":false,"Tty":true,"AttachStdin":true,"AttachStderr":true,"AttachStdout":true,"Detach":false,"DetachKeys":"","Env":null,"WorkingDir":"","Cmd":["sh"]}"#;
    // docker exec -it x sh (start)
    // POST /v1.41/exec/execid/start, Docker-Client/28.2.2
    const CLI28_API141_EXEC_IT_START: &str = r#"{"Detach":false,"Tty":true}"#;
    // docker exec -d -e A=1 -w /tmp -u 1000 x true
    // POST /v1.41/containers/x/exec, Docker-Client/28.2.2
    const CLI28_API141_EXEC_DETACHED: &str = r#"{"User":"1000","Privileged":false,"Tty":false,"AttachStdin":false,"AttachStderr":false,"AttachStdout":false,"Detach":true,"DetachKeys":"","Env":["A=1"],"WorkingDir":"/tmp","Cmd":["true"]}"#;
    // docker exec -d -e A=1 -w /tmp -u 1000 x true (start)
    // POST /v1.41/exec/execid/start, Docker-Client/28.2.2
    const CLI28_API141_EXEC_DETACHED_START: &str = r#"{"Detach":true,"Tty":false}"#;
    // docker network create x
    // POST /v1.41/networks/create, Docker-Client/28.2.2
    const CLI28_API141_NETWORK_CREATE: &str = r#"{"Driver":"bridge","Scope":"","IPAM":{"Driver":"default","Options":{},"Config":[]},"Internal":false,"Attachable":false,"Ingress":false,"ConfigOnly":false,"ConfigFrom":null,"Options":{},"Labels":{},"Name":"x","CheckDuplicate":true}"#;
    // docker volume create v
    // POST /v1.41/volumes/create, Docker-Client/28.2.2
    const CLI28_API141_VOLUME_CREATE: &str = r#"{"Driver":"local","Name":"v"}"#;
    // docker network connect net1 x
    // POST /v1.41/networks/net1/connect, Docker-Client/28.2.2
    const CLI28_API141_NETWORK_CONNECT: &str = r#"{"Container":"x","EndpointConfig":{"IPAMConfig":{},"Links":null,"Aliases":[],"MacAddress":"","DriverOpts":{},"GwPriority":0,"NetworkID":"","EndpointID":"","Gateway":"","IPAddress":"","IPPrefixLen":0,"IPv6Gateway":"","GlobalIPv6Address":"","GlobalIPv6PrefixLen":0,"DNSNames":null}}"#;
    // docker network disconnect -f net1 x
    // POST /v1.41/networks/net1/disconnect, Docker-Client/28.2.2
    const CLI28_API141_NETWORK_DISCONNECT: &str = r#"{"Container":"x","Force":true}"#;
    // docker update --memory 1g --cpus 1.5 --restart on-failure:3 x
    // POST /v1.41/containers/x/update, Docker-Client/28.2.2
    const CLI28_API141_UPDATE: &str = r#"{"CpuShares":0,"Memory":1073741824,"NanoCpus":1500000000,"CgroupParent":"","BlkioWeight":0,"BlkioWeightDevice":null,"BlkioDeviceReadBps":null,"BlkioDeviceWriteBps":null,"BlkioDeviceReadIOps":null,"BlkioDeviceWriteIOps":null,"CpuPeriod":0,"CpuQuota":0,"CpuRealtimePeriod":0,"CpuRealtimeRuntime":0,"CpusetCpus":"","CpusetMems":"","Devices":null,"DeviceCgroupRules":null,"DeviceRequests":null,"MemoryReservation":0,"MemorySwap":0,"MemorySwappiness":null,"OomKillDisable":null,"PidsLimit":null,"Ulimits":null,"CpuCount":0,"CpuPercent":0,"IOMaximumIOps":0,"IOMaximumBandwidth":0,"RestartPolicy":{"Name":"on-failure","MaximumRetryCount":3}}"#;
    // docker run -d --name full <most create flags> busybox sh -c 'echo hi'
    // POST /v1.41/containers/create, Docker-Client/20.10.24+dfsg1
    const CLI20_RUN_FULL: &str = r#"{"Hostname":"h","Domainname":"d.example","User":"1000:1000","AttachStdin":false,"AttachStdout":false,"AttachStderr":false,"ExposedPorts":{"53/udp":{},"80/tcp":{},"9000/tcp":{}},"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":["A=1"],"Cmd":["sh","-c","echo hi"],"Healthcheck":{"Test":["CMD-SHELL","true"],"Interval":10000000000,"Timeout":2000000000,"StartPeriod":5000000000,"Retries":3},"Image":"busybox","Volumes":{"/data":{}},"WorkingDir":"/work","Entrypoint":[""],"MacAddress":"02:42:ac:11:00:02","OnBuild":null,"Labels":{"l":"v"},"StopSignal":"SIGINT","StopTimeout":5,"HostConfig":{"Binds":null,"ContainerIDFile":"","LogConfig":{"Type":"json-file","Config":{"max-size":"1m"}},"NetworkMode":"net1","PortBindings":{"53/udp":[{"HostIp":"","HostPort":"53"}],"80/tcp":[{"HostIp":"127.0.0.1","HostPort":"8080"}]},"RestartPolicy":{"Name":"on-failure","MaximumRetryCount":2},"AutoRemove":false,"VolumeDriver":"","VolumesFrom":["other"],"CapAdd":["NET_ADMIN"],"CapDrop":["MKNOD"],"CgroupnsMode":"private","Dns":["1.1.1.1"],"DnsOptions":["ndots:1"],"DnsSearch":["ex.com"],"ExtraHosts":["h1:1.2.3.4"],"GroupAdd":["100"],"IpcMode":"private","Cgroup":"","Links":["other:o"],"OomScoreAdj":100,"PidMode":"host","Privileged":true,"PublishAllPorts":false,"ReadonlyRootfs":true,"SecurityOpt":["no-new-privileges"],"StorageOpt":{"size":"1G"},"Tmpfs":{"/run":"size=1m"},"UTSMode":"host","UsernsMode":"host","ShmSize":67108864,"Sysctls":{"net.ipv4.ip_forward":"1"},"Runtime":"runc","ConsoleSize":[0,0],"Isolation":"default","CpuShares":512,"Memory":536870912,"NanoCpus":1500000000,"CgroupParent":"/p","BlkioWeight":300,"BlkioWeightDevice":[{"Path":"/dev/sda","Weight":200}],"BlkioDeviceReadBps":[{"Path":"/dev/sda","Rate":1048576}],"BlkioDeviceWriteBps":null,"BlkioDeviceReadIOps":null,"BlkioDeviceWriteIOps":[{"Path":"/dev/sda","Rate":100}],"CpuPeriod":0,"CpuQuota":0,"CpuRealtimePeriod":0,"CpuRealtimeRuntime":0,"CpusetCpus":"0-1","CpusetMems":"0","Devices":[{"PathOnHost":"/dev/null","PathInContainer":"/dev/xnull","CgroupPermissions":"rwm"}],"DeviceCgroupRules":["c 1:3 rwm"],"DeviceRequests":[{"Driver":"","Count":-1,"DeviceIDs":null,"Capabilities":[["gpu"]],"Options":{}}],"KernelMemory":0,"KernelMemoryTCP":0,"MemoryReservation":268435456,"MemorySwap":1073741824,"MemorySwappiness":10,"OomKillDisable":true,"PidsLimit":100,"Ulimits":[{"Name":"nofile","Hard":2048,"Soft":1024}],"CpuCount":0,"CpuPercent":0,"IOMaximumIOps":0,"IOMaximumBandwidth":0,"Mounts":[{"Type":"volume","Source":"v","Target":"/v","VolumeOptions":{"NoCopy":true,"DriverConfig":{"Name":"local","Options":{"type":"tmpfs"}}}},{"Type":"bind","Source":"/workspace","Target":"/b","BindOptions":{"Propagation":"rshared"}},{"Type":"tmpfs","Target":"/t","TmpfsOptions":{"SizeBytes":1048576,"Mode":1023}}],"MaskedPaths":null,"ReadonlyPaths":null,"Init":true},"NetworkingConfig":{"EndpointsConfig":{"net1":{"IPAMConfig":{"IPv4Address":"10.1.0.7"},"Links":["other:o"],"Aliases":["al"],"NetworkID":"","EndpointID":"","Gateway":"","IPAddress":"","IPPrefixLen":0,"IPv6Gateway":"","GlobalIPv6Address":"","GlobalIPv6PrefixLen":0,"MacAddress":"","DriverOpts":null}}}}"#;
    // docker network create -d bridge --ipv6 --subnet 10.9.0.0/24 --ip-range 10.9.0.0/25 --gateway 10.9.0.1
    //   --aux-address host1=10.9.0.5 --subnet fd00::/64 -o com.docker.network.bridge.name=br9 --label l=v --internal
    //   --attachable --ipam-driver default --ipam-opt o=1 [--ipv4=false] n2
    // POST /v1.41/networks/create, Docker-Client/20.10.24+dfsg1
    const CLI20_NETWORK_CREATE_FULL: &str = r#"{"CheckDuplicate":true,"Driver":"bridge","Scope":"","EnableIPv6":true,"IPAM":{"Driver":"default","Options":{"o":"1"},"Config":[{"Subnet":"fd00::/64"},{"Subnet":"10.9.0.0/24","IPRange":"10.9.0.0/25","Gateway":"10.9.0.1","AuxiliaryAddresses":{"host1":"10.9.0.5"}}]},"Internal":true,"Attachable":true,"Ingress":false,"ConfigOnly":false,"ConfigFrom":null,"Options":{"com.docker.network.bridge.name":"br9"},"Labels":{"l":"v"},"Name":"n2"}"#;
    // docker network create --config-only --subnet 10.8.0.0/24 n4
    // POST /v1.41/networks/create, Docker-Client/20.10.24+dfsg1
    const CLI20_NETWORK_CREATE_CONFIG_ONLY: &str = r#"{"CheckDuplicate":true,"Driver":"bridge","Scope":"","EnableIPv6":false,"IPAM":{"Driver":"default","Options":{},"Config":[{"Subnet":"10.8.0.0/24"}]},"Internal":false,"Attachable":false,"Ingress":false,"ConfigOnly":true,"ConfigFrom":null,"Options":{},"Labels":{},"Name":"n4"}"#;
    // docker volume create -d local -o type=tmpfs -o device=tmpfs -o o=size=100m --label l=v v2
    // POST /v1.41/volumes/create, Docker-Client/20.10.24+dfsg1
    const CLI20_VOLUME_CREATE_FULL: &str = r#"{"Driver":"local","DriverOpts":{"device":"tmpfs","o":"size=100m","type":"tmpfs"},"Labels":{"l":"v"},"Name":"v2"}"#;
    // docker network connect --alias a --ip 10.1.0.5 --ip6 fd00::5 --link-local-ip 169.254.1.1 --driver-opt k=v
    //   [--gw-priority 5 | --link other:o] net1 x
    // POST /v1.41/networks/net1/connect, Docker-Client/20.10.24+dfsg1
    const CLI20_NETWORK_CONNECT_FULL: &str = r#"{"Container":"x","EndpointConfig":{"IPAMConfig":{"IPv4Address":"10.1.0.5","IPv6Address":"fd00::5","LinkLocalIPs":["169.254.1.1"]},"Links":["other:o"],"Aliases":["a"],"NetworkID":"","EndpointID":"","Gateway":"","IPAddress":"","IPPrefixLen":0,"IPv6Gateway":"","GlobalIPv6Address":"","GlobalIPv6PrefixLen":0,"MacAddress":"","DriverOpts":{"k":"v"}}}"#;
    // docker update --cpu-shares 2 --memory 1g --memory-swap 2g --memory-reservation 100m --kernel-memory 10m
    //   --pids-limit 50 --blkio-weight 100 --cpuset-cpus 0 --cpu-period 100000 --cpu-quota 50000 --restart always x
    // POST /v1.41/containers/x/update, Docker-Client/20.10.24+dfsg1
    const CLI20_UPDATE_FULL: &str = r#"{"CpuShares":2,"Memory":1073741824,"NanoCpus":0,"CgroupParent":"","BlkioWeight":100,"BlkioWeightDevice":null,"BlkioDeviceReadBps":null,"BlkioDeviceWriteBps":null,"BlkioDeviceReadIOps":null,"BlkioDeviceWriteIOps":null,"CpuPeriod":100000,"CpuQuota":50000,"CpuRealtimePeriod":0,"CpuRealtimeRuntime":0,"CpusetCpus":"0","CpusetMems":"","Devices":null,"DeviceCgroupRules":null,"DeviceRequests":null,"KernelMemory":10485760,"KernelMemoryTCP":0,"MemoryReservation":104857600,"MemorySwap":2147483648,"MemorySwappiness":null,"OomKillDisable":null,"PidsLimit":50,"Ulimits":null,"CpuCount":0,"CpuPercent":0,"IOMaximumIOps":0,"IOMaximumBandwidth":0,"RestartPolicy":{"Name":"always","MaximumRetryCount":0}}"#;
    // docker login -u user -p pass reg.example.com
    // POST /v1.41/auth, Docker-Client/20.10.24+dfsg1
    const CLI20_LOGIN: &str = r#"{"username":"user","password":"pass","serveraddress":"reg.example.com"}"#;
    // docker pull busybox, with credentials for docker.io (X-Registry-Auth, decoded)
    // POST /v1.41/images/create, Docker-Client/20.10.24+dfsg1
    const CLI20_PULL_X_REGISTRY_AUTH: &str =
        r#"{"username":"user","password":"pass","serveraddress":"https://index.docker.io/v1/"}"#;
    // docker run -it --rm -v /workspace:/w -p 8080:80 --name x busybox sh
    // POST /v1.50/containers/create, Docker-Client/28.2.2
    const CLI28_RUN_IT: &str = r#"{"Hostname":"","Domainname":"","User":"","AttachStdin":true,"AttachStdout":true,"AttachStderr":true,"ExposedPorts":{"80/tcp":{}},"Tty":true,"OpenStdin":true,"StdinOnce":true,"Env":null,"Cmd":["sh"],"Image":"busybox","Volumes":{},"WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":{},"HostConfig":{"Binds":["/workspace:/w"],"ContainerIDFile":"","LogConfig":{"Type":"","Config":{}},"NetworkMode":"default","PortBindings":{"80/tcp":[{"HostIp":"","HostPort":"8080"}]},"RestartPolicy":{"Name":"no","MaximumRetryCount":0},"AutoRemove":true,"VolumeDriver":"","VolumesFrom":null,"ConsoleSize":[0,0],"CapAdd":null,"CapDrop":null,"CgroupnsMode":"","Dns":[],"DnsOptions":[],"DnsSearch":[],"ExtraHosts":null,"GroupAdd":null,"IpcMode":"","Cgroup":"","Links":null,"OomScoreAdj":0,"PidMode":"","Privileged":false,"PublishAllPorts":false,"ReadonlyRootfs":false,"SecurityOpt":null,"UTSMode":"","UsernsMode":"","ShmSize":0,"Isolation":"","CpuShares":0,"Memory":0,"NanoCpus":0,"CgroupParent":"","BlkioWeight":0,"BlkioWeightDevice":[],"BlkioDeviceReadBps":[],"BlkioDeviceWriteBps":[],"BlkioDeviceReadIOps":[],"BlkioDeviceWriteIOps":[],"CpuPeriod":0,"CpuQuota":0,"CpuRealtimePeriod":0,"CpuRealtimeRuntime":0,"CpusetCpus":"","CpusetMems":"","Devices":[],"DeviceCgroupRules":null,"DeviceRequests":null,"MemoryReservation":0,"MemorySwap":0,"MemorySwappiness":-1,"OomKillDisable":false,"PidsLimit":0,"Ulimits":[],"CpuCount":0,"CpuPercent":0,"IOMaximumIOps":0,"IOMaximumBandwidth":0,"MaskedPaths":null,"ReadonlyPaths":null},"NetworkingConfig":{"EndpointsConfig":{"default":{"IPAMConfig":null,"Links":null,"Aliases":null,"MacAddress":"","DriverOpts":null,"GwPriority":0,"NetworkID":"","EndpointID":"","Gateway":"","IPAddress":"","IPPrefixLen":0,"IPv6Gateway":"","GlobalIPv6Address":"","GlobalIPv6PrefixLen":0,"DNSNames":null}}}}"#;
    // docker exec -it x sh
    // POST /v1.50/containers/x/exec, Docker-Client/28.2.2
    const CLI28_EXEC_IT: &str = r#"{"User":"","Privileged":false,"Tty":true,"ConsoleSize":[0,0],"AttachStdin":true,"AttachStderr":true,"AttachStdout":true,"Detach":false,"DetachKeys":"","Env":null,"WorkingDir":"","Cmd":["sh"]}"#;
    // docker exec -it x sh (start)
    // POST /v1.50/exec/execid/start, Docker-Client/28.2.2
    const CLI28_EXEC_IT_START: &str = r#"{"Detach":false,"Tty":true,"ConsoleSize":[0,0]}"#;
    // docker exec -d -e A=1 -w /tmp -u 1000 x true
    // POST /v1.50/containers/x/exec, Docker-Client/28.2.2
    const CLI28_EXEC_DETACHED: &str = r#"{"User":"1000","Privileged":false,"Tty":false,"AttachStdin":false,"AttachStderr":false,"AttachStdout":false,"Detach":true,"DetachKeys":"","Env":["A=1"],"WorkingDir":"/tmp","Cmd":["true"]}"#;
    // docker exec -d -e A=1 -w /tmp -u 1000 x true (start)
    // POST /v1.50/exec/execid/start, Docker-Client/28.2.2
    const CLI28_EXEC_DETACHED_START: &str = r#"{"Detach":true,"Tty":false}"#;
    // docker network create x
    // POST /v1.50/networks/create, Docker-Client/28.2.2
    const CLI28_NETWORK_CREATE: &str = r#"{"Driver":"bridge","Scope":"","IPAM":{"Driver":"default","Options":{},"Config":[]},"Internal":false,"Attachable":false,"Ingress":false,"ConfigOnly":false,"ConfigFrom":null,"Options":{},"Labels":{},"Name":"x"}"#;
    // docker volume create v
    // POST /v1.50/volumes/create, Docker-Client/28.2.2
    const CLI28_VOLUME_CREATE: &str = r#"{"Driver":"local","Name":"v"}"#;
    // docker network connect net1 x
    // POST /v1.50/networks/net1/connect, Docker-Client/28.2.2
    const CLI28_NETWORK_CONNECT: &str = r#"{"Container":"x","EndpointConfig":{"IPAMConfig":{},"Links":null,"Aliases":[],"MacAddress":"","DriverOpts":{},"GwPriority":0,"NetworkID":"","EndpointID":"","Gateway":"","IPAddress":"","IPPrefixLen":0,"IPv6Gateway":"","GlobalIPv6Address":"","GlobalIPv6PrefixLen":0,"DNSNames":null}}"#;
    // docker network disconnect -f net1 x
    // POST /v1.50/networks/net1/disconnect, Docker-Client/28.2.2
    const CLI28_NETWORK_DISCONNECT: &str = r#"{"Container":"x","Force":true}"#;
    // docker update --memory 1g --cpus 1.5 --restart on-failure:3 x
    // POST /v1.50/containers/x/update, Docker-Client/28.2.2
    const CLI28_UPDATE: &str = r#"{"CpuShares":0,"Memory":1073741824,"NanoCpus":1500000000,"CgroupParent":"","BlkioWeight":0,"BlkioWeightDevice":null,"BlkioDeviceReadBps":null,"BlkioDeviceWriteBps":null,"BlkioDeviceReadIOps":null,"BlkioDeviceWriteIOps":null,"CpuPeriod":0,"CpuQuota":0,"CpuRealtimePeriod":0,"CpuRealtimeRuntime":0,"CpusetCpus":"","CpusetMems":"","Devices":null,"DeviceCgroupRules":null,"DeviceRequests":null,"MemoryReservation":0,"MemorySwap":0,"MemorySwappiness":null,"OomKillDisable":null,"PidsLimit":null,"Ulimits":null,"CpuCount":0,"CpuPercent":0,"IOMaximumIOps":0,"IOMaximumBandwidth":0,"RestartPolicy":{"Name":"on-failure","MaximumRetryCount":3}}"#;
    // docker run -d --name full <most create flags> busybox sh -c 'echo hi'
    // POST /v1.50/containers/create, Docker-Client/28.2.2
    const CLI28_RUN_FULL: &str = r#"{"Hostname":"h","Domainname":"d.example","User":"1000:1000","AttachStdin":false,"AttachStdout":false,"AttachStderr":false,"ExposedPorts":{"53/udp":{},"80/tcp":{},"9000/tcp":{}},"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":["A=1"],"Cmd":["sh","-c","echo hi"],"Healthcheck":{"Test":["CMD-SHELL","true"],"Interval":10000000000,"Timeout":2000000000,"StartPeriod":5000000000,"StartInterval":1000000000,"Retries":3},"Image":"busybox","Volumes":{"/data":{}},"WorkingDir":"/work","Entrypoint":[""],"OnBuild":null,"Labels":{"l":"v"},"StopSignal":"SIGINT","StopTimeout":5,"HostConfig":{"Binds":null,"ContainerIDFile":"","LogConfig":{"Type":"json-file","Config":{"max-size":"1m"}},"NetworkMode":"net1","PortBindings":{"53/udp":[{"HostIp":"","HostPort":"53"}],"80/tcp":[{"HostIp":"127.0.0.1","HostPort":"8080"}]},"RestartPolicy":{"Name":"on-failure","MaximumRetryCount":2},"AutoRemove":false,"VolumeDriver":"","VolumesFrom":["other"],"ConsoleSize":[0,0],"Annotations":{"a":"b"},"CapAdd":["CAP_NET_ADMIN"],"CapDrop":["CAP_MKNOD"],"CgroupnsMode":"private","Dns":["1.1.1.1"],"DnsOptions":["ndots:1"],"DnsSearch":["ex.com"],"ExtraHosts":["h1:1.2.3.4"],"GroupAdd":["100"],"IpcMode":"private","Cgroup":"","Links":["other:o"],"OomScoreAdj":100,"PidMode":"host","Privileged":true,"PublishAllPorts":false,"ReadonlyRootfs":true,"SecurityOpt":["no-new-privileges"],"StorageOpt":{"size":"1G"},"Tmpfs":{"/run":"size=1m"},"UTSMode":"host","UsernsMode":"host","ShmSize":67108864,"Sysctls":{"net.ipv4.ip_forward":"1"},"Runtime":"runc","Isolation":"default","CpuShares":512,"Memory":536870912,"NanoCpus":1500000000,"CgroupParent":"/p","BlkioWeight":300,"BlkioWeightDevice":[{"Path":"/dev/sda","Weight":200}],"BlkioDeviceReadBps":[{"Path":"/dev/sda","Rate":1048576}],"BlkioDeviceWriteBps":[],"BlkioDeviceReadIOps":[],"BlkioDeviceWriteIOps":[{"Path":"/dev/sda","Rate":100}],"CpuPeriod":0,"CpuQuota":0,"CpuRealtimePeriod":0,"CpuRealtimeRuntime":0,"CpusetCpus":"0-1","CpusetMems":"0","Devices":[{"PathOnHost":"/dev/null","PathInContainer":"/dev/xnull","CgroupPermissions":"rwm"}],"DeviceCgroupRules":["c 1:3 rwm"],"DeviceRequests":[{"Driver":"","Count":-1,"DeviceIDs":null,"Capabilities":[["gpu"]],"Options":{}}],"MemoryReservation":268435456,"MemorySwap":1073741824,"MemorySwappiness":10,"OomKillDisable":true,"PidsLimit":100,"Ulimits":[{"Name":"nofile","Hard":2048,"Soft":1024}],"CpuCount":0,"CpuPercent":0,"IOMaximumIOps":0,"IOMaximumBandwidth":0,"Mounts":[{"Type":"volume","Source":"v","Target":"/v","VolumeOptions":{"NoCopy":true,"DriverConfig":{"Name":"local","Options":{"type":"tmpfs"}}}},{"Type":"bind","Source":"/workspace","Target":"/b","BindOptions":{"Propagation":"rshared"}},{"Type":"tmpfs","Target":"/t","TmpfsOptions":{"SizeBytes":1048576,"Mode":1023}},{"Type":"volume","Source":"v2","Target":"/v2","VolumeOptions":{"Subpath":"sub","DriverConfig":{}}},{"Type":"bind","Source":"/workspace","Target":"/ro","ReadOnly":true,"BindOptions":{"Propagation":"rprivate","ReadOnlyForceRecursive":true}},{"Type":"bind","Source":"/workspace","Target":"/c","BindOptions":{"NonRecursive":true}},{"Type":"image","Source":"busybox","Target":"/img","ImageOptions":{"Subpath":"bin"}}],"MaskedPaths":null,"ReadonlyPaths":null,"Init":true},"NetworkingConfig":{"EndpointsConfig":{"net1":{"IPAMConfig":{"IPv4Address":"10.1.0.7"},"Links":["other:o"],"Aliases":["al"],"MacAddress":"02:42:ac:11:00:02","DriverOpts":null,"GwPriority":0,"NetworkID":"","EndpointID":"","Gateway":"","IPAddress":"","IPPrefixLen":0,"IPv6Gateway":"","GlobalIPv6Address":"","GlobalIPv6PrefixLen":0,"DNSNames":null}}}}"#;
    // docker network create -d bridge --ipv6 --subnet 10.9.0.0/24 --ip-range 10.9.0.0/25 --gateway 10.9.0.1
    //   --aux-address host1=10.9.0.5 --subnet fd00::/64 -o com.docker.network.bridge.name=br9 --label l=v --internal
    //   --attachable --ipam-driver default --ipam-opt o=1 [--ipv4=false] n2
    // POST /v1.50/networks/create, Docker-Client/28.2.2
    const CLI28_NETWORK_CREATE_FULL: &str = r#"{"Driver":"bridge","Scope":"","EnableIPv4":false,"EnableIPv6":true,"IPAM":{"Driver":"default","Options":{"o":"1"},"Config":[{"Subnet":"10.9.0.0/24","IPRange":"10.9.0.0/25","Gateway":"10.9.0.1","AuxiliaryAddresses":{"host1":"10.9.0.5"}},{"Subnet":"fd00::/64"}]},"Internal":true,"Attachable":true,"Ingress":false,"ConfigOnly":false,"ConfigFrom":null,"Options":{"com.docker.network.bridge.name":"br9"},"Labels":{"l":"v"},"Name":"n2"}"#;
    // docker network create --config-from n2 --scope local n3
    // POST /v1.50/networks/create, Docker-Client/28.2.2
    const CLI28_NETWORK_CREATE_CONFIG_FROM: &str = r#"{"Driver":"bridge","Scope":"local","IPAM":{"Driver":"default","Options":{},"Config":[]},"Internal":false,"Attachable":false,"Ingress":false,"ConfigOnly":false,"ConfigFrom":{"Network":"n2"},"Options":{},"Labels":{},"Name":"n3"}"#;
    // docker volume create -d local -o type=tmpfs -o device=tmpfs -o o=size=100m --label l=v v2
    // POST /v1.50/volumes/create, Docker-Client/28.2.2
    const CLI28_VOLUME_CREATE_FULL: &str = r#"{"Driver":"local","DriverOpts":{"device":"tmpfs","o":"size=100m","type":"tmpfs"},"Labels":{"l":"v"},"Name":"v2"}"#;
    // docker exec -it --privileged -e B=2 --detach-keys ctrl-x,x -u root -w / x sh -c id
    // POST /v1.50/containers/x/exec, Docker-Client/28.2.2
    const CLI28_EXEC_FULL: &str = r#"{"User":"root","Privileged":true,"Tty":true,"ConsoleSize":[0,0],"AttachStdin":true,"AttachStderr":true,"AttachStdout":true,"Detach":false,"DetachKeys":"ctrl-x,x","Env":["B=2"],"WorkingDir":"/","Cmd":["sh","-c","id"]}"#;
    // docker exec -it --privileged ... (start)
    // POST /v1.50/exec/execid/start, Docker-Client/28.2.2
    const CLI28_EXEC_FULL_START: &str = r#"{"Detach":false,"Tty":true,"ConsoleSize":[0,0]}"#;
    // docker network connect --alias a --ip 10.1.0.5 --ip6 fd00::5 --link-local-ip 169.254.1.1 --driver-opt k=v
    //   [--gw-priority 5 | --link other:o] net1 x
    // POST /v1.50/networks/net1/connect, Docker-Client/28.2.2
    const CLI28_NETWORK_CONNECT_FULL: &str = r#"{"Container":"x","EndpointConfig":{"IPAMConfig":{"IPv4Address":"10.1.0.5","IPv6Address":"fd00::5","LinkLocalIPs":["169.254.1.1"]},"Links":null,"Aliases":["a"],"MacAddress":"","DriverOpts":{"k":"v"},"GwPriority":5,"NetworkID":"","EndpointID":"","Gateway":"","IPAddress":"","IPPrefixLen":0,"IPv6Gateway":"","GlobalIPv6Address":"","GlobalIPv6PrefixLen":0,"DNSNames":null}}"#;
    // docker run -d --network
    //   name=net1,alias=a,driver-opt=k=v,ip=10.1.0.9,mac-address=02:42:ac:11:00:03,gw-priority=1 busybox
    // POST /v1.50/containers/create, Docker-Client/28.2.2
    const CLI28_RUN_NETWORK_OPTS: &str = r#"{"Hostname":"","Domainname":"","User":"","AttachStdin":false,"AttachStdout":false,"AttachStderr":false,"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":null,"Cmd":null,"Image":"busybox","Volumes":{},"WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":{},"HostConfig":{"Binds":null,"ContainerIDFile":"","LogConfig":{"Type":"","Config":{}},"NetworkMode":"net1","PortBindings":{},"RestartPolicy":{"Name":"no","MaximumRetryCount":0},"AutoRemove":false,"VolumeDriver":"","VolumesFrom":null,"ConsoleSize":[0,0],"CapAdd":null,"CapDrop":null,"CgroupnsMode":"","Dns":[],"DnsOptions":[],"DnsSearch":[],"ExtraHosts":null,"GroupAdd":null,"IpcMode":"","Cgroup":"","Links":null,"OomScoreAdj":0,"PidMode":"","Privileged":false,"PublishAllPorts":false,"ReadonlyRootfs":false,"SecurityOpt":null,"UTSMode":"","UsernsMode":"","ShmSize":0,"Isolation":"","CpuShares":0,"Memory":0,"NanoCpus":0,"CgroupParent":"","BlkioWeight":0,"BlkioWeightDevice":[],"BlkioDeviceReadBps":[],"BlkioDeviceWriteBps":[],"BlkioDeviceReadIOps":[],"BlkioDeviceWriteIOps":[],"CpuPeriod":0,"CpuQuota":0,"CpuRealtimePeriod":0,"CpuRealtimeRuntime":0,"CpusetCpus":"","CpusetMems":"","Devices":[],"DeviceCgroupRules":null,"DeviceRequests":null,"MemoryReservation":0,"MemorySwap":0,"MemorySwappiness":-1,"OomKillDisable":false,"PidsLimit":0,"Ulimits":[],"CpuCount":0,"CpuPercent":0,"IOMaximumIOps":0,"IOMaximumBandwidth":0,"MaskedPaths":null,"ReadonlyPaths":null},"NetworkingConfig":{"EndpointsConfig":{"net1":{"IPAMConfig":{"IPv4Address":"10.1.0.9"},"Links":null,"Aliases":["a"],"MacAddress":"02:42:ac:11:00:03","DriverOpts":{"k":"v"},"GwPriority":1,"NetworkID":"","EndpointID":"","Gateway":"","IPAddress":"","IPPrefixLen":0,"IPv6Gateway":"","GlobalIPv6Address":"","GlobalIPv6PrefixLen":0,"DNSNames":null}}}}"#;
    // docker login -u user -p pass reg.example.com
    // POST /v1.50/auth, Docker-Client/28.2.2
    const CLI28_LOGIN: &str = r#"{"username":"user","password":"pass","serveraddress":"reg.example.com"}"#;
    // docker pull busybox, with credentials for docker.io (X-Registry-Auth, decoded)
    // POST /v1.50/images/create, Docker-Client/28.2.2
    const CLI28_PULL_X_REGISTRY_AUTH: &str =
        r#"{"username":"user","password":"pass","serveraddress":"https://index.docker.io/v1/"}"#;
    // docker pull busybox, without credentials (X-Registry-Auth, decoded)
    // POST /v1.50/images/create, Docker-Client/28.2.2
    const CLI28_PULL_ANON_X_REGISTRY_AUTH: &str = r#"{}"#;

    const CONTAINER_CREATE_BODIES: &[&str] =
        &[CLI20_RUN_IT, CLI20_RUN_FULL, CLI28_API141_RUN_IT, CLI28_RUN_IT, CLI28_RUN_FULL, CLI28_RUN_NETWORK_OPTS];
    const EXEC_CREATE_BODIES: &[&str] = &[
        CLI20_EXEC_IT,
        CLI20_EXEC_DETACHED,
        CLI28_API141_EXEC_IT,
        CLI28_API141_EXEC_DETACHED,
        CLI28_EXEC_IT,
        CLI28_EXEC_DETACHED,
        CLI28_EXEC_FULL,
    ];
    const EXEC_START_BODIES: &[&str] = &[
        CLI20_EXEC_IT_START,
        CLI20_EXEC_DETACHED_START,
        CLI28_API141_EXEC_IT_START,
        CLI28_API141_EXEC_DETACHED_START,
        CLI28_EXEC_IT_START,
        CLI28_EXEC_DETACHED_START,
        CLI28_EXEC_FULL_START,
    ];
    const NETWORK_CREATE_BODIES: &[&str] = &[
        CLI20_NETWORK_CREATE,
        CLI20_NETWORK_CREATE_FULL,
        CLI20_NETWORK_CREATE_CONFIG_ONLY,
        CLI28_API141_NETWORK_CREATE,
        CLI28_NETWORK_CREATE,
        CLI28_NETWORK_CREATE_FULL,
        CLI28_NETWORK_CREATE_CONFIG_FROM,
    ];
    const NETWORK_CONNECT_BODIES: &[&str] = &[
        CLI20_NETWORK_CONNECT,
        CLI20_NETWORK_CONNECT_FULL,
        CLI28_API141_NETWORK_CONNECT,
        CLI28_NETWORK_CONNECT,
        CLI28_NETWORK_CONNECT_FULL,
    ];
    const NETWORK_DISCONNECT_BODIES: &[&str] =
        &[CLI20_NETWORK_DISCONNECT, CLI28_API141_NETWORK_DISCONNECT, CLI28_NETWORK_DISCONNECT];
    const VOLUME_CREATE_BODIES: &[&str] = &[
        CLI20_VOLUME_CREATE,
        CLI20_VOLUME_CREATE_FULL,
        CLI28_API141_VOLUME_CREATE,
        CLI28_VOLUME_CREATE,
        CLI28_VOLUME_CREATE_FULL,
    ];
    const UPDATE_BODIES: &[&str] = &[CLI20_UPDATE, CLI20_UPDATE_FULL, CLI28_API141_UPDATE, CLI28_UPDATE];
    const AUTH_BODIES: &[&str] = &[
        CLI20_LOGIN,
        CLI20_PULL_X_REGISTRY_AUTH,
        CLI28_LOGIN,
        CLI28_PULL_X_REGISTRY_AUTH,
        CLI28_PULL_ANON_X_REGISTRY_AUTH,
    ];

    fn decode<T: DeserializeOwned>(body: &str) -> T {
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{e} in {body}"))
    }

    /// Decodes `body`, re-serialises it and checks that the result decodes to
    /// the same value, serialises to the same bytes again, and differs from
    /// the client's JSON only by dropped Go zero values.
    fn round_trip<T: Serialize + DeserializeOwned + PartialEq + fmt::Debug>(body: &str) -> T {
        let value: T = decode(body);
        let canonical = serde_json::to_string(&value).unwrap();
        let again: T = decode(&canonical);
        assert_eq!(again, value, "{canonical}");
        assert_eq!(serde_json::to_string(&again).unwrap(), canonical);
        let original: Value = serde_json::from_str(body).unwrap();
        let canonical: Value = serde_json::from_str(&canonical).unwrap();
        assert_only_zeros_dropped(&original, &canonical, "");
        value
    }

    /// A value Go cannot tell from an absent field: `null`, `false`, `0`,
    /// `""`, a value array of zeros (`[0,0]`), or a value struct of those.
    /// Not `[]` nor `{}`: those are non-nil slices and maps.
    fn is_go_zero(value: &Value) -> bool {
        match value {
            Value::Null => true,
            Value::Bool(b) => !b,
            Value::Number(n) => n.as_f64() == Some(0.0),
            Value::String(s) => s.is_empty(),
            Value::Array(items) => !items.is_empty() && items.iter().all(|v| v.as_u64() == Some(0)),
            Value::Object(fields) => !fields.is_empty() && fields.values().all(is_go_zero),
        }
    }

    fn assert_only_zeros_dropped(original: &Value, canonical: &Value, path: &str) {
        match (original, canonical) {
            (Value::Object(original), Value::Object(canonical)) => {
                for (key, value) in canonical {
                    let before = original.get(key).unwrap_or_else(|| panic!("{path}.{key} was added"));
                    assert_only_zeros_dropped(before, value, &format!("{path}.{key}"));
                }
                for (key, value) in original {
                    if !canonical.contains_key(key) {
                        assert!(is_go_zero(value), "{path}.{key} = {value} was dropped");
                    }
                }
            }
            (Value::Array(original), Value::Array(canonical)) => {
                assert_eq!(original.len(), canonical.len(), "{path}");
                for (i, (before, after)) in original.iter().zip(canonical).enumerate() {
                    assert_only_zeros_dropped(before, after, &format!("{path}[{i}]"));
                }
            }
            _ => assert_eq!(original, canonical, "{path}"),
        }
    }

    #[test]
    fn cli_container_create_bodies_round_trip() {
        let create_fields = fields_of::<ContainerCreate>();
        for body in CONTAINER_CREATE_BODIES {
            round_trip::<ContainerCreate>(body);
            // The CLIs send no legacy top-level HostConfig field.
            let top: Value = serde_json::from_str(body).unwrap();
            assert!(top.as_object().unwrap().keys().all(|k| create_fields.contains(&k.as_str())));
        }
    }

    #[test]
    fn cli_other_bodies_round_trip() {
        for body in EXEC_CREATE_BODIES {
            round_trip::<ExecCreate>(body);
        }
        for body in EXEC_START_BODIES {
            round_trip::<ExecStart>(body);
        }
        for body in NETWORK_CREATE_BODIES {
            round_trip::<NetworkCreate>(body);
        }
        for body in NETWORK_CONNECT_BODIES {
            round_trip::<NetworkConnect>(body);
        }
        for body in NETWORK_DISCONNECT_BODIES {
            round_trip::<NetworkDisconnect>(body);
        }
        for body in VOLUME_CREATE_BODIES {
            round_trip::<VolumeCreate>(body);
        }
        for body in UPDATE_BODIES {
            round_trip::<ContainerUpdate>(body);
        }
        for body in AUTH_BODIES {
            round_trip::<AuthConfig>(body);
        }
    }

    #[test]
    fn docker_run_it_decodes_to_what_the_cli_meant() {
        for body in [CLI20_RUN_IT, CLI28_API141_RUN_IT, CLI28_RUN_IT] {
            let create: ContainerCreate = decode(body);
            assert_eq!(create.image, "busybox");
            assert_eq!(create.cmd, Some(StrSlice(vec!["sh".into()])));
            assert_eq!(create.entrypoint, None);
            assert_eq!(create.env, None);
            assert!(create.tty && create.open_stdin && create.stdin_once && create.attach_stdin);
            assert_eq!(create.exposed_ports, Some(BTreeMap::from([("80/tcp".into(), Empty {})])));
            assert_eq!(create.volumes, Some(BTreeMap::new()));
            assert_eq!(create.labels, Some(BTreeMap::new()));
            assert_eq!(create.cpuset, "");

            let host = create.host_config.expect("HostConfig");
            assert_eq!(host.binds, Some(vec!["/workspace:/w".into()]));
            let binding = PortBinding { host_ip: String::new(), host_port: "8080".into() };
            assert_eq!(host.port_bindings, Some(BTreeMap::from([("80/tcp".into(), Some(vec![binding]))])));
            assert!(host.auto_remove);
            assert_eq!(host.network_mode, "default");
            assert_eq!(host.restart_policy, RestartPolicy { name: "no".into(), maximum_retry_count: 0 });
            assert_eq!(host.log_config, LogConfig { r#type: String::new(), config: Some(BTreeMap::new()) });
            assert_eq!(host.console_size, [0, 0]);
            assert_eq!(host.dns, Some(vec![]));
            assert_eq!(host.cap_add, None);
            assert_eq!(host.masked_paths, None);
            assert_eq!(host.readonly_paths, None);
            assert_eq!(host.init, None);
            assert!(!host.privileged);
            assert_eq!(host.memory_swappiness, Some(-1));
            assert_eq!(host.oom_kill_disable, Some(false));
            assert_eq!(host.pids_limit, Some(0));
            assert_eq!(host.blkio_weight_device, Some(vec![]));
        }

        let endpoints = decode::<ContainerCreate>(CLI20_RUN_IT).networking_config.unwrap().endpoints_config;
        assert_eq!(endpoints, Some(BTreeMap::new()));
        let endpoints = decode::<ContainerCreate>(CLI28_RUN_IT).networking_config.unwrap().endpoints_config;
        assert_eq!(endpoints, Some(BTreeMap::from([("default".into(), EndpointSettings::default())])));
    }

    #[test]
    fn docker_run_it_canonical_form() {
        let create: ContainerCreate = decode(CLI28_RUN_IT);
        let expected = json!({
            "HostConfig": {
                "Binds": ["/workspace:/w"],
                "LogConfig": {"Config": {}},
                "NetworkMode": "default",
                "PortBindings": {"80/tcp": [{"HostPort": "8080"}]},
                "RestartPolicy": {"Name": "no"},
                "AutoRemove": true,
                "Dns": [],
                "DnsOptions": [],
                "DnsSearch": [],
                "BlkioWeightDevice": [],
                "BlkioDeviceReadBps": [],
                "BlkioDeviceWriteBps": [],
                "BlkioDeviceReadIOps": [],
                "BlkioDeviceWriteIOps": [],
                "Devices": [],
                "MemorySwappiness": -1,
                "OomKillDisable": false,
                "PidsLimit": 0,
                "Ulimits": []
            },
            "NetworkingConfig": {"EndpointsConfig": {"default": {}}},
            "AttachStdin": true,
            "AttachStdout": true,
            "AttachStderr": true,
            "ExposedPorts": {"80/tcp": {}},
            "Tty": true,
            "OpenStdin": true,
            "StdinOnce": true,
            "Cmd": ["sh"],
            "Image": "busybox",
            "Volumes": {},
            "Labels": {}
        });
        assert_eq!(serde_json::to_value(&create).unwrap(), expected);
    }

    #[test]
    fn full_bodies_decode_every_flag() {
        let create: ContainerCreate = decode(CLI28_RUN_FULL);
        let health = create.healthcheck.as_ref().unwrap();
        assert_eq!(health.test, Some(vec!["CMD-SHELL".into(), "true".into()]));
        assert_eq!((health.interval, health.start_interval, health.retries), (10_000_000_000, 1_000_000_000, 3));
        assert_eq!(create.entrypoint, Some(StrSlice(vec![String::new()])));
        assert_eq!(create.stop_timeout, Some(5));
        assert_eq!(create.mac_address, "", "28.x moved --mac-address to the endpoint");
        let host = create.host_config.as_ref().unwrap();
        assert_eq!(host.cap_add, Some(StrSlice(vec!["CAP_NET_ADMIN".into()])));
        assert_eq!(host.annotations, Some(BTreeMap::from([("a".into(), "b".into())])));
        assert_eq!(host.init, Some(true));
        assert_eq!(host.pids_limit, Some(100));
        assert_eq!(host.ulimits, Some(vec![Ulimit { name: "nofile".into(), hard: 2048, soft: 1024 }]));
        let gpus = &host.device_requests.as_ref().unwrap()[0];
        assert_eq!((gpus.count, &gpus.capabilities), (-1, &Some(vec![vec!["gpu".to_string()]])));
        let mounts = host.mounts.as_ref().unwrap();
        let types: Vec<&str> = mounts.iter().map(|m| m.r#type.as_str()).collect();
        assert_eq!(types, ["volume", "bind", "tmpfs", "volume", "bind", "bind", "image"]);
        assert_eq!(mounts[2].tmpfs_options, Some(TmpfsOptions { size_bytes: 1 << 20, mode: 0o1777, options: None }));
        assert_eq!(mounts[3].volume_options.as_ref().unwrap().subpath, "sub");
        assert!(mounts[4].bind_options.as_ref().unwrap().read_only_force_recursive);
        assert!(mounts[5].bind_options.as_ref().unwrap().non_recursive);
        assert_eq!(mounts[6].image_options, Some(ImageOptions { subpath: "bin".into() }));
        let endpoint = &create.networking_config.as_ref().unwrap().endpoints_config.as_ref().unwrap()["net1"];
        assert_eq!(endpoint.mac_address, "02:42:ac:11:00:02");
        assert_eq!(endpoint.ipam_config.as_ref().unwrap().ipv4_address, "10.1.0.7");

        let create: ContainerCreate = decode(CLI20_RUN_FULL);
        assert_eq!(create.mac_address, "02:42:ac:11:00:02", "20.10 sends the container-wide MAC address");
        assert_eq!(create.host_config.unwrap().cap_add, Some(StrSlice(vec!["NET_ADMIN".into()])));

        let network: NetworkCreate = decode(CLI28_NETWORK_CREATE_FULL);
        assert_eq!(
            (network.enable_ipv4, network.enable_ipv6, network.check_duplicate),
            (Some(false), Some(true), None)
        );
        let pools = network.ipam.unwrap().config.unwrap();
        assert_eq!(pools[0].auxiliary_addresses, Some(BTreeMap::from([("host1".into(), "10.9.0.5".into())])));
        let network: NetworkCreate = decode(CLI20_NETWORK_CREATE);
        assert_eq!((network.enable_ipv6, network.check_duplicate), (Some(false), Some(true)));

        let connect: NetworkConnect = decode(CLI28_NETWORK_CONNECT_FULL);
        let endpoint = connect.endpoint_config.unwrap();
        assert_eq!(endpoint.gw_priority, 5);
        assert_eq!(endpoint.ipam_config.unwrap().link_local_ips, Some(vec!["169.254.1.1".into()]));

        let exec: ExecCreate = decode(CLI28_EXEC_FULL);
        assert_eq!((exec.privileged, exec.console_size), (true, Some([0, 0])));
        assert_eq!(decode::<ExecCreate>(CLI20_EXEC_IT).console_size, None);

        let update: ContainerUpdate = decode(CLI20_UPDATE_FULL);
        assert_eq!((update.kernel_memory, update.pids_limit, update.memory_swappiness), (10 << 20, Some(50), None));
        assert_eq!(update.restart_policy.name, "always");

        let auth: AuthConfig = decode(CLI28_PULL_X_REGISTRY_AUTH);
        assert_eq!(auth.server_address, "https://index.docker.io/v1/");
        assert_eq!(decode::<AuthConfig>(CLI28_PULL_ANON_X_REGISTRY_AUTH), AuthConfig::default());
    }

    #[test]
    fn str_slice_takes_a_string_or_strings_and_writes_strings() {
        let config: ContainerConfig = decode(r#"{"Cmd": "echo hi", "Entrypoint": ["a", "b"], "Shell": []}"#);
        assert_eq!(config.cmd, Some(StrSlice(vec!["echo hi".into()])));
        assert_eq!(config.entrypoint, Some(StrSlice(vec!["a".into(), "b".into()])));
        assert_eq!(config.shell, Some(StrSlice(vec![])));
        assert_eq!(
            serde_json::to_value(&config).unwrap(),
            json!({"Cmd": ["echo hi"], "Entrypoint": ["a", "b"], "Shell": []})
        );
        assert_eq!(decode::<ContainerConfig>(r#"{"Cmd": ""}"#).cmd, Some(StrSlice(vec![String::new()])));
        assert_eq!(decode::<ContainerConfig>(r#"{"Cmd": null}"#).cmd, None);
        let host: HostConfig = decode(r#"{"CapAdd": "ALL"}"#);
        assert_eq!(host.cap_add, Some(StrSlice(vec!["ALL".into()])));
        for bad in [r#"{"Cmd": 1}"#, r#"{"Cmd": [1]}"#, r#"{"Cmd": {}}"#, r#"{"Cmd": true}"#] {
            assert!(serde_json::from_str::<ContainerConfig>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn empty_is_exactly_an_empty_object() {
        let config: ContainerConfig = decode(r#"{"Volumes": {"/data": {}}}"#);
        assert_eq!(serde_json::to_string(&config).unwrap(), r#"{"Volumes":{"/data":{}}}"#);
        assert!(serde_json::from_str::<ContainerConfig>(r#"{"Volumes": {"/data": {"x": 1}}}"#).is_err());
        assert!(serde_json::from_str::<ContainerConfig>(r#"{"ExposedPorts": {"80/tcp": 1}}"#).is_err());
    }

    #[test]
    fn nil_and_empty_slices_and_maps_stay_apart() {
        let absent: HostConfig = decode("{}");
        let null: HostConfig = decode(r#"{"MaskedPaths": null, "Sysctls": null}"#);
        let empty: HostConfig = decode(r#"{"MaskedPaths": [], "Sysctls": {}}"#);
        assert_eq!((&absent.masked_paths, &absent.sysctls), (&None, &None));
        assert_eq!(absent, null);
        assert_eq!((&empty.masked_paths, &empty.sysctls), (&Some(vec![]), &Some(BTreeMap::new())));
        assert_eq!(serde_json::to_string(&null).unwrap(), "{}");
        assert_eq!(serde_json::to_string(&empty).unwrap(), r#"{"Sysctls":{},"MaskedPaths":[]}"#);

        let config: ContainerConfig = decode(r#"{"Entrypoint": [], "Cmd": null}"#);
        assert_eq!((config.entrypoint, config.cmd), (Some(StrSlice(vec![])), None));

        let host: HostConfig = decode(r#"{"PortBindings": {"80/tcp": null, "81/tcp": []}}"#);
        let expected = BTreeMap::from([("80/tcp".into(), None), ("81/tcp".into(), Some(vec![]))]);
        assert_eq!(host.port_bindings, Some(expected));
        assert_eq!(serde_json::to_string(&host).unwrap(), r#"{"PortBindings":{"80/tcp":null,"81/tcp":[]}}"#);
    }

    #[test]
    fn zero_pointers_are_kept_and_zero_values_dropped() {
        let host: HostConfig = decode(
            r#"{"OomKillDisable": false, "PidsLimit": 0, "MemorySwappiness": 0, "Init": false,
                "Privileged": false, "Memory": 0, "NetworkMode": "", "ConsoleSize": [0, 0],
                "RestartPolicy": {"Name": "", "MaximumRetryCount": 0}, "LogConfig": {"Type": ""}}"#,
        );
        assert_eq!(
            serde_json::to_value(&host).unwrap(),
            json!({"OomKillDisable": false, "PidsLimit": 0, "MemorySwappiness": 0, "Init": false})
        );
        let config: ContainerConfig = decode(r#"{"StopTimeout": 0, "Healthcheck": {}, "Tty": false}"#);
        assert_eq!(serde_json::to_value(&config).unwrap(), json!({"Healthcheck": {}, "StopTimeout": 0}));
        let network: NetworkCreate = decode(r#"{"EnableIPv6": false, "Internal": false, "IPAM": {}}"#);
        assert_eq!(serde_json::to_value(&network).unwrap(), json!({"EnableIPv6": false, "IPAM": {}}));
        let exec: ExecStart = decode(r#"{"ConsoleSize": [0, 0], "Detach": false}"#);
        assert_eq!(serde_json::to_value(&exec).unwrap(), json!({"ConsoleSize": [0, 0]}));
    }

    #[test]
    fn unknown_fields_are_refused() {
        let refused = [
            r#"{"Image": "busybox", "Bogus": 1}"#,
            r#"{"Image": "busybox", "Memory": 1}"#,
            r#"{"HostConfig": {"Capabilities": ["ALL"]}}"#,
            r#"{"HostConfig": {"Mounts": [{"Type": "bind", "Bogus": true}]}}"#,
            r#"{"HostConfig": {"Mounts": [{"BindOptions": {"CreateSource": true}}]}}"#,
            r#"{"NetworkingConfig": {"EndpointsConfig": {"n": {"Bogus": ""}}}}"#,
            r#"{"Healthcheck": {"Test": [], "Bogus": 1}}"#,
        ];
        for body in refused {
            assert!(serde_json::from_str::<ContainerCreate>(body).is_err(), "{body}");
        }
        assert!(serde_json::from_str::<ContainerUpdate>(r#"{"Privileged": true}"#).is_err());
        assert!(serde_json::from_str::<Resources>(r#"{"RestartPolicy": {}}"#).is_err());
        assert!(serde_json::from_str::<ExecStart>(r#"{"Cmd": ["sh"]}"#).is_err());
        assert!(serde_json::from_str::<VolumeCreate>(r#"{"ClusterVolumeSpec": {"Bogus": 1}}"#).is_err());
    }

    #[test]
    fn legacy_and_version_specific_fields_are_accepted() {
        let create: ContainerCreate =
            decode(r#"{"Image": "busybox", "Cpuset": "0-1", "MacAddress": "02:42:ac:11:00:02"}"#);
        assert_eq!((create.cpuset.as_str(), create.mac_address.as_str()), ("0-1", "02:42:ac:11:00:02"));
        let update: ContainerUpdate = decode(r#"{"KernelMemory": 1, "KernelMemoryTCP": 2}"#);
        assert_eq!((update.kernel_memory, update.kernel_memory_tcp), (1, 2));
        let exec: ExecCreate = decode(r#"{"Cmd": ["sh"], "Detach": true}"#);
        assert!(exec.detach);
        let auth: AuthConfig = decode(r#"{"email": "a@b.c", "identitytoken": "t"}"#);
        assert_eq!((auth.email.as_str(), auth.identity_token.as_str()), ("a@b.c", "t"));
        let volume: VolumeCreate = decode(
            r#"{"Name": "v", "ClusterVolumeSpec": {"Group": "g", "AccessMode": {"Scope": "single",
                "Sharing": "none", "BlockVolume": {}}, "AccessibilityRequirements": {"Requisite":
                [{"Segments": {"zone": "a"}}]}, "CapacityRange": {"RequiredBytes": 1, "LimitBytes": 2},
                "Secrets": [{"Key": "k", "Secret": "s"}], "Availability": "active"}}"#,
        );
        let spec = round_trip::<VolumeCreate>(&serde_json::to_string(&volume).unwrap()).cluster_volume_spec.unwrap();
        assert_eq!(spec.access_mode.unwrap().block_volume, Some(Empty {}));
        let mount: Mount = decode(r#"{"Type": "tmpfs", "Target": "/t", "TmpfsOptions": {"Options": [["noexec"]]}}"#);
        assert_eq!(mount.tmpfs_options.unwrap().options, Some(vec![vec!["noexec".to_string()]]));
    }

    #[test]
    fn console_size_is_exactly_two_numbers() {
        // Go fills a [2]uint from shorter arrays and drops extra elements; we refuse both.
        assert!(serde_json::from_str::<HostConfig>(r#"{"ConsoleSize": [1]}"#).is_err());
        assert!(serde_json::from_str::<HostConfig>(r#"{"ConsoleSize": [1, 2, 3]}"#).is_err());
        assert!(serde_json::from_str::<ExecCreate>(r#"{"ConsoleSize": [-1, 2]}"#).is_err());
        assert_eq!(decode::<HostConfig>(r#"{"ConsoleSize": [24, 80]}"#).console_size, [24, 80]);
    }

    /// The serde names of a struct's fields: what `deserialize_struct` is
    /// given, hence the keys it accepts and writes.
    fn fields_of<T: DeserializeOwned>() -> &'static [&'static str] {
        #[derive(Debug)]
        struct Captured(&'static [&'static str]);
        impl fmt::Display for Captured {
            fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "{:?}", self.0)
            }
        }
        impl std::error::Error for Captured {}
        impl de::Error for Captured {
            fn custom<M: fmt::Display>(_: M) -> Self {
                Captured(&[])
            }
        }
        struct Capture;
        impl<'de> Deserializer<'de> for Capture {
            type Error = Captured;
            fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Captured> {
                Err(Captured(&[]))
            }
            fn deserialize_struct<V: Visitor<'de>>(
                self,
                _: &'static str,
                fields: &'static [&'static str],
                _: V,
            ) -> Result<V::Value, Captured> {
                Err(Captured(fields))
            }
            serde::forward_to_deserialize_any! {
                bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
                unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
            }
        }
        match T::deserialize(Capture) {
            Err(Captured(fields)) => fields,
            Ok(_) => unreachable!("Capture never yields a value"),
        }
    }

    fn set(names: &[&'static str]) -> BTreeSet<&'static str> {
        let set: BTreeSet<_> = names.iter().copied().collect();
        assert_eq!(set.len(), names.len(), "duplicate names in {names:?}");
        set
    }

    /// Go matches keys to fields case-insensitively: names must stay apart
    /// under that folding too.
    fn folded(names: &BTreeSet<&'static str>) -> BTreeSet<String> {
        let folded: BTreeSet<String> = names.iter().map(|n| n.to_ascii_uppercase()).collect();
        assert_eq!(folded.len(), names.len(), "names equal under case folding in {names:?}");
        folded
    }

    // The JSON names of the Go structs (union of 20.10 and newest), written
    // out from the Go sources independently of the models above.
    const GO_CONFIG: &[&str] = &[
        "Hostname",
        "Domainname",
        "User",
        "AttachStdin",
        "AttachStdout",
        "AttachStderr",
        "ExposedPorts",
        "Tty",
        "OpenStdin",
        "StdinOnce",
        "Env",
        "Cmd",
        "Healthcheck",
        "ArgsEscaped",
        "Image",
        "Volumes",
        "WorkingDir",
        "Entrypoint",
        "NetworkDisabled",
        "MacAddress",
        "OnBuild",
        "Labels",
        "StopSignal",
        "StopTimeout",
        "Shell",
    ];
    const GO_RESOURCES: &[&str] = &[
        "CpuShares",
        "Memory",
        "NanoCpus",
        "CgroupParent",
        "BlkioWeight",
        "BlkioWeightDevice",
        "BlkioDeviceReadBps",
        "BlkioDeviceWriteBps",
        "BlkioDeviceReadIOps",
        "BlkioDeviceWriteIOps",
        "CpuPeriod",
        "CpuQuota",
        "CpuRealtimePeriod",
        "CpuRealtimeRuntime",
        "CpusetCpus",
        "CpusetMems",
        "Devices",
        "DeviceCgroupRules",
        "DeviceRequests",
        "KernelMemory",
        "KernelMemoryTCP",
        "MemoryReservation",
        "MemorySwap",
        "MemorySwappiness",
        "OomKillDisable",
        "PidsLimit",
        "Ulimits",
        "CpuCount",
        "CpuPercent",
        "IOMaximumIOps",
        "IOMaximumBandwidth",
    ];
    const GO_HOST_CONFIG_OWN: &[&str] = &[
        "Binds",
        "ContainerIDFile",
        "LogConfig",
        "NetworkMode",
        "PortBindings",
        "RestartPolicy",
        "AutoRemove",
        "VolumeDriver",
        "VolumesFrom",
        "ConsoleSize",
        "Annotations",
        "CapAdd",
        "CapDrop",
        "CgroupnsMode",
        "Dns",
        "DnsOptions",
        "DnsSearch",
        "ExtraHosts",
        "GroupAdd",
        "IpcMode",
        "Cgroup",
        "Links",
        "OomScoreAdj",
        "PidMode",
        "Privileged",
        "PublishAllPorts",
        "ReadonlyRootfs",
        "SecurityOpt",
        "StorageOpt",
        "Tmpfs",
        "UTSMode",
        "UsernsMode",
        "ShmSize",
        "Sysctls",
        "Runtime",
        "Isolation",
        "Mounts",
        "MaskedPaths",
        "ReadonlyPaths",
        "Init",
    ];

    #[test]
    fn container_field_names_are_go_names() {
        let config = set(fields_of::<ContainerConfig>());
        assert_eq!(config, set(GO_CONFIG));
        let resources = set(fields_of::<Resources>());
        assert_eq!(resources, set(GO_RESOURCES));
        let host = set(fields_of::<HostConfig>());
        assert_eq!(host, &set(GO_HOST_CONFIG_OWN) | &resources);
        let update = set(fields_of::<ContainerUpdate>());
        assert_eq!(update, &resources | &set(&["RestartPolicy"]));
        let create = set(fields_of::<ContainerCreate>());
        assert_eq!(create, &config | &set(&["HostConfig", "NetworkingConfig", "Cpuset"]));

        // A body's top-level key is either a create field or a legacy
        // HostConfig field, never both, even as Go compares them.
        let (create, host) = (folded(&create), folded(&host));
        assert!(create.is_disjoint(&host), "{:?}", create.intersection(&host).collect::<Vec<_>>());
    }

    #[test]
    fn nested_field_names_are_go_names() {
        let cases: &[(&[&'static str], &[&str])] = &[
            (fields_of::<HealthConfig>(), &["Test", "Interval", "Timeout", "StartPeriod", "StartInterval", "Retries"]),
            (fields_of::<LogConfig>(), &["Type", "Config"]),
            (fields_of::<RestartPolicy>(), &["Name", "MaximumRetryCount"]),
            (fields_of::<PortBinding>(), &["HostIp", "HostPort"]),
            (fields_of::<WeightDevice>(), &["Path", "Weight"]),
            (fields_of::<ThrottleDevice>(), &["Path", "Rate"]),
            (fields_of::<DeviceMapping>(), &["PathOnHost", "PathInContainer", "CgroupPermissions"]),
            (fields_of::<DeviceRequest>(), &["Driver", "Count", "DeviceIDs", "Capabilities", "Options"]),
            (fields_of::<Ulimit>(), &["Name", "Hard", "Soft"]),
            (
                fields_of::<Mount>(),
                &[
                    "Type",
                    "Source",
                    "Target",
                    "ReadOnly",
                    "Consistency",
                    "BindOptions",
                    "VolumeOptions",
                    "ImageOptions",
                    "TmpfsOptions",
                    "ClusterOptions",
                ],
            ),
            (
                fields_of::<BindOptions>(),
                &["Propagation", "NonRecursive", "CreateMountpoint", "ReadOnlyNonRecursive", "ReadOnlyForceRecursive"],
            ),
            (fields_of::<VolumeOptions>(), &["NoCopy", "Labels", "Subpath", "DriverConfig"]),
            (fields_of::<MountDriver>(), &["Name", "Options"]),
            (fields_of::<ImageOptions>(), &["Subpath"]),
            (fields_of::<TmpfsOptions>(), &["SizeBytes", "Mode", "Options"]),
            (fields_of::<NetworkingConfig>(), &["EndpointsConfig"]),
            (
                fields_of::<EndpointSettings>(),
                &[
                    "IPAMConfig",
                    "Links",
                    "Aliases",
                    "DriverOpts",
                    "GwPriority",
                    "MacAddress",
                    "NetworkID",
                    "EndpointID",
                    "Gateway",
                    "IPAddress",
                    "IPPrefixLen",
                    "IPv6Gateway",
                    "GlobalIPv6Address",
                    "GlobalIPv6PrefixLen",
                    "DNSNames",
                ],
            ),
            (fields_of::<EndpointIpamConfig>(), &["IPv4Address", "IPv6Address", "LinkLocalIPs"]),
            (
                fields_of::<ExecCreate>(),
                &[
                    "User",
                    "Privileged",
                    "Tty",
                    "ConsoleSize",
                    "AttachStdin",
                    "AttachStderr",
                    "AttachStdout",
                    "Detach",
                    "DetachKeys",
                    "Env",
                    "WorkingDir",
                    "Cmd",
                ],
            ),
            (fields_of::<ExecStart>(), &["Detach", "Tty", "ConsoleSize"]),
            (
                fields_of::<NetworkCreate>(),
                &[
                    "Name",
                    "CheckDuplicate",
                    "Driver",
                    "Scope",
                    "EnableIPv4",
                    "EnableIPv6",
                    "IPAM",
                    "Internal",
                    "Attachable",
                    "Ingress",
                    "ConfigOnly",
                    "ConfigFrom",
                    "Options",
                    "Labels",
                ],
            ),
            (fields_of::<Ipam>(), &["Driver", "Options", "Config"]),
            (fields_of::<IpamConfig>(), &["Subnet", "IPRange", "Gateway", "AuxiliaryAddresses"]),
            (fields_of::<ConfigReference>(), &["Network"]),
            (fields_of::<NetworkConnect>(), &["Container", "EndpointConfig"]),
            (fields_of::<NetworkDisconnect>(), &["Container", "Force"]),
            (fields_of::<VolumeCreate>(), &["Name", "Driver", "DriverOpts", "Labels", "ClusterVolumeSpec"]),
            (
                fields_of::<ClusterVolumeSpec>(),
                &["Group", "AccessMode", "AccessibilityRequirements", "CapacityRange", "Secrets", "Availability"],
            ),
            (fields_of::<AccessMode>(), &["Scope", "Sharing", "MountVolume", "BlockVolume"]),
            (fields_of::<TypeMount>(), &["FsType", "MountFlags"]),
            (fields_of::<TopologyRequirement>(), &["Requisite", "Preferred"]),
            (fields_of::<Topology>(), &["Segments"]),
            (fields_of::<CapacityRange>(), &["RequiredBytes", "LimitBytes"]),
            (fields_of::<ClusterVolumeSecret>(), &["Key", "Secret"]),
            (
                fields_of::<AuthConfig>(),
                &["username", "password", "auth", "email", "serveraddress", "identitytoken", "registrytoken"],
            ),
            (fields_of::<Empty>(), &[]),
        ];
        for (fields, go) in cases {
            let fields = set(fields);
            folded(&fields);
            assert_eq!(fields, go.iter().copied().collect::<BTreeSet<_>>());
        }
    }
}
