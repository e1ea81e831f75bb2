//! The sandbox user: who it is, how it appears in the image's user database,
//! its sudo allowlist, and the privilege drop.
//!
//! Everything that decides is a pure function over strings (unit-tested);
//! the few functions that write files or change ids are at the bottom.

use std::fmt;
use std::path::Path;

use nix::unistd::{Gid, Uid};

/// Where the sudo allowlist is written.
pub const SUDOERS_DROP_IN: &str = "/etc/sudoers.d/dockyard";

/// A request the entrypoint refuses before anything runs.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InvalidInput {
    #[error("--uid 0 is not allowed: the workload always runs as an unprivileged user")]
    RootUid,
    #[error("--gid 0 is not allowed: the workload's primary group may not be root's")]
    RootGid,
    #[error(
        "--user {0:?} is not a valid user name (lowercase letters, digits, '_' and '-', starting with a letter or '_', at most 32)"
    )]
    UserName(String),
    #[error("--sudo {0:?} must be an absolute path to a program (letters, digits, '.', '_', '+', '-', '/')")]
    SudoCommand(String),
}

/// The identity the workload runs as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SandboxUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
    /// Programs the user may run with sudo, without a password. Empty: no sudo.
    pub sudo: Vec<String>,
}

impl SandboxUser {
    /// Checks every field; the same rules as the Sandbox CRD's schema.
    pub fn new(name: &str, uid: u32, gid: u32, sudo: Vec<String>) -> Result<Self, InvalidInput> {
        if uid == 0 {
            return Err(InvalidInput::RootUid);
        }
        if gid == 0 {
            return Err(InvalidInput::RootGid);
        }
        let mut chars = name.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase() || c == '_');
        let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if !first_ok || !rest_ok || name.len() > 32 {
            return Err(InvalidInput::UserName(name.to_string()));
        }
        for command in &sudo {
            let safe = command.chars().all(|c| c.is_ascii_alphanumeric() || "._+-/".contains(c));
            if !command.starts_with('/') || command.len() < 2 || !safe {
                return Err(InvalidInput::SudoCommand(command.clone()));
            }
        }
        Ok(Self { name: name.to_string(), uid, gid, sudo })
    }
}

/// One line of `/etc/passwd` or `/etc/group` split into its fields.
fn fields(line: &str) -> Vec<&str> {
    line.split(':').collect()
}

/// An account in the image's `/etc/passwd`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub uid: u32,
    pub home: String,
}

/// The account with `uid`, if the image has one.
pub fn find_account(passwd: &str, uid: u32) -> Option<Account> {
    passwd.lines().map(fields).find(|f| f.len() >= 7 && f[2].parse() == Ok(uid)).map(|f| Account {
        name: f[0].to_string(),
        uid,
        home: f[5].to_string(),
    })
}

/// The outcome of reconciling the user database with the sandbox user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserDatabase {
    pub passwd: String,
    pub group: String,
    /// The account the workload runs as (the image's own when it has the uid).
    pub account: Account,
}

/// A conflict between the sandbox user and the image's user database.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "the image already has a user named {name:?} with uid {existing_uid}; give the sandbox another user name or uid {existing_uid}"
)]
pub struct NameTaken {
    pub name: String,
    pub existing_uid: u32,
}

/// Makes `passwd` and `group` know the sandbox user, its primary group and the
/// Docker socket's group (with the user as a member). An image that already
/// has an account with the uid keeps it (its name and home are used); a new
/// account gets `new_home`.
pub fn reconcile_user_database(
    passwd: &str,
    group: &str,
    user: &SandboxUser,
    socket_gid: Option<u32>,
    new_home: &str,
) -> Result<UserDatabase, NameTaken> {
    let mut passwd = ensure_trailing_newline(passwd);
    let account = match find_account(&passwd, user.uid) {
        Some(account) => account,
        None => {
            if let Some(f) = passwd.lines().map(fields).find(|f| f.len() >= 3 && f[0] == user.name) {
                return Err(NameTaken { name: user.name.clone(), existing_uid: f[2].parse().unwrap_or_default() });
            }
            let home = new_home.to_string();
            passwd
                .push_str(&format!("{}:x:{}:{}:Dockyard sandbox user:{home}:/bin/sh\n", user.name, user.uid, user.gid));
            Account { name: user.name.clone(), uid: user.uid, home }
        }
    };
    let mut group = ensure_trailing_newline(group);
    if !has_gid(&group, user.gid) {
        let name = free_group_name(&group, &[&account.name, "sandbox", "dockyard-user"]);
        group.push_str(&format!("{name}:x:{}:\n", user.gid));
    }
    if let Some(gid) = socket_gid.filter(|gid| *gid != user.gid) {
        if has_gid(&group, gid) {
            group = add_member(&group, gid, &account.name);
        } else {
            let name = free_group_name(&group, &["docker", "dockyard-docker"]);
            group.push_str(&format!("{name}:x:{gid}:{}\n", account.name));
        }
    }
    Ok(UserDatabase { passwd, group, account })
}

