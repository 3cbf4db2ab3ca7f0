//! `l7mpc graph`: the apps the mesh reaches, the workload boxes, the flow order and both SVG
//! writers (Graphviz when `dot` is installed, the built-in layout always), each picture parsed
//! as XML and searched for every node.

use std::path::{Path, PathBuf};
use std::process::Command;

use l7mpc::compile::{Options, compile};
use l7mpc::graph::{GraphFormat, GraphvizError, Mesh, NodeKind, Renderer, columns, draw};
use l7mpc::load::{SourceFile, read_sources};
use petgraph::graph::NodeIndex;

fn seed_paths() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/task1");
    ["mesh", "gateway", "workloads"]
        .iter()
        .map(|d| root.join(d))
        .collect()
}

fn mesh_of(files: &[SourceFile]) -> Mesh {
    let compiled = compile(files, None, &Options::default());
    assert!(
        compiled.output.is_some(),
        "{:?}",
        compiled.diagnostics.first()
    );
    compiled.mesh
}

fn seed() -> Mesh {
    mesh_of(&read_sources(&seed_paths()).expect("the seed's files"))
}

fn find(mesh: &Mesh, kind: NodeKind, name: &str, detail: &str) -> NodeIndex {
    mesh.graph
        .node_indices()
        .find(|&n| {
            let node = &mesh.graph[n];
            node.kind == kind && node.name == name && node.detail == detail
        })
        .unwrap_or_else(|| panic!("no {kind:?} `{name}` `{detail}` in {:#?}", mesh.graph))
}

fn workload(mesh: &Mesh, n: NodeIndex) -> String {
    mesh.workloads[&mesh.graph[n].workload].to_string()
}

/// The edge labels from `a` to `b`.
fn edges(mesh: &Mesh, a: NodeIndex, b: NodeIndex) -> Vec<&str> {
    mesh.graph
        .edges_connecting(a, b)
        .map(|e| e.weight().as_str())
        .collect()
}

#[test]
fn the_seed_reaches_the_transcoders_socket_and_the_workers_port() {
    let mesh = seed();
    let socat = find(&mesh, NodeKind::App, "app echo", "unix /tmp/uds-echo.sock");
    assert_eq!(
        workload(&mesh, socat),
        "Deployment default/transcoder-deployment"
    );
    let socket = find(&mesh, NodeKind::Endpoint, "endpoint /tmp/uds-echo.sock", "");
    assert_eq!(edges(&mesh, socket, socat), ["local"]);
    let worker = find(&mesh, NodeKind::App, "app echo", "UDP 9999");
    assert_eq!(
        workload(&mesh, worker),
        "Deployment default/worker-deployment"
    );
    let udp = find(
        &mesh,
        NodeKind::Endpoint,
        "endpoint udp-cluster-endpoints.default.svc.cluster.local",
        "2 pods",
    );
    assert_eq!(edges(&mesh, udp, worker), ["network"]);
    // The transcoder's 8888 is its proxy's listener, not an app.
    let apps = mesh
        .graph
        .node_weights()
        .filter(|n| n.kind == NodeKind::App);
    assert_eq!(apps.count(), 2);

    // The ingress chain, down to the socat that answers it, comes before the destination.
    let column = columns(&mesh);
    let destination = find(
        &mesh,
        NodeKind::Cluster,
        "cluster default/udp-cluster",
        "UDP 9999",
    );
    let ingress = find(
        &mesh,
        NodeKind::Cluster,
        "cluster default/websocket-cluster",
        "WebSocket 8888",
    );
    let listener = find(
        &mesh,
        NodeKind::Listener,
        "listener default/gateway-vsvc",
        "UDP 9001",
    );
    assert_eq!(column[listener.index()], 0);
    assert!(column[ingress.index()] < column[socat.index()]);
    assert!(column[socat.index()] < column[destination.index()]);
    assert!(column[destination.index()] < column[worker.index()]);
}

