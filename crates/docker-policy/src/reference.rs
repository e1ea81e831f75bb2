//! Image references as dockerd normalises them (`busybox` is
//! `docker.io/library/busybox:latest`), so that ownership is tracked per
//! reference whatever spelling the client used.

/// `repo` and `tag` as one reference (`repo:tag`, or `repo` with a digest or no tag).
pub fn join(repo: &str, tag: &str) -> String {
    if tag.is_empty() {
        repo.to_string()
    } else if tag.starts_with("sha256:") {
        format!("{repo}@{tag}")
    } else {
        format!("{repo}:{tag}")
    }
}

/// Whether `name` is an image ID (full or short) rather than a reference.
pub fn is_id(name: &str) -> bool {
    let hex = name.strip_prefix("sha256:").unwrap_or(name);
    (12..=64).contains(&hex.len()) && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The normalised form of a reference: registry domain, `library/` for
/// official images, and `:latest` when it has neither tag nor digest.
pub fn normalize(reference: &str) -> String {
    let (name, digest) = match reference.split_once('@') {
        Some((name, digest)) => (name, Some(digest)),
        None => (reference, None),
    };
    // A tag follows the last `:` after the last `/` (a `:` before it is a registry port).
    let last_slash = name.rfind('/').map_or(0, |i| i + 1);
    let (repo, tag) = match name[last_slash..].rfind(':') {
        Some(i) => (&name[..last_slash + i], Some(&name[last_slash + i + 1..])),
        None => (name, None),
    };
    let repo = repo.to_ascii_lowercase();
    let repo = match repo.split_once('/') {
        Some((domain, rest)) if domain.contains('.') || domain.contains(':') || domain == "localhost" => {
            let domain = if domain == "index.docker.io" { "docker.io" } else { domain };
            if domain == "docker.io" && !rest.contains('/') {
                format!("docker.io/library/{rest}")
            } else {
                format!("{domain}/{rest}")
            }
        }
        Some(_) => format!("docker.io/{repo}"),
        None => format!("docker.io/library/{repo}"),
    };
    match (tag, digest) {
        (Some(tag), Some(digest)) => format!("{repo}:{tag}@{digest}"),
        (Some(tag), None) => format!("{repo}:{tag}"),
        (None, Some(digest)) => format!("{repo}@{digest}"),
        (None, None) => format!("{repo}:latest"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_normalise_as_docker_does() {
        assert_eq!(normalize("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(normalize("busybox:1"), "docker.io/library/busybox:1");
        assert_eq!(normalize("docker.io/busybox:1"), "docker.io/library/busybox:1");
        assert_eq!(normalize("index.docker.io/library/busybox"), "docker.io/library/busybox:latest");
        assert_eq!(normalize("team/app"), "docker.io/team/app:latest");
        assert_eq!(normalize("dockyard/busybox:1"), "docker.io/dockyard/busybox:1");
        assert_eq!(normalize("reg.local:5000/a/b"), "reg.local:5000/a/b:latest");
        assert_eq!(normalize("localhost/app:2"), "localhost/app:2");
        assert_eq!(normalize("app@sha256:abc"), "docker.io/library/app@sha256:abc");
        assert_eq!(join("app", "1"), "app:1");
        assert_eq!(join("app", ""), "app");
        assert!(is_id("sha256:0123456789ab") && is_id("0123456789abcdef") && !is_id("busybox"));
    }
}