fn ensure_trailing_newline(text: &str) -> String {
    let mut text = text.to_string();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

fn has_gid(group: &str, gid: u32) -> bool {
    group.lines().map(fields).any(|f| f.len() >= 3 && f[2].parse() == Ok(gid))
}

fn free_group_name(group: &str, candidates: &[&str]) -> String {
    let taken = |name: &str| group.lines().map(fields).any(|f| f[0] == name);
    candidates.iter().find(|c| !taken(c)).map(|c| c.to_string()).unwrap_or_else(|| format!("{}-{}", candidates[0], 2))
}

fn add_member(group: &str, gid: u32, member: &str) -> String {
    group
        .lines()
        .map(|line| {
            let f = fields(line);
            if f.len() == 4 && f[2].parse() == Ok(gid) && !f[3].split(',').any(|m| m == member) {
                let members = if f[3].is_empty() { member.to_string() } else { format!("{},{member}", f[3]) };
                format!("{}:{}:{}:{members}\n", f[0], f[1], f[2])
            } else {
                format!("{line}\n")
            }
        })
        .collect()
}

/// The sudoers drop-in allowing exactly `commands` to `user`, or `None` for no sudo.
pub fn sudoers_drop_in(user: &str, commands: &[String]) -> Option<String> {
    if commands.is_empty() {
        return None;
    }
    Some(format!(
        "# Written by dockyard-entrypoint: passwordless sudo for exactly these programs, nothing else.\n\
         Defaults:{user} !requiretty, !lecture\n\
         {user} ALL=(root) NOPASSWD: {}\n",
        commands.join(", ")
    ))
}

/// The environment the workload starts with: `HOME`, `USER`, `LOGNAME`,
/// `PATH` (kept when set), and Docker's endpoint when there is one.
pub fn workload_env(account: &Account, home: &str, path: Option<&str>) -> Vec<(String, String)> {
    vec![
        ("HOME".into(), home.into()),
        ("USER".into(), account.name.clone()),
        ("LOGNAME".into(), account.name.clone()),
        ("PATH".into(), path.unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin").into()),
    ]
}

/// Groups the workload process gets: its primary group and the socket's.
pub fn workload_groups(user: &SandboxUser, socket_gid: Option<u32>) -> Vec<Gid> {
    let mut groups = vec![Gid::from_raw(user.gid)];
    if let Some(gid) = socket_gid.filter(|g| *g != user.gid) {
        groups.push(Gid::from_raw(gid));
    }
    groups
}

/// Why setting up the user failed.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("cannot {action} {path}: {source}")]
    Io { action: &'static str, path: String, source: std::io::Error },
    #[error(transparent)]
    NameTaken(#[from] NameTaken),
    #[error("sudo.commands is set but the image has no sudo (install the `sudo` package in the image)")]
    NoSudo,
    #[error("cannot drop privileges: {0}")]
    Drop(nix::Error),
    #[error("privileges were not dropped for good: setuid(0) still succeeds")]
    RootRegained,
}

fn io<'a>(action: &'static str, path: &'a str) -> impl FnOnce(std::io::Error) -> SetupError + 'a {
    move |source| SetupError::Io { action, path: path.to_string(), source }
}

fn read_or_empty(path: &str) -> Result<String, SetupError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(io("read", path)(e)),
    }
}

/// As root: writes the user database, the home directory and the sudoers
/// drop-in. Returns the account and its home.
pub fn prepare_as_root(user: &SandboxUser, socket_gid: Option<u32>) -> Result<(Account, String), SetupError> {
    let db = load_user_database(user, socket_gid, &format!("/home/{}", user.name))?;
    std::fs::write("/etc/passwd", &db.passwd).map_err(io("write", "/etc/passwd"))?;
    std::fs::write("/etc/group", &db.group).map_err(io("write", "/etc/group"))?;
    let home = db.account.home.clone();
    if !Path::new(&home).exists() {
        std::fs::create_dir_all(&home).map_err(io("create", &home))?;
        nix::unistd::chown(home.as_str(), Some(Uid::from_raw(user.uid)), Some(Gid::from_raw(user.gid)))
            .map_err(|e| SetupError::Io { action: "chown", path: home.clone(), source: e.into() })?;
    }
    match sudoers_drop_in(&db.account.name, &user.sudo) {
        Some(rules) => write_sudoers_drop_in(Path::new("/etc/sudoers.d"), &rules)?,
        None => match std::fs::remove_file(SUDOERS_DROP_IN) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(io("remove", SUDOERS_DROP_IN)(e)),
            _ => {}
        },
    }
    Ok((db.account, home))
}

