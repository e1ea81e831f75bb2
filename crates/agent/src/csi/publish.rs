//! Which Pod a `NodePublishVolume` is for, from what only the kubelet decides.
//!
//! A Pod's own `volumeAttributes` could name any Pod, so identity comes from
//! what the kubelet computes: the target path holds the Pod's UID and the
//! volume's name (`<kubelet root>/pods/<uid>/volumes/kubernetes.io~csi/<volume>/mount`),
//! and the volume id of an inline volume is `csi-` + sha256(Pod UID + volume
//! name) (the kubelet's `makeVolumeHandle`). The Pod info the kubelet adds
//! (`podInfoOnMount`, overriding the Pod's own attributes of those names) must
//! agree with both, and no other attribute is accepted. The API server then
//! says whether that Pod may have the socket (`node::NodeService`).

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

use dockyard_api::render::names;

/// The attributes the kubelet passes with `podInfoOnMount: true`.
pub const POD_NAME: &str = "csi.storage.k8s.io/pod.name";
pub const POD_NAMESPACE: &str = "csi.storage.k8s.io/pod.namespace";
pub const POD_UID: &str = "csi.storage.k8s.io/pod.uid";
pub const SERVICE_ACCOUNT: &str = "csi.storage.k8s.io/serviceAccount.name";
pub const EPHEMERAL: &str = "csi.storage.k8s.io/ephemeral";

/// The Pod a publish request is for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodRef {
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

/// Why a request names no Pod the agent could serve.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NotAPod {
    #[error("the target path {0} is not an inline CSI volume's under the kubelet's Pod directories")]
    TargetPath(String),
    #[error("the volume is named {0}; the broker's socket volume of a sandbox Pod is named {want}", want = names::VOLUME_DOCKER_SOCKET)]
    VolumeName(String),
    #[error("the volume id is not the one the kubelet gives this Pod's inline volume")]
    VolumeId,
    #[error("the volume is not an inline ephemeral volume (attribute {EPHEMERAL} is not \"true\")")]
    NotEphemeral,
    #[error("the attribute {0} is missing: the CSIDriver must have podInfoOnMount")]
    Missing(&'static str),
    #[error("the Pod info's UID {0} is not the target path's Pod")]
    OtherPod(String),
    #[error("volume attribute {0} is not accepted: a sandbox's socket volume takes none")]
    Attribute(String),
}

/// The inline volume id the kubelet computes for `volume` of Pod `pod_uid`.
pub fn volume_handle(pod_uid: &str, volume: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, format!("{pod_uid}{volume}").as_bytes());
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("csi-{hex}")
}

/// Where the kubelet puts the sandbox socket volume's target for Pod `pod_uid`.
pub fn target_path(kubelet_root: &Path, pod_uid: &str) -> PathBuf {
    kubelet_root
        .join("pods")
        .join(pod_uid)
        .join("volumes/kubernetes.io~csi")
        .join(names::VOLUME_DOCKER_SOCKET)
        .join("mount")
}

/// The Pod UID and volume name of an inline volume's target path under `kubelet_root`.
fn target_parts(kubelet_root: &Path, target: &Path) -> Option<(String, String)> {
    let rest = target.strip_prefix(kubelet_root.join("pods")).ok()?;
    let parts: Vec<&str> = rest
        .components()
        .map(|c| match c {
            Component::Normal(part) => part.to_str(),
            _ => None,
        })
        .collect::<Option<_>>()?;
    match parts.as_slice() {
        [uid, "volumes", "kubernetes.io~csi", volume, "mount"] => Some((uid.to_string(), volume.to_string())),
        _ => None,
    }
}

/// The Pod of a publish request (`volume_id`, `target_path`, `volume_context`).
pub fn pod_of(
    kubelet_root: &Path,
    volume_id: &str,
    target_path: &str,
    context: &HashMap<String, String>,
) -> Result<PodRef, NotAPod> {
    let target = PathBuf::from(target_path);
    let (uid, volume) = target_parts(kubelet_root, &target).ok_or_else(|| NotAPod::TargetPath(target_path.into()))?;
    if volume != names::VOLUME_DOCKER_SOCKET {
        return Err(NotAPod::VolumeName(volume));
    }
    if volume_id != volume_handle(&uid, &volume) {
        return Err(NotAPod::VolumeId);
    }
    if let Some(key) =
        context.keys().find(|k| ![POD_NAME, POD_NAMESPACE, POD_UID, SERVICE_ACCOUNT, EPHEMERAL].contains(&k.as_str()))
    {
        return Err(NotAPod::Attribute(key.clone()));
    }
    if context.get(EPHEMERAL).map(String::as_str) != Some("true") {
        return Err(NotAPod::NotEphemeral);
    }
    let get = |key: &'static str| context.get(key).cloned().ok_or(NotAPod::Missing(key));
    let pod = PodRef { namespace: get(POD_NAMESPACE)?, name: get(POD_NAME)?, uid: get(POD_UID)? };
    if pod.uid != uid {
        return Err(NotAPod::OtherPod(pod.uid));
    }
    Ok(pod)
}

