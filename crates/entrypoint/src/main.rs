//! `dockyard-entrypoint`: PID 1 of every Dockyard sandbox.
//!
//! It carries the single-host model (dockerd as root, the workload as an
//! unprivileged user in the socket's group, sudo only for listed programs)
//! into any image: the binary is static and copied into the Pod by an init
//! container (`install`), so user images need not contain it.
//!
//! Subcommands:
//! - `run`: wait for Docker, become the sandbox user (writing the sudoers
//!   drop-in first when started as root), run the command as PID 1.
//! - `single`: the one-container layout: start dockerd, wait, run the command
//!   as the user, stop dockerd when it exits.
//! - `dind`: the DinD sidecar: prepare cgroups (and, with `userns-remap`, the
//!   id maps and `/proc`) for dockerd, then run and supervise dockerd.
//! - `ping`: one Docker ping, for probes.
//! - `install DIR`: copy this binary into DIR.

mod dind;
mod docker;
mod identity;
mod proxy;
mod supervisor;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};
use identity::{Account, SandboxUser};
use supervisor::Supervisor;

#[derive(Parser)]
#[command(name = "dockyard-entrypoint", version, about = "PID 1 of Dockyard sandboxes")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Wait for Docker, become the sandbox user, run COMMAND as PID 1 (no COMMAND: stay up idle).
    Run(RunArgs),
    /// One container: start dockerd, wait for it, run COMMAND as the user, stop dockerd afterwards.
    Single(SingleArgs),
    /// The DinD sidecar: prepare cgroups (and the user namespace remap) for dockerd, then run and supervise it.
    Dind(DindArgs),
    /// In a Pod's init container (as root, in the workload's image): write passwd, group and the
    /// sudoers drop-in into OUT for the workload container to mount.
    PrepareUser {
        #[command(flatten)]
        user: UserArgs,
        /// Group id of the Docker socket the user must be in.
        #[arg(long)]
        socket_gid: Option<u32>,
        /// Home of the account when the image has none for the uid.
        #[arg(long, default_value = "/workspace")]
        home: String,
        /// Directory to write into.
        #[arg(long)]
        out: PathBuf,
    },
    /// Ping the Docker daemon once; exit 0 when it answers.
    Ping {
        #[arg(long, env = "DOCKER_HOST")]
        docker_host: String,
        #[arg(long, default_value = "2s", value_parser = parse_duration)]
        timeout: Duration,
    },
    /// Copy this binary into DIR (as DIR/dockyard-entrypoint).
    Install { dir: PathBuf },
}

#[derive(Args)]
struct UserArgs {
    /// Login name of the sandbox user.
    #[arg(long = "user", default_value = "sandbox")]
    name: String,
    /// User id (never 0).
    #[arg(long, default_value_t = 1000)]
    uid: u32,
    /// Primary group id (never 0).
    #[arg(long, default_value_t = 1000)]
    gid: u32,
    /// A program the user may run with passwordless sudo; repeat for more. None: no sudo.
    #[arg(long = "sudo", value_name = "PATH")]
    sudo: Vec<String>,
}

impl UserArgs {
    fn user(&self) -> Result<SandboxUser, identity::InvalidInput> {
        SandboxUser::new(&self.name, self.uid, self.gid, self.sudo.clone())
    }
}

#[derive(Args)]
struct RunArgs {
    #[command(flatten)]
    user: UserArgs,
    /// Docker endpoint to wait for (unix:///path); omitted: no Docker.
    #[arg(long)]
    docker_host: Option<String>,
    /// How long to wait for Docker.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    docker_timeout: Duration,
    /// The workload's command and arguments.
    #[arg(last = true)]
    command: Vec<String>,
}