#[test]
fn apps_on_localhost_and_on_pods_without_a_proxy_listener() {
    let text = "\
apiVersion: apps/v1
kind: Deployment
metadata: {name: front}
spec:
  selector: {matchLabels: {app: front}}
  template:
    metadata: {labels: {app: front}}
    spec:
      containers:
        - {name: proxy, image: l7mp/l7mp-rs, command: [l7mp, --config, /etc/l7mp/config.yaml], volumeMounts: [{name: c, mountPath: /etc/l7mp}]}
        - {name: cache, image: cache, ports: [{containerPort: 5000, protocol: UDP}]}
      volumes: [{name: c, configMap: {name: front-config}}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: backend}
spec:
  replicas: 3
  selector: {matchLabels: {app: backend}}
  template:
    metadata: {labels: {app: backend}}
    spec:
      containers:
        - {name: server, image: server, ports: [{containerPort: 7000}]}
---
apiVersion: l7mp.io/v1
kind: VirtualService
metadata: {name: in}
spec:
  selector: {matchLabels: {app: front}}
  listener:
    spec: {UDP: {port: 9000}}
    rules:
      - action: {route: {destinationRef: backend, ingress: [{clusterRef: cache}]}}
---
apiVersion: l7mp.io/v1
kind: Target
metadata: {name: cache}
spec:
  cluster:
    spec: {UDP: {port: 5000}}
    endpoints: [{spec: {address: 127.0.0.1}}]
---
apiVersion: l7mp.io/v1
kind: Target
metadata: {name: backend}
spec:
  cluster:
    spec: {TCP: {port: 7000}}
    loadbalancer: {policy: ConsistentHash}
    endpoints: [{selector: {matchLabels: {app: backend}}}]
";
    let files = [SourceFile {
        name: "mesh.yaml".into(),
        text: text.into(),
    }];
    let mesh = mesh_of(&files);
    let cache = find(&mesh, NodeKind::App, "app cache", "UDP 5000");
    assert_eq!(workload(&mesh, cache), "Deployment default/front");
    let local = find(&mesh, NodeKind::Endpoint, "endpoint 127.0.0.1", "");
    assert_eq!(edges(&mesh, local, cache), ["local"]);
    let server = find(&mesh, NodeKind::App, "app server", "TCP 7000");
    assert_eq!(workload(&mesh, server), "Deployment default/backend");
    let column = columns(&mesh);
    assert!(column[cache.index()] < column[server.index()]);
    let dot = draw(&mesh, GraphFormat::Dot, Renderer::Auto)
        .expect("dot text")
        .text;
    assert!(dot.contains("subgraph cluster_1 {\n    label=\"Deployment default/backend\";"));
}

/// Every `text` (and `tspan`) of an SVG document; panics unless it is well-formed XML.
fn texts(svg: &str) -> Vec<String> {
    // Graphviz writes the SVG 1.1 DOCTYPE.
    let options = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..roxmltree::ParsingOptions::default()
    };
    let document = roxmltree::Document::parse_with_options(svg, options).expect("well-formed XML");
    let root = document.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    assert_eq!(
        root.tag_name().namespace(),
        Some("http://www.w3.org/2000/svg")
    );
    root.descendants()
        .filter(|n| n.tag_name().name() == "text" || n.tag_name().name() == "tspan")
        .filter_map(|n| n.text())
        .map(|t| t.trim().to_string())
        .collect()
}

/// Checks that every node's lines and every workload box's title are texts of `svg`.
fn assert_draws_every_node(mesh: &Mesh, svg: &str) {
    let texts = texts(svg);
    for node in mesh.graph.node_weights() {
        for line in [&node.name, &node.detail]
            .into_iter()
            .filter(|l| !l.is_empty())
        {
            assert!(texts.contains(line), "`{line}` is not drawn: {texts:?}");
        }
    }
    for id in mesh.workloads.values() {
        assert!(texts.contains(&id.to_string()), "no box for {id}");
    }
}

fn dot_installed() -> bool {
    Command::new("dot")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn the_builtin_svg_draws_every_node_and_box() {
    let mesh = seed();
    let svg = draw(&mesh, GraphFormat::Svg, Renderer::Builtin).expect("built-in SVG");
    assert!(svg.note.is_none());
    assert_draws_every_node(&mesh, &svg.text);
    assert!(!svg.text.contains("Generated by graphviz"));
}

#[test]
fn graphviz_draws_svg_when_dot_is_installed() {
    let mesh = seed();
    let graphviz = draw(&mesh, GraphFormat::Svg, Renderer::Graphviz);
    let auto = draw(&mesh, GraphFormat::Svg, Renderer::Auto).expect("auto always draws");
    let builtin = draw(&mesh, GraphFormat::Svg, Renderer::Builtin).expect("built-in SVG");
    if dot_installed() {
        let svg = graphviz.expect("dot -Tsvg works").text;
        assert!(svg.contains("Generated by graphviz"));
        assert_draws_every_node(&mesh, &svg);
        let boxes = texts(&svg)
            .iter()
            .filter(|t| t.starts_with("cluster_"))
            .count();
        assert_eq!(boxes, 0, "box ids are not drawn as text");
        assert!(
            svg.contains("<title>cluster_2</title>"),
            "three workload boxes"
        );
        assert_eq!(auto.text, svg);
    } else {
        assert!(matches!(graphviz, Err(GraphvizError::Missing)));
        assert_eq!(auto.text, builtin.text);
    }
}

fn l7mpc(args: &[&str]) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_l7mpc"));
    command.args(args).env("NO_COLOR", "1");
    for path in seed_paths() {
        command.arg("-f").arg(path);
    }
    command.output().expect("l7mpc runs")
}