/// Whether `target_path` is an inline CSI volume's target under
/// `kubelet_root` (the only place unpublishing removes a socket from).
pub fn is_target(kubelet_root: &Path, target_path: &str) -> bool {
    target_parts(kubelet_root, Path::new(target_path)).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    const UID: &str = "0b1f5c2e-8a7d-4b8e-9c1a-3f2e1d0c9b8a";
    const ROOT: &str = "/var/lib/kubelet";

    fn target(uid: &str, volume: &str) -> String {
        format!("{ROOT}/pods/{uid}/volumes/kubernetes.io~csi/{volume}/mount")
    }

    fn context(uid: &str) -> HashMap<String, String> {
        HashMap::from([
            (POD_NAME.into(), "sbx-demo".into()),
            (POD_NAMESPACE.into(), "team-a".into()),
            (POD_UID.into(), uid.into()),
            (SERVICE_ACCOUNT.into(), "default".into()),
            (EPHEMERAL.into(), "true".into()),
        ])
    }

    fn request(uid: &str) -> (String, String, HashMap<String, String>) {
        (volume_handle(uid, "docker-socket"), target(uid, "docker-socket"), context(uid))
    }

    #[test]
    fn the_volume_handle_is_the_kubelets() {
        // sha256("0b1f5c2e-8a7d-4b8e-9c1a-3f2e1d0c9b8adocker-socket"), as `sha256sum` computes it.
        assert_eq!(
            volume_handle(UID, "docker-socket"),
            "csi-7582f946f067f2171004e15252d81401ca95f7167f95b85c19aa25d42f0a400e"
        );
    }

    #[test]
    fn a_sandbox_pods_inline_volume_names_its_pod() {
        let (id, target, context) = request(UID);
        assert_eq!(Path::new(&target), target_path(Path::new(ROOT), UID));
        let pod = pod_of(Path::new(ROOT), &id, &target, &context).unwrap();
        assert_eq!(pod, PodRef { namespace: "team-a".into(), name: "sbx-demo".into(), uid: UID.into() });
        assert!(is_target(Path::new(ROOT), &target));
    }

    #[test]
    fn pod_info_naming_another_pod_is_refused() {
        let (id, target, mut context) = request(UID);
        context.insert(POD_UID.into(), "another".into());
        assert_eq!(pod_of(Path::new(ROOT), &id, &target, &context), Err(NotAPod::OtherPod("another".into())));
        // The volume id of another Pod's volume: a replayed request.
        let (_, target, context) = request(UID);
        let other = volume_handle("another", "docker-socket");
        assert_eq!(pod_of(Path::new(ROOT), &other, &target, &context), Err(NotAPod::VolumeId));
    }

    #[test]
    fn paths_outside_the_kubelets_pod_volumes_are_refused() {
        let (id, _, context) = request(UID);
        for path in [
            format!("/tmp/pods/{UID}/volumes/kubernetes.io~csi/docker-socket/mount"),
            format!("{ROOT}/pods/{UID}/volumes/kubernetes.io~csi/docker-socket/mount/.."),
            format!("{ROOT}/pods/{UID}/../{UID}/volumes/kubernetes.io~csi/docker-socket/mount"),
            format!("{ROOT}/pods/{UID}/volumes/kubernetes.io~empty-dir/docker-socket/mount"),
            format!("{ROOT}/pods/{UID}/volumes/kubernetes.io~csi/docker-socket"),
        ] {
            assert_eq!(pod_of(Path::new(ROOT), &id, &path, &context), Err(NotAPod::TargetPath(path.clone())), "{path}");
            assert!(!is_target(Path::new(ROOT), &path), "{path}");
        }
        let other = target(UID, "other");
        let refused = pod_of(Path::new(ROOT), &volume_handle(UID, "other"), &other, &context);
        assert_eq!(refused, Err(NotAPod::VolumeName("other".into())));
    }

    #[test]
    fn only_the_kubelets_pod_info_is_accepted() {
        let (id, target, mut context) = request(UID);
        context.insert("sandbox".into(), "someone-elses".into());
        assert_eq!(pod_of(Path::new(ROOT), &id, &target, &context), Err(NotAPod::Attribute("sandbox".into())));
        let (id, target, mut context) = request(UID);
        context.remove(POD_NAME);
        assert_eq!(pod_of(Path::new(ROOT), &id, &target, &context), Err(NotAPod::Missing(POD_NAME)));
        let (id, target, mut context) = request(UID);
        context.insert(EPHEMERAL.into(), "false".into());
        assert_eq!(pod_of(Path::new(ROOT), &id, &target, &context), Err(NotAPod::NotEphemeral));
    }
}