#[derive(Args)]
struct DockerdArgs {
    /// The Docker socket the workload uses.
    #[arg(long, default_value = "/var/run/docker.sock")]
    socket: String,
    /// The socket dockerd itself listens on; omitted: --socket. A different path
    /// is for a proxy in front of dockerd, which is not built in yet.
    #[arg(long)]
    raw_socket: Option<String>,
    /// Group owning the workload's socket.
    #[arg(long, default_value_t = 2375)]
    group: u32,
    /// dockerd's data root.
    #[arg(long, default_value = "/var/lib/docker")]
    data_root: String,
    /// MTU of dockerd's networks.
    #[arg(long)]
    mtu: Option<u32>,
    /// dockerd --default-address-pool (base=CIDR,size=N); repeat for more.
    #[arg(long)]
    default_address_pool: Vec<String>,
    /// dockerd --registry-mirror (a URL); repeat for more.
    #[arg(long)]
    registry_mirror: Vec<String>,
    /// dockerd --insecure-registry (host, host:port or CIDR); repeat for more.
    #[arg(long)]
    insecure_registry: Vec<String>,
    /// dockerd --storage-driver.
    #[arg(long, value_parser = ["overlay2", "vfs"])]
    storage_driver: Option<String>,
    /// dockerd binary.
    #[arg(long, default_value = "dockerd")]
    dockerd: String,
}

impl DockerdArgs {
    fn settings(&self, extra_args: Vec<String>) -> dind::DockerdSettings {
        dind::DockerdSettings {
            socket: self.socket.clone(),
            raw_socket: self.raw_socket.clone().unwrap_or_else(|| self.socket.clone()),
            group: self.group,
            data_root: self.data_root.clone(),
            mtu: self.mtu,
            default_address_pools: self.default_address_pool.clone(),
            registry_mirrors: self.registry_mirror.clone(),
            insecure_registries: self.insecure_registry.clone(),
            storage_driver: self.storage_driver.clone(),
            userns_remap: None,
            extra_args,
        }
    }
}

#[derive(Args)]
struct SingleArgs {
    #[command(flatten)]
    user: UserArgs,
    #[command(flatten)]
    dockerd: DockerdArgs,
    /// How long to wait for dockerd.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    docker_timeout: Duration,
    /// The workload's command and arguments.
    #[arg(last = true)]
    command: Vec<String>,
}

#[derive(Args)]
struct DindArgs {
    #[command(flatten)]
    dockerd: DockerdArgs,
    /// Run dockerd with `--userns-remap`: its containers get a user namespace
    /// where inner root is an unprivileged id on the node and this uid (the
    /// sandbox user) is itself, so workspace binds stay its own.
    #[arg(long, requires = "userns_remap_gid")]
    userns_remap_uid: Option<u32>,
    /// The sandbox user's gid, mapped to itself like --userns-remap-uid.
    #[arg(long, requires = "userns_remap_uid")]
    userns_remap_gid: Option<u32>,
    /// The workspace's mount path (the same in the workload): the only
    /// place bind mounts may come from when a policy proxy serves --socket.
    #[arg(long)]
    workspace: Option<PathBuf>,
    /// Let the policy proxy pass privileged containers, added capabilities,
    /// any security option, devices and the sidecar's namespaces; the value
    /// says why this is safe (the class's runtime class isolates the Pod:
    /// `SandboxClass.spec.dind.privilegedContainers.reason`) and is logged.
    #[arg(long, value_name = "REASON")]
    allow_privileged_containers: Option<String>,
    /// An image dockerd pulls before the workload's socket is served (and so
    /// before the sandbox is Ready); repeat for more. A failed pull stops the
    /// sidecar with the daemon's message. Needs --raw-socket.
    #[arg(long, value_name = "IMAGE")]
    preload_image: Vec<String>,
    /// Extra arguments for dockerd.
    #[arg(last = true)]
    extra: Vec<String>,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let invalid = || format!("{text:?} is not a duration (e.g. 30s, 500ms, 30)");
    let (number, unit) = text.find(|c: char| !c.is_ascii_digit()).map(|i| text.split_at(i)).unwrap_or((text, "s"));
    let n: u64 = number.parse().map_err(|_| invalid())?;
    match unit {
        "s" => Ok(Duration::from_secs(n)),
        "ms" => Ok(Duration::from_millis(n)),
        _ => Err(invalid()),
    }
}

