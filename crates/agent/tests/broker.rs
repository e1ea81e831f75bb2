//! The broker against the node's real dockerd (`e2e/cluster up --profile
//! docker`, image `dockyard/busybox:1` from `e2e/images base`), driven by the
//! real Docker CLI pointed at a sandbox's broker socket: a developer's
//! workflow works, every escape is refused with the reason, another sandbox's
//! objects are invisible, bad input gets a 400, and cleanup leaves nothing.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use bollard::Docker;
use bollard::models::ContainerCreateBody;
use bollard::query_parameters::{CreateContainerOptionsBuilder, RemoveContainerOptionsBuilder};
use dockyard_agent::broker::Brokers;
use dockyard_agent::broker::images::ImageLedger;
use dockyard_agent::broker::policy::WorkspaceMapping;
use dockyard_agent::docker::connect;
use dockyard_agent::resources::{SANDBOX_LABEL, cleanup, list};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const IMAGE: &str = "dockyard/busybox:1";

fn node_socket() -> PathBuf {
    let socket = dockyard_testing::node_docker_socket();
    assert!(socket.exists(), "no dockerd at {} (start it with: e2e/cluster up --profile docker)", socket.display());
    socket
}

/// The Docker CLI on the broker socket.
struct Cli {
    host: String,
    dir: PathBuf,
}

impl Cli {
    async fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut command = tokio::process::Command::new("docker");
        command.args(args).env("DOCKER_HOST", &self.host).env("DOCKER_CONFIG", self.dir.join("docker-config"));
        command.current_dir(&self.dir).stdin(std::process::Stdio::piped());
        command.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
        let mut child = command.spawn().expect("run the docker CLI");
        let mut input = child.stdin.take().unwrap();
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).await.unwrap();
        }
        drop(input);
        child.wait_with_output().await.unwrap()
    }

    /// Runs and asserts success; returns stdout.
    async fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args, None).await;
        assert!(out.status.success(), "docker {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs and asserts it was refused by the broker with `reason` in the message.
    async fn refused(&self, args: &[&str], reason: &str) {
        let out = self.run(args, None).await;
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "docker {args:?} must be refused, it succeeded");
        assert!(stderr.contains(reason), "docker {args:?}: expected `{reason}` in: {stderr}");
    }
}

/// A raw HTTP exchange on the broker socket (for input the CLI never sends).
async fn raw_exchange(socket: &Path, request: &[u8]) -> String {
    let mut stream = tokio::net::UnixStream::connect(socket).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
    String::from_utf8_lossy(&answer).into_owned()
}

async fn foreign_container(docker: &Docker, name: &str) -> String {
    let labels = HashMap::from([(SANDBOX_LABEL.to_string(), "another-sandbox".to_string())]);
    let body = ContainerCreateBody {
        image: Some(IMAGE.into()),
        cmd: Some(vec!["sleep".into(), "300".into()]),
        labels: Some(labels),
        ..Default::default()
    };
    let options = CreateContainerOptionsBuilder::default().name(name).build();
    docker.create_container(Some(options), body).await.expect("create the other sandbox's container").id
}

/// Another sandbox's container on the node's default bridge, answering
/// `pong` on port 5432; its ID.
async fn foreign_listener(docker: &Docker, name: &str) -> String {
    let labels = HashMap::from([(SANDBOX_LABEL.to_string(), "another-sandbox".to_string())]);
    let body = ContainerCreateBody {
        image: Some(IMAGE.into()),
        cmd: Some(["nc", "-ll", "-p", "5432", "-e", "echo", "pong"].map(String::from).to_vec()),
        labels: Some(labels),
        ..Default::default()
    };
    let options = CreateContainerOptionsBuilder::default().name(name).build();
    let id = docker.create_container(Some(options), body).await.expect("create the other sandbox's listener").id;
    docker.start_container(&id, None::<bollard::query_parameters::StartContainerOptions>).await.unwrap();
    id
}