/// This image's user database with the sandbox user reconciled into it.
fn load_user_database(user: &SandboxUser, socket_gid: Option<u32>, new_home: &str) -> Result<UserDatabase, SetupError> {
    let passwd = read_or_empty("/etc/passwd")?;
    let group = read_or_empty("/etc/group")?;
    Ok(reconcile_user_database(&passwd, &group, user, socket_gid, new_home)?)
}

/// Writes `rules` as `dir/dockyard`, mode 0440, in a directory of mode 0755:
/// sudo ignores drop-ins that others can write or that root does not own.
fn write_sudoers_drop_in(dir: &Path, rules: &str) -> Result<(), SetupError> {
    use std::os::unix::fs::PermissionsExt;
    if !["/usr/bin/sudo", "/bin/sudo"].iter().any(|p| Path::new(p).exists()) {
        return Err(SetupError::NoSudo);
    }
    let dir_name = dir.display().to_string();
    std::fs::create_dir_all(dir).map_err(io("create", &dir_name))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).map_err(io("chmod", &dir_name))?;
    let file = dir.join("dockyard");
    let file_name = file.display().to_string();
    std::fs::write(&file, rules).map_err(io("write", &file_name))?;
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o440)).map_err(io("chmod", &file_name))
}

/// For a Pod, in an init container of the workload's own image: writes
/// `passwd`, `group` and (with sudo) `sudoers.d/dockyard` into `out`, from this
/// image's `/etc`, for the workload container to mount over its own. The
/// workload then starts as the user and never holds root; `kubectl exec` gets
/// the user too. A new account's home is `new_home` (the workspace).
pub fn prepare_files(
    user: &SandboxUser,
    socket_gid: Option<u32>,
    new_home: &str,
    out: &Path,
) -> Result<Account, SetupError> {
    use std::os::unix::fs::PermissionsExt;
    let db = load_user_database(user, socket_gid, new_home)?;
    let path = |name: &str| out.join(name).display().to_string();
    std::fs::create_dir_all(out).map_err(io("create", &path("")))?;
    for (name, text) in [("passwd", &db.passwd), ("group", &db.group)] {
        std::fs::write(out.join(name), text).map_err(io("write", &path(name)))?;
        std::fs::set_permissions(out.join(name), std::fs::Permissions::from_mode(0o644))
            .map_err(io("chmod", &path(name)))?;
    }
    if let Some(rules) = sudoers_drop_in(&db.account.name, &user.sudo) {
        write_sudoers_drop_in(&out.join("sudoers.d"), &rules)?;
    }
    Ok(db.account)
}

/// Drops this process to the user for good: supplementary groups, gid, uid
/// (real, effective and saved), then checks that root cannot be regained.
pub fn drop_privileges(user: &SandboxUser, groups: &[Gid]) -> Result<(), SetupError> {
    nix::unistd::setgroups(groups).map_err(SetupError::Drop)?;
    let gid = Gid::from_raw(user.gid);
    nix::unistd::setresgid(gid, gid, gid).map_err(SetupError::Drop)?;
    let uid = Uid::from_raw(user.uid);
    nix::unistd::setresuid(uid, uid, uid).map_err(SetupError::Drop)?;
    if nix::unistd::setuid(Uid::from_raw(0)).is_ok() {
        return Err(SetupError::RootRegained);
    }
    Ok(())
}