/// Everything that stops the entrypoint, as one message.
type Failure = String;

fn log(message: impl std::fmt::Display) {
    eprintln!("dockyard-entrypoint: {message}");
}

/// Waits for Docker unless SIGTERM/SIGINT arrives first.
fn wait_for_docker(supervisor: &mut Supervisor, socket: &Path, timeout: Duration) -> Result<Duration, Failure> {
    let started = Instant::now();
    loop {
        let slice = timeout.saturating_sub(started.elapsed()).min(Duration::from_millis(500));
        match docker::wait_until_ready(socket, slice) {
            Ok(_) => return Ok(started.elapsed()),
            Err(err) if started.elapsed() >= timeout => {
                return Err(docker::WaitTimeout { waited: timeout, ..err }.to_string());
            }
            Err(_) if supervisor.terminated() => return Err("stopped while waiting for Docker".into()),
            Err(_) => {}
        }
    }
}

/// Home of the user when the entrypoint is not root: the account's home if it
/// is writable, else /tmp/<name>.
fn home_without_root(account: &Account) -> String {
    let writable = |dir: &str| nix::unistd::access(dir, nix::unistd::AccessFlags::W_OK).is_ok();
    if writable(&account.home) {
        return account.home.clone();
    }
    let fallback = format!("/tmp/{}", account.name);
    let _ = std::fs::create_dir_all(&fallback);
    fallback
}

/// Where `program` would be found: itself when it has a slash, else the first
/// executable file of that name on `path`.
fn resolve_program(program: &str, path: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &Path| std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
    if program.contains('/') {
        return executable(Path::new(program)).then(|| PathBuf::from(program));
    }
    path.split(':').map(|dir| Path::new(dir).join(program)).find(|p| executable(p))
}

/// Refuses a command whose program does not exist, before anything runs.
fn check_command(command: &[String]) -> Result<(), Failure> {
    let Some(program) = command.first() else { return Ok(()) };
    let path =
        std::env::var("PATH").unwrap_or_else(|_| "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    match resolve_program(program, &path) {
        Some(_) => Ok(()),
        None => Err(format!("command {program:?} not found (PATH={path}); nothing was started")),
    }
}

fn workload_command(command: &[String], account: &Account, home: &str, docker_host: Option<&str>) -> Command {
    let mut cmd = Command::new(&command[0]);
    cmd.args(&command[1..]);
    let path = std::env::var("PATH").ok();
    cmd.envs(identity::workload_env(account, home, path.as_deref()));
    if let Some(host) = docker_host {
        cmd.env("DOCKER_HOST", host);
    }
    cmd
}