#[test]
fn the_command_line_writes_svg_files_and_forces_the_builtin_layout() {
    let dir = std::env::temp_dir().join(format!("l7mpc-graph-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temporary folder");
    let file = dir.join("seed.svg");
    let path = file.to_str().expect("UTF-8 path");
    let out = l7mpc(&["graph", "-o", path, "--renderer", "builtin"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(out.stdout.is_empty());
    let written = std::fs::read_to_string(&file).expect("the SVG file");
    let builtin = draw(&seed(), GraphFormat::Svg, Renderer::Builtin).expect("built-in SVG");
    assert_eq!(
        written, builtin.text,
        "-o FILE.svg draws SVG, built in when asked"
    );

    let file = dir.join("seed.dot");
    let out = l7mpc(&["graph", "-o", file.to_str().expect("UTF-8 path")]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let written = std::fs::read_to_string(&file).expect("the dot file");
    assert!(written.starts_with("digraph l7mp {\n  rankdir=LR;"));

    let out = l7mpc(&["graph", "--format", "svg", "--renderer", "graphviz"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if dot_installed() {
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        assert!(stdout.contains("Generated by graphviz"));
    } else {
        assert_eq!(out.status.code(), Some(2));
        assert!(stderr.contains("`dot` is not installed"), "{stderr}");
    }
    std::fs::remove_dir_all(&dir).expect("temporary folder removed");
}

/// `l7mpc graph --format svg` with `extra` arguments, finding programs only in `path`.
fn l7mpc_with_path(path: &Path, extra: &[&str]) -> (Option<i32>, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_l7mpc"));
    command.args(["graph", "--format", "svg"]).args(extra);
    for p in seed_paths() {
        command.arg("-f").arg(p);
    }
    let out = command.env("PATH", path).output().expect("l7mpc runs");
    let text = |b: Vec<u8>| String::from_utf8(b).expect("UTF-8");
    (out.status.code(), text(out.stdout), text(out.stderr))
}

#[test]
fn auto_draws_built_in_when_dot_is_missing_or_fails() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("l7mpc-graph-dot-{}", std::process::id()));
    let (empty, failing) = (dir.join("empty"), dir.join("failing"));
    std::fs::create_dir_all(&empty).expect("temporary folder");
    std::fs::create_dir_all(&failing).expect("temporary folder");
    let dot = failing.join("dot");
    std::fs::write(&dot, "#!/bin/sh\necho 'dot: broken' >&2\nexit 3\n").expect("a failing dot");
    std::fs::set_permissions(&dot, std::fs::Permissions::from_mode(0o755)).expect("executable");
    let builtin = draw(&seed(), GraphFormat::Svg, Renderer::Builtin).expect("built-in SVG");

    let (code, svg, stderr) = l7mpc_with_path(&empty, &[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(svg, builtin.text);
    assert!(
        !stderr.contains("built-in layout"),
        "no note when dot is absent: {stderr}"
    );
    let (code, svg, stderr) = l7mpc_with_path(&empty, &["--renderer", "graphviz"]);
    assert_eq!(code, Some(2));
    assert!(svg.is_empty());
    assert!(stderr.contains("`dot` is not installed"), "{stderr}");

    let (code, svg, stderr) = l7mpc_with_path(&failing, &[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(svg, builtin.text);
    assert!(stderr.contains("dot: broken"), "{stderr}");
    assert!(
        stderr.contains("drew with the built-in layout instead"),
        "{stderr}"
    );
    let (code, _, stderr) = l7mpc_with_path(&failing, &["--renderer", "graphviz"]);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("`dot -Tsvg` failed: dot: broken"),
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).expect("temporary folder removed");
}