#[tokio::test]
#[ignore = "needs the node's dockerd (scripts/test starts it)"]
async fn the_docker_cli_works_through_the_broker_and_cannot_escape() {
    let node = node_socket();
    let docker = connect(&node).unwrap();
    let uid = format!("broker-test-{}", std::process::id());
    let dir = std::env::temp_dir().join(&uid);
    let workspace = dir.join("workspace");
    std::fs::create_dir_all(workspace.join("data")).unwrap();
    std::fs::write(workspace.join("data/greeting"), "hello from the workspace\n").unwrap();
    // What a sandbox can make in its workspace to try to reach the node's files.
    std::os::unix::fs::symlink("/etc", workspace.join("to-etc")).unwrap();
    std::os::unix::fs::symlink("/nonexistent-dockyard-target", workspace.join("dangling")).unwrap();
    std::os::unix::fs::symlink("data", workspace.join("to-data")).unwrap();
    let context = dir.join("context");
    std::fs::create_dir_all(&context).unwrap();
    std::fs::write(
        context.join("Dockerfile"),
        format!("FROM {IMAGE}\nCOPY hello.txt /hello.txt\nRUN cat /hello.txt\n"),
    )
    .unwrap();
    std::fs::write(context.join("hello.txt"), "built through the broker\n").unwrap();

    let brokers = Brokers::new(
        node.clone(),
        docker.clone(),
        dir.join("sockets"),
        0,
        ImageLedger::open(&dir.join("images")).unwrap(),
    );
    let mapping = WorkspaceMapping { sandbox_path: "/workspace".into(), node_path: workspace.clone() };
    let scope = dockyard_testing::broker_scope(&uid, Some(mapping));
    let socket = brokers.ensure(scope.clone()).unwrap();
    assert_eq!(brokers.ensure(scope.clone()).unwrap(), socket, "ensure is idempotent");
    let cli = Cli { host: format!("unix://{}", socket.display()), dir: dir.clone() };
    let other = format!("{uid}-other");
    let started = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let other_id = foreign_container(&docker, &other).await;

    // A developer's workflow.
    assert!(cli.ok(&["version", "--format", "{{.Server.Version}}"]).await.trim().len() > 2);
    let image = format!("{uid}-image");
    cli.ok(&["build", "-q", "-t", &image, context.to_str().unwrap()]).await;
    let built = docker.inspect_image(&image).await.unwrap();
    assert_eq!(built.config.unwrap().labels.unwrap().get(SANDBOX_LABEL), Some(&uid), "builds are labelled");
    assert_eq!(cli.ok(&["run", "--rm", &image, "cat", "/hello.txt"]).await, "built through the broker\n");
    assert_eq!(
        cli.ok(&["run", "--rm", "-v", "/workspace/data:/data:ro", IMAGE, "cat", "/data/greeting"]).await,
        "hello from the workspace\n",
        "a bind from the workspace is rewritten to the workspace's node path"
    );
    assert_eq!(
        cli.ok(&["run", "--rm", "-v", "/workspace/to-data:/data:ro", IMAGE, "cat", "/data/greeting"]).await,
        "hello from the workspace\n",
        "a symbolic link that stays inside the workspace is fine"
    );
    let piped =
        cli.run(&["run", "-i", "--rm", IMAGE, "sh", "-c", "tr a-z A-Z"], Some("through a hijacked stream\n")).await;
    assert_eq!(String::from_utf8_lossy(&piped.stdout), "THROUGH A HIJACKED STREAM\n", "attach with stdin");
    let app = format!("{uid}-app");
    cli.ok(&["run", "-d", "--name", &app, IMAGE, "sh", "-c", "echo started; exec sleep 300"]).await;
    assert_eq!(cli.ok(&["exec", &app, "echo", "exec-ok"]).await, "exec-ok\n");
    assert_eq!(cli.run(&["exec", "-i", &app, "cat"], Some("exec stdin\n")).await.stdout, b"exec stdin\n");
    assert!(cli.ok(&["logs", &app]).await.contains("started"));

    // Containment: whatever was asked, the sandbox's cgroup and a PIDs limit.
    let limited = format!("{uid}-limited");
    cli.ok(&["run", "-d", "--name", &limited, "--pids-limit", "-1", IMAGE, "sleep", "300"]).await;
    let host = docker.inspect_container(&limited, None).await.unwrap().host_config.unwrap();
    assert_eq!(host.cgroup_parent.as_deref(), Some(format!("/dockyard-tests/{uid}").as_str()));
    assert_eq!(host.pids_limit, Some(1024), "--pids-limit -1 gets the class's limit");
    let cgroup = std::fs::read_to_string(format!("/sys/fs/cgroup/pids/dockyard-tests/{uid}/{}/pids.max", {
        docker.inspect_container(&limited, None).await.unwrap().id.unwrap()
    }))
    .unwrap();
    assert_eq!(cgroup.trim(), "1024", "the container's cgroup is under the sandbox's on the node");
    // A new scope (here: the class lowered the PIDs limit) reaches the next
    // request without dropping a connection in flight.
    let in_flight = cli.run(&["run", "--rm", IMAGE, "sh", "-c", "sleep 2; echo survived"], None);
    let rescope = async {
        tokio::time::sleep(std::time::Duration::from_millis(700)).await;
        let mut lower = scope.clone();
        lower.rules.pids_limit = 64;
        assert_eq!(brokers.ensure(lower).unwrap(), socket);
    };
    let (out, ()) = tokio::join!(in_flight, rescope);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "survived\n", "{}", String::from_utf8_lossy(&out.stderr));
    let lowered = format!("{uid}-lowered");
    cli.ok(&["create", "--name", &lowered, IMAGE, "true"]).await;
    let host = docker.inspect_container(&lowered, None).await.unwrap().host_config.unwrap();
    assert_eq!((host.pids_limit, host.oom_score_adj), (Some(64), Some(1000)), "the new scope applies; killed first");
    cli.ok(&["rm", &lowered]).await;
    brokers.ensure(scope.clone()).unwrap();

    // Compose-style: a network, a named volume, two services that find each other by name.
    let network = format!("{uid}-net");
    let volume = format!("{uid}-vol");
    let db = format!("{uid}-db");
    cli.ok(&["network", "create", &network]).await;
    cli.ok(&["volume", "create", &volume]).await;
    let data = format!("{volume}:/data");
    cli.ok(&[
        "run",
        "-d",
        "--name",
        &db,
        "--network",
        &network,
        "-v",
        &data,
        IMAGE,
        "sh",
        "-c",
        "echo stored > /data/x; exec nc -ll -p 5432 -e echo pong",
    ])
    .await;
    let reply = cli
        .ok(&[
            "run",
            "--rm",
            "--network",
            &network,
            IMAGE,
            "sh",
            "-c",
            &format!("for i in 1 2 3 4 5 6 7 8 9 10; do echo ping | nc -w 2 {db} 5432 && break; sleep 0.5; done"),
        ])
        .await;
    assert_eq!(reply.trim(), "pong", "services reach each other by name on the sandbox's network");
    assert_eq!(cli.ok(&["run", "--rm", "-v", &data, IMAGE, "cat", "/data/x"]).await, "stored\n");
    // The daemon's default bridge is the sandbox's own network: another
    // sandbox's container on the node's default bridge is out of reach
    // (Docker isolates bridges from each other), its own are not.
    let own_network = dockyard_docker_policy::scope::own_network_name(&uid);
    let mode = docker.inspect_container(&app, None).await.unwrap().host_config.unwrap().network_mode;
    assert_eq!(
        mode.as_deref(),
        Some(own_network.as_str()),
        "a container on the default network joins the sandbox's own"
    );
    let made = docker.inspect_network(&own_network, None).await.unwrap();
    assert_eq!(made.labels.unwrap_or_default().get(SANDBOX_LABEL), Some(&uid), "the own network is the sandbox's");
    let neighbour = format!("{uid}-neighbour");
    let neighbour_id = foreign_listener(&docker, &neighbour).await;
    let neighbour_ip = docker
        .inspect_container(&neighbour_id, None)
        .await
        .unwrap()
        .network_settings
        .and_then(|n| n.networks?.get("bridge")?.ip_address.clone())
        .unwrap_or_default();
    assert!(!neighbour_ip.is_empty(), "the other sandbox's container has an address on the default bridge");
    let probe = |target: String| format!("echo ping | nc -w 3 {target} 5432 || echo unreachable");
    let reply = cli.ok(&["run", "--rm", IMAGE, "sh", "-c", &probe(neighbour_ip.clone())]).await;
    assert_eq!(reply.trim(), "unreachable", "a sandbox's container reached another sandbox's on the default bridge");
    let reply = cli.ok(&["run", "--rm", "--network", &network, IMAGE, "sh", "-c", &probe(db.clone())]).await;
    assert_eq!(reply.trim(), "pong", "the control: the same probe reaches the sandbox's own service");
    docker
        .remove_container(&neighbour_id, Some(RemoveContainerOptionsBuilder::default().force(true).build()))
        .await
        .unwrap();
    let implicit = format!("{uid}-implicit");
    cli.ok(&["run", "--rm", "-v", &format!("{implicit}:/cache"), IMAGE, "true"]).await;
    let implicit_labels = docker.inspect_volume(&implicit).await.unwrap().labels;
    assert_eq!(implicit_labels.get(SANDBOX_LABEL), Some(&uid), "implicitly created volumes are labelled");

    // Streams: an image saved and loaded through the broker; the event stream, filtered.
    let tar = dir.join("image.tar");
    cli.ok(&["save", "-o", tar.to_str().unwrap(), IMAGE]).await;
    assert!(std::fs::metadata(&tar).unwrap().len() > 100_000, "docker save streamed the image");
    assert!(cli.ok(&["load", "-i", tar.to_str().unwrap()]).await.contains(IMAGE), "docker load");
    let until = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 1;
    let events = cli
        .ok(&[
            "events",
            "--since",
            &started.to_string(),
            "--until",
            &until.to_string(),
            "--format",
            "{{.Actor.Attributes.name}}",
        ])
        .await;
    assert!(events.contains(&app) && events.contains(&db), "{events}");
    assert!(!events.contains(&other), "another sandbox's events are shown: {events}");

    // Only its own objects.
    let listed = cli.ok(&["ps", "-a", "--format", "{{.Names}}"]).await;
    assert!(listed.contains(&app) && listed.contains(&db), "{listed}");
    assert!(!listed.contains(&other), "another sandbox's container is listed: {listed}");
    let listed = cli.ok(&["network", "ls", "--format", "{{.Name}}"]).await;
    let mut listed: Vec<&str> = listed.lines().collect();
    listed.sort_unstable();
    let mut expected = [own_network.as_str(), network.as_str()];
    expected.sort_unstable();
    assert_eq!(listed, expected, "only the sandbox's networks are listed");
    assert_eq!(cli.ok(&["volume", "ls", "-q"]).await.lines().count(), 2);
    for args in [
        vec!["inspect", other.as_str()],
        vec!["logs", other.as_str()],
        vec!["exec", other.as_str(), "true"],
        vec!["rm", other.as_str()],
        vec!["stop", other_id.as_str()],
    ] {
        cli.refused(&args, "No such").await;
    }
    cli.ok(&["rm", "-f", &other]).await; // `-f` ignores "No such container", as on a laptop
    docker.inspect_container(&other_id, None).await.expect("`docker rm -f` leaves another sandbox's container alone");
    cli.refused(
        &["run", "--rm", "--network", &format!("container:{other}"), IMAGE, "true"],
        "not one of this sandbox's",
    )
    .await;
    cli.refused(&["run", "--rm", "--volumes-from", &other, IMAGE, "true"], "not one of this sandbox's").await;
    cli.refused(&["run", "--rm", "--network", "not-ours", IMAGE, "true"], "not one of this sandbox's networks").await;
    cli.refused(&["network", "inspect", "bridge"], "No such network").await;
    cli.refused(&["rmi", IMAGE], "shared by the node's sandboxes").await;
    // Images: another image of the node (here: the pause image, tagged) is
    // invisible, and its name cannot be taken.
    let foreign_image = format!("{other}-image:1");
    docker
        .tag_image(
            "registry.k8s.io/pause:3.10.1",
            Some(
                bollard::query_parameters::TagImageOptionsBuilder::default()
                    .repo(&format!("{other}-image"))
                    .tag("1")
                    .build(),
            ),
        )
        .await
        .unwrap();
    let images = cli.ok(&["images", "--format", "{{.Repository}}:{{.Tag}}"]).await;
    assert!(images.contains(IMAGE) && images.contains(&image), "own and shared images are listed: {images}");
    assert!(!images.contains(&foreign_image), "another sandbox's image is listed: {images}");
    cli.refused(&["image", "inspect", &foreign_image], "No such image").await;
    cli.refused(&["tag", &foreign_image, "stolen:1"], "No such image").await;
    cli.refused(&["save", &foreign_image], "No such image").await;
    cli.refused(&["tag", IMAGE, &foreign_image], "did not pull, build or load").await;
    cli.refused(&["build", "-t", &foreign_image, context.to_str().unwrap()], "did not pull, build or load").await;
    let _ = docker.remove_image(&foreign_image, None::<bollard::query_parameters::RemoveImageOptions>, None).await;
    cli.ok(&["tag", &image, &format!("{image}-copy:2")]).await;
    cli.ok(&["rmi", &format!("{image}-copy:2")]).await;

    // Escapes to the node, each refused with what and why.
    let run = |extra: &[&str]| {
        let mut args = vec!["run", "--rm"];
        args.extend_from_slice(extra);
        args.extend([IMAGE, "true"]);
        args.into_iter().map(String::from).collect::<Vec<_>>()
    };
    for (extra, reason) in [
        (vec!["--privileged"], "privileged"),
        (vec!["--cap-add", "SYS_ADMIN"], "CapAdd"),
        (vec!["-v", "/etc:/host-etc"], "outside the workspace"),
        (vec!["-v", "/workspace/../../etc:/host-etc"], "outside the workspace"),
        (vec!["--mount", "type=bind,src=/,dst=/host"], "outside the workspace"),
        (vec!["-v", "/var/run/docker.sock:/var/run/docker.sock"], "outside the workspace"),
        (vec!["--security-opt", "systempaths=unconfined"], "MaskedPaths"),
        (vec!["--log-driver", "syslog"], "log driver `syslog`"),
        (vec!["-p", "0.0.0.0:18080:80"], "publishing ports"),
        (vec!["-P"], "publishing ports"),
        (vec!["--sysctl", "kernel.shm_rmid_forced=1", "--sysctl", "net.ipv4.conf.all.forwarding=1"], "safe sysctls"),
        (vec!["--oom-score-adj", "-1000"], "OomScoreAdj"),
        (vec!["--oom-kill-disable", "-m", "64m"], "OomKillDisable"),
        (vec!["--runtime", "runsc"], "Runtime"),
        (vec!["--network", "host"], "NetworkMode"),
        (vec!["--pid", "host"], "PidMode"),
        (vec!["--ipc", "host"], "IpcMode"),
        (vec!["--uts", "host"], "UTSMode"),
        (vec!["--userns", "host"], "UsernsMode"),
        (vec!["--device", "/dev/null"], "Devices"),
        (vec!["--security-opt", "seccomp=unconfined"], "SecurityOpt"),
        (vec!["--security-opt", "apparmor=unconfined"], "SecurityOpt"),
        (vec!["--cgroup-parent", "/"], "cgroup"),
        (vec!["-v", "/workspace/to-etc:/x"], "symbolic link"),
        (vec!["-v", "/workspace/to-etc/cron.d:/x"], "symbolic link"),
        (vec!["-v", "/workspace/dangling/new:/x"], "symbolic link"),
    ] {
        let args = run(&extra);
        cli.refused(&args.iter().map(String::as_str).collect::<Vec<_>>(), reason).await;
    }
    cli.refused(&["exec", "--privileged", &app, "true"], "privileged").await;
    cli.refused(&["volume", "create", "--opt", "type=none", "--opt", "o=bind", "--opt", "device=/etc", "x"], "--opt")
        .await;
    cli.refused(&["network", "create", "-d", "macvlan", "x"], "macvlan").await;
    cli.refused(&["system", "df"], "system df").await;
    cli.refused(&["plugin", "ls"], "/plugins").await;
    cli.refused(&["build", "--network", "host", context.to_str().unwrap()], "network mode").await;

    // Bad input: a clear 400, and the broker keeps serving.
    let garbage = raw_exchange(&socket, b"THIS IS NOT HTTP\r\n\r\n").await;
    assert!(garbage.starts_with("HTTP/1.1 400"), "{garbage}");
    let bad_json = raw_exchange(
        &socket,
        b"POST /v1.41/containers/create HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\nContent-Length: 9\r\nConnection: close\r\n\r\n{\"Image\":",
    )
    .await;
    assert!(bad_json.starts_with("HTTP/1.1 400") && bad_json.contains("not valid JSON"), "{bad_json}");
    assert_eq!(cli.ok(&["exec", &app, "echo", "still-ok"]).await, "still-ok\n");

    // An image imported from a tar carries no label: the ledger knows it is the sandbox's.
    let imported = format!("{uid}-imported:1");
    let exported = dir.join("exported.tar");
    cli.ok(&["export", "-o", exported.to_str().unwrap(), &app]).await;
    cli.ok(&["import", exported.to_str().unwrap(), &imported]).await;
    assert_eq!(cli.ok(&["run", "--rm", &imported, "echo", "imported"]).await, "imported\n");
    let imported_id = docker.inspect_image(&imported).await.unwrap().id.unwrap();
    assert!(brokers.ledger().owns(&uid, &imported_id), "the import is recorded");

    // Cleanup removes everything the sandbox created and nothing else.
    let found = list(&docker, &uid).await.unwrap();
    assert_eq!(found.containers.len(), 3, "{found:?}");
    assert_eq!((found.networks.len(), found.volumes.len(), found.images.len()), (2, 2, 1), "{found:?}");
    brokers.remove(&uid).unwrap();
    assert!(!socket.exists(), "the broker socket is gone");
    let removed = cleanup(&docker, &uid, 1).await.unwrap();
    assert_eq!(removed, found);
    assert!(list(&docker, &uid).await.unwrap().is_empty(), "nothing labelled is left");
    assert!(docker.inspect_image(&image).await.is_err(), "the built image is gone");
    let unlabelled = brokers.ledger().cleanup(&docker, &uid, &[IMAGE.into()]).await.unwrap();
    assert_eq!(unlabelled, [imported_id], "the ledger's images go too");
    assert!(docker.inspect_image(IMAGE).await.is_ok(), "the shared image stays (it was loaded through the broker too)");
    docker.inspect_container(&other, None).await.expect("the other sandbox's container is untouched");
    docker
        .remove_container(&other_id, Some(RemoveContainerOptionsBuilder::default().force(true).build()))
        .await
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