fn run(args: RunArgs) -> Result<i32, Failure> {
    let user = args.user.user().map_err(|e| e.to_string())?;
    check_command(&args.command)?;
    let socket = args.docker_host.as_deref().map(docker::socket_path).transpose().map_err(|e| e.to_string())?;
    let is_root = nix::unistd::geteuid().is_root();
    if !is_root && !user.sudo.is_empty() {
        return Err("--sudo needs the entrypoint to start as root (it writes the sudoers drop-in, then drops)".into());
    }
    let mut supervisor = Supervisor::new().map_err(|e| format!("cannot install signal handlers: {e}"))?;

    let mut socket_gid = None;
    if let Some(path) = &socket {
        let waited = wait_for_docker(&mut supervisor, path, args.docker_timeout)?;
        socket_gid = docker::socket_gid(path);
        log(format_args!("Docker answered at {} after {} ms", path.display(), waited.as_millis()));
    }

    let (account, home) = if is_root {
        let (account, home) = identity::prepare_as_root(&user, socket_gid).map_err(|e| e.to_string())?;
        identity::drop_privileges(&user, &identity::workload_groups(&user, socket_gid)).map_err(|e| e.to_string())?;
        (account, home)
    } else {
        if nix::unistd::getuid().as_raw() != user.uid {
            return Err(format!(
                "started as uid {} but --uid is {}; run the container as the sandbox user (runAsUser) or as root",
                nix::unistd::getuid(),
                user.uid
            ));
        }
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        let account = identity::find_account(&passwd, user.uid).unwrap_or(Account {
            name: user.name.clone(),
            uid: user.uid,
            home: format!("/home/{}", user.name),
        });
        let home = home_without_root(&account);
        (account, home)
    };

    // The user, not root, must be able to use the socket: the classic "permission denied".
    if let Some(path) = &socket {
        docker::ping(path, Duration::from_secs(2)).map_err(|e| format!("the sandbox user cannot use Docker: {e}"))?;
    }

    if args.command.is_empty() {
        log(format_args!("no command: staying up as {account} for kubectl exec"));
        return Ok(supervisor.idle());
    }
    log(format_args!("starting {:?} as {account}", args.command[0]));
    let command = workload_command(&args.command, &account, &home, args.docker_host.as_deref());
    supervisor.run(command, None).map_err(|e| format!("cannot start {:?}: {e}", args.command[0]))
}

fn single(args: SingleArgs) -> Result<i32, Failure> {
    let user = args.user.user().map_err(|e| e.to_string())?;
    check_command(&args.command)?;
    if !nix::unistd::geteuid().is_root() {
        return Err("single-container mode must start as root (it starts dockerd)".into());
    }
    let mut supervisor = Supervisor::new().map_err(|e| format!("cannot install signal handlers: {e}"))?;
    let settings = args.dockerd.settings(vec![]);
    if !settings.serves_workload_directly() {
        return Err("--raw-socket is for the DinD sidecar; single-container mode serves --socket itself".into());
    }
    for note in dind::prepare_cgroups()? {
        log(note);
    }
    dind::prepare_paths(&settings)?;
    let mut dockerd_cmd = dind::dockerd_command(&args.dockerd.dockerd, &settings);
    let dockerd = dockerd_cmd.spawn().map_err(|e| format!("cannot start {}: {e}", args.dockerd.dockerd))?;
    let socket = PathBuf::from(&settings.socket);
    match wait_for_docker(&mut supervisor, &socket, args.docker_timeout) {
        Ok(waited) => log(format_args!("dockerd answered after {} ms", waited.as_millis())),
        Err(e) => {
            supervisor.stop(&dockerd, Duration::from_secs(10));
            return Err(e);
        }
    }
    let (account, home) = identity::prepare_as_root(&user, Some(settings.group)).map_err(|e| e.to_string())?;
    let docker_host = format!("unix://{}", settings.socket);
    let code = if args.command.is_empty() {
        log(format_args!("no command: staying up for kubectl exec (run commands as {account})"));
        supervisor.idle()
    } else {
        log(format_args!("starting {:?} as {account}", args.command[0]));
        let mut command = workload_command(&args.command, &account, &home, Some(&docker_host));
        run_as(&mut command, &user, identity::workload_groups(&user, Some(settings.group)));
        supervisor.run(command, Some(&dockerd)).map_err(|e| format!("cannot start {:?}: {e}", args.command[0]))?
    };
    log("stopping dockerd");
    supervisor.stop(&dockerd, Duration::from_secs(20));
    Ok(code)
}

/// Makes `command`'s process drop to the user between fork and exec; PID 1
/// itself stays root to stop dockerd at the end.
fn run_as(command: &mut Command, user: &SandboxUser, groups: Vec<nix::unistd::Gid>) {
    use std::os::unix::process::CommandExt;
    let (uid, gid) = (nix::unistd::Uid::from_raw(user.uid), nix::unistd::Gid::from_raw(user.gid));
    #[allow(unsafe_code)]
    // SAFETY: the closure runs in the forked child before exec. It only makes
    // the setgroups/setresgid/setresuid system calls, which are async-signal-safe,
    // and allocates nothing (`groups` was built before the fork).
    unsafe {
        command.pre_exec(move || {
            nix::unistd::setgroups(&groups)?;
            nix::unistd::setresgid(gid, gid, gid)?;
            nix::unistd::setresuid(uid, uid, uid)?;
            Ok(())
        });
    }
}