impl fmt::Display for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (uid {})", self.name, self.uid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(sudo: &[&str]) -> SandboxUser {
        SandboxUser::new("dev", 1000, 1000, sudo.iter().map(|s| s.to_string()).collect()).unwrap()
    }

    #[test]
    fn bad_input_is_refused_with_the_problem_named() {
        assert_eq!(SandboxUser::new("dev", 0, 1000, vec![]), Err(InvalidInput::RootUid));
        assert_eq!(SandboxUser::new("dev", 1000, 0, vec![]), Err(InvalidInput::RootGid));
        for name in ["Dev", "1dev", "dev;rm -rf /", "", "d$(id)", &"a".repeat(33)] {
            let err = SandboxUser::new(name, 1000, 1000, vec![]).unwrap_err();
            assert_eq!(err, InvalidInput::UserName(name.to_string()));
            assert!(err.to_string().contains("--user"));
        }
        for cmd in ["apt-get", "/usr/bin/apt-get, ALL", "/bin/sh -c id", "/", "/usr/bin/a:b"] {
            let err = SandboxUser::new("dev", 1000, 1000, vec![cmd.into()]).unwrap_err();
            assert_eq!(err, InvalidInput::SudoCommand(cmd.to_string()), "{cmd}");
        }
        assert!(SandboxUser::new("_ci-bot2", 1000, 1000, vec!["/usr/bin/pip3".into()]).is_ok());
    }

    #[test]
    fn a_missing_user_and_groups_are_added() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\n";
        let group = "root:x:0:\ndocker:x:101:\n";
        let db = reconcile_user_database(passwd, group, &user(&[]), Some(2375), "/home/dev").unwrap();
        assert!(db.passwd.ends_with("dev:x:1000:1000:Dockyard sandbox user:/home/dev:/bin/sh\n"));
        assert_eq!(db.account, Account { name: "dev".into(), uid: 1000, home: "/home/dev".into() });
        // The image's docker group has another gid: the socket's group gets a name of its own.
        assert!(db.group.contains("dev:x:1000:\n"), "{}", db.group);
        assert!(db.group.contains("dockyard-docker:x:2375:dev\n"), "{}", db.group);
        assert!(db.group.contains("docker:x:101:\n"));
    }

    #[test]
    fn the_images_own_account_and_groups_are_kept() {
        let passwd = "root:x:0:0::/root:/bin/sh\nubuntu:x:1000:1000::/home/ubuntu:/bin/bash";
        let group = "root:x:0:\nubuntu:x:1000:\ndocker:x:2375:alice";
        let db = reconcile_user_database(passwd, group, &user(&[]), Some(2375), "/home/dev").unwrap();
        assert_eq!(db.account.name, "ubuntu");
        assert_eq!(db.passwd.lines().count(), 2, "no account added");
        assert!(db.group.contains("docker:x:2375:alice,ubuntu\n"), "{}", db.group);
        assert!(!db.group.contains("dev:x"));
        // Idempotent: a second pass changes nothing.
        let again = reconcile_user_database(&db.passwd, &db.group, &user(&[]), Some(2375), "/home/dev").unwrap();
        assert_eq!(again, db);
    }

    #[test]
    fn a_name_taken_by_another_uid_is_a_clear_error() {
        let err = reconcile_user_database("dev:x:1001:1001::/home/dev:/bin/sh\n", "", &user(&[]), None, "/home/dev")
            .unwrap_err();
        assert_eq!(err.existing_uid, 1001);
        assert!(err.to_string().contains("\"dev\"") && err.to_string().contains("1001"));
    }

    #[test]
    fn sudoers_allows_exactly_the_listed_programs() {
        assert_eq!(sudoers_drop_in("dev", &[]), None);
        let rules = sudoers_drop_in("dev", &["/usr/bin/apt-get".into(), "/usr/bin/pip3".into()]).unwrap();
        let rule_lines: Vec<&str> =
            rules.lines().filter(|l| !l.starts_with('#') && !l.starts_with("Defaults")).collect();
        assert_eq!(rule_lines, ["dev ALL=(root) NOPASSWD: /usr/bin/apt-get, /usr/bin/pip3"]);
    }

    #[test]
    fn groups_and_environment() {
        let u = user(&[]);
        assert_eq!(workload_groups(&u, Some(2375)), [Gid::from_raw(1000), Gid::from_raw(2375)]);
        assert_eq!(workload_groups(&u, Some(1000)), [Gid::from_raw(1000)]);
        let account = Account { name: "dev".into(), uid: 1000, home: "/home/dev".into() };
        let env = workload_env(&account, "/home/dev", None);
        assert!(env.contains(&("HOME".into(), "/home/dev".into())));
        assert!(env.contains(&("LOGNAME".into(), "dev".into())));
        assert!(env.iter().any(|(k, v)| k == "PATH" && v.contains("/usr/bin")));
    }
}