/// The DinD sidecar. dockerd runs as a child of this process (PID 1), which
/// forwards signals to it, reaps zombies and exits with dockerd's code.
///
/// With `--raw-socket` (a path only the sidecar has, e.g.
/// `/run/dockyard-dind/docker.sock`), dockerd listens there (group root) and
/// the policy proxy serves the workload's `--socket` with `--group`,
/// forwarding only what the policy allows; the workload is never left with the
/// raw socket, so nothing here falls back to it.
fn dind(args: DindArgs) -> Result<i32, Failure> {
    let mut settings = args.dockerd.settings(args.extra);
    let mut supervisor = Supervisor::new().map_err(|e| format!("cannot install signal handlers: {e}"))?;
    let remap = match (args.userns_remap_uid, args.userns_remap_gid) {
        (Some(uid), Some(gid)) => Some(dind::UsernsRemap { uid, gid }),
        _ => None,
    };
    let mut notes = Vec::new();
    if remap.is_some() {
        notes.extend(dind::unmask_kernel_paths()?);
    }
    notes.extend(dind::prepare_cgroups()?);
    if let Some(remap) = remap {
        notes.extend(dind::write_subid_files(remap)?);
        settings.userns_remap = Some(dind::REMAP_USER.into());
    }
    dind::prepare_paths(&settings)?;
    for note in notes {
        log(note);
    }
    let command = dind::dockerd_command(&args.dockerd.dockerd, &settings);
    log(format_args!("starting {:?} {:?}", command.get_program(), command.get_args().collect::<Vec<_>>()));
    // With a raw socket of its own, dockerd is reached only through the policy
    // proxy: the workload's socket is served here, checked by the same core
    // as the node agent's broker. The raw socket is in the sidecar's own
    // filesystem, so a proxy that stopped leaves the workload without Docker,
    // never with the raw daemon.
    if !args.preload_image.is_empty() && settings.serves_workload_directly() {
        return Err(
            "--preload-image needs --raw-socket: the workload's socket is served once the images are there".into()
        );
    }
    if !settings.serves_workload_directly() {
        let proxy = proxy::ProxySettings {
            socket: settings.socket.clone().into(),
            raw_socket: settings.raw_socket.clone().into(),
            group: settings.group,
            workspace: args.workspace.clone(),
            privileged_containers: args.allow_privileged_containers.is_some(),
        };
        if let Some(reason) = &args.allow_privileged_containers {
            log(format_args!("the class allows privileged containers in this daemon: {reason}"));
        }
        let socket = settings.socket.clone();
        let raw_socket = settings.raw_socket.clone();
        let serve = move || -> Result<(), String> {
            proxy::spawn(proxy).map_err(|e| format!("cannot serve {socket}: {e}"))?;
            log(format_args!("serving {socket} through the policy proxy to {raw_socket}"));
            Ok(())
        };
        if args.preload_image.is_empty() {
            serve()?;
        } else {
            // The workload's socket appears once the images are there: the
            // startup probe pings through it, so nothing starts before.
            let raw_socket = PathBuf::from(&settings.raw_socket);
            let images = args.preload_image.clone();
            std::thread::spawn(move || {
                if let Err(failure) = preload(&raw_socket, &images).and_then(|()| serve()) {
                    // dockerd is stopped the usual way (SIGTERM, forwarded);
                    // the sidecar then exits with this, which the kubelet
                    // keeps as its termination message.
                    let _ = PRELOAD_FAILURE.set(failure);
                    let _ = nix::sys::signal::kill(nix::unistd::Pid::this(), nix::sys::signal::Signal::SIGTERM);
                }
            });
        }
    }
    let code = supervisor.run(command, None).map_err(|e| format!("cannot start {}: {e}", args.dockerd.dockerd))?;
    match PRELOAD_FAILURE.get() {
        Some(failure) => Err(failure.clone()),
        None => Ok(code),
    }
}

/// Why preloading stopped the sidecar, once it did.
static PRELOAD_FAILURE: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Longest wait for the next word of a pull in progress.
const PULL_SILENCE: Duration = Duration::from_secs(120);

/// Waits for dockerd on `raw_socket`, then pulls `images` into it, one by one.
fn preload(raw_socket: &Path, images: &[String]) -> Result<(), String> {
    // No deadline of its own: the kubelet's startup probe bounds the start.
    docker::wait_until_ready(raw_socket, Duration::from_secs(24 * 3600)).map_err(|e| e.to_string())?;
    let started = Instant::now();
    for image in images {
        let done = docker::pull(raw_socket, image, PULL_SILENCE)
            .map_err(|e| format!("cannot preload image {image} (spec.docker.dind.preloadImages): {e}"))?;
        log(format_args!("preloaded {image}: {done}"));
    }
    log(format_args!("preloaded {} images in {:.1}s", images.len(), started.elapsed().as_secs_f64()));
    Ok(())
}

fn install(dir: &Path) -> Result<i32, Failure> {
    use std::os::unix::fs::PermissionsExt;
    let source = std::env::current_exe().map_err(|e| format!("cannot find this binary: {e}"))?;
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let target = dir.join("dockyard-entrypoint");
    let partial = dir.join(".dockyard-entrypoint.partial");
    std::fs::copy(&source, &partial).map_err(|e| format!("cannot copy to {}: {e}", partial.display()))?;
    std::fs::set_permissions(&partial, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| format!("cannot chmod {}: {e}", partial.display()))?;
    std::fs::rename(&partial, &target).map_err(|e| format!("cannot move into {}: {e}", target.display()))?;
    log(format_args!("installed {}", target.display()));
    Ok(0)
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Cmd::Run(args) => run(args),
        Cmd::Single(args) => single(args),
        Cmd::Dind(args) => dind(args),
        Cmd::Ping { docker_host, timeout } => docker::socket_path(&docker_host)
            .map_err(|e| e.to_string())
            .and_then(|path| docker::ping(&path, timeout).map(|_| 0).map_err(|e| e.to_string())),
        Cmd::Install { dir } => install(&dir),
        Cmd::PrepareUser { user, socket_gid, home, out } => user
            .user()
            .map_err(|e| e.to_string())
            .and_then(|u| identity::prepare_files(&u, socket_gid, &home, &out).map_err(|e| e.to_string()))
            .map(|account| {
                log(format_args!("prepared {account} in {}", out.display()));
                0
            }),
    };
    match result {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(message) => {
            log(format_args!("error: {message}"));
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("soon").unwrap_err().contains("\"soon\""));
        assert!(parse_duration("5m").is_err());
    }

    #[test]
    fn programs_are_resolved_like_a_shell_does() {
        assert_eq!(resolve_program("sh", "/nonexistent:/bin:/usr/bin"), Some(PathBuf::from("/bin/sh")));
        assert_eq!(resolve_program("/bin/sh", ""), Some(PathBuf::from("/bin/sh")));
        assert_eq!(resolve_program("no-such-program-here", "/bin:/usr/bin"), None);
        assert_eq!(resolve_program("/etc/passwd", ""), None, "not executable");
        let err = check_command(&["no-such-program-here".into()]).unwrap_err();
        assert!(err.contains("\"no-such-program-here\" not found"), "{err}");
        assert_eq!(check_command(&[]), Ok(()), "no command: the sandbox idles");
    }

    #[test]
    fn the_cli_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
