use super::*;
use crate::diagnostics::Diagnostic;
use crate::load::{SourceFile, parse};
use crate::select::select;

const PLACE: &str = "apiVersion: l7mp.io/v1\nkind: Target\nmetadata: {name: t}\nspec: {selector: {matchLabels: {app: a}}, linkedVirtualService: x}\n---\n";

fn run(pod_spec: &str, annotations: &str) -> (Vec<ProxyMount>, Vec<Diagnostic>) {
    let text = format!(
        "{PLACE}apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: d}}\nspec:\n  template:\n    metadata: {{labels: {{app: a}}, annotations: {annotations}}}\n    spec:\n{pod_spec}"
    );
    let files = [SourceFile {
        name: "t.yaml".into(),
        text: text.into(),
    }];
    let mut diags = Diagnostics::default();
    let mut inputs = parse(&files, "default", &mut diags);
    crate::schema::check(&mut inputs.objects, &mut diags);
    let placements = select(&inputs.objects, &mut diags);
    let mounts = inspect(&inputs.objects, &placements, &mut diags);
    (mounts, diags.into_sorted())
}

const VOLUMES: &str =
    "      volumes: [{name: cfg, configMap: {name: d-config}}, {name: tmp, emptyDir: {}}]\n";

fn containers(proxy: &str) -> String {
    format!("      containers:\n      - {{name: app, image: socat}}\n      - {proxy}\n{VOLUMES}")
}

fn codes(diags: &[Diagnostic]) -> Vec<Code> {
    diags.iter().map(|d| d.code).collect()
}

#[test]
fn finds_the_proxy_by_command_and_its_config_map() {
    let proxy = "{name: sidecar, image: x, command: [/usr/bin/l7mp], args: [-c, /etc/l7mp/config.yaml], volumeMounts: [{name: tmp, mountPath: /etc}, {name: cfg, mountPath: /etc/l7mp/}]}";
    let (mounts, diags) = run(&containers(proxy), "{}");
    assert!(diags.is_empty(), "{diags:?}");
    assert_eq!(
        mounts,
        [ProxyMount {
            workload: 1,
            container: "sidecar".into(),
            config_path: "/etc/l7mp/config.yaml".into(),
            config_map: "d-config".into(),
            key: "config.yaml".into(),
        }]
    );
}

#[test]
fn annotation_and_image_select_the_container() {
    let proxy = "{name: p, image: l7mp/l7mp-rs, args: [--config=/c/x.yaml], volumeMounts: [{name: cfg, mountPath: /c}]}";
    let (mounts, _) = run(&containers(proxy), "{}");
    assert_eq!(mounts[0].container, "p");
    let (mounts, _) = run(&containers(proxy), "{l7mp.io/proxy-container: p}");
    assert_eq!(mounts[0].key, "x.yaml");
    let (_, diags) = run(&containers(proxy), "{l7mp.io/proxy-container: q}");
    assert_eq!(codes(&diags), [Code::UnknownProxyContainer]);
}

#[test]
fn problems_with_the_proxy_are_reported() {
    let (_, diags) = run(&containers("{name: p, image: nginx}"), "{}");
    assert_eq!(codes(&diags), [Code::NoProxyContainer]);
    let (_, diags) = run(&containers("{name: p, command: [l7mp]}"), "{}");
    assert_eq!(codes(&diags), [Code::NoConfigPath]);
    let (_, diags) = run(
        &containers("{name: p, command: [l7mp, -c, /x/c.yaml]}"),
        "{}",
    );
    assert_eq!(codes(&diags), [Code::NoConfigMapVolume]);
    let tmp =
        "{name: p, command: [l7mp, -c, /x/c.yaml], volumeMounts: [{name: tmp, mountPath: /x}]}";
    assert_eq!(
        codes(&run(&containers(tmp), "{}").1),
        [Code::NoConfigMapVolume]
    );
}

#[test]
fn sub_path_mounts_warn_but_resolve() {
    let proxy = "{name: p, command: [sh, -c, 'exec l7mp --config /x/c.yaml'], volumeMounts: [{name: cfg, mountPath: /x/c.yaml, subPath: proxy.yaml}]}";
    let (mounts, diags) = run(&containers(proxy), "{}");
    assert_eq!(codes(&diags), [Code::SubPathMount]);
    assert_eq!(mounts[0].key, "proxy.yaml");
}

/// A pod spec that does not read is reported where it is, not skipped: nobody could tell
/// whether the workload runs a proxy that needs a config.
#[test]
fn an_unreadable_pod_spec_is_reported() {
    let (mounts, diags) = run("      containers: {name: p}\n", "{}");
    assert!(mounts.is_empty());
    assert_eq!(codes(&diags), [Code::InvalidPodSpec]);
    assert_eq!(diags[0].field, "/spec/template/spec");
    assert!(
        diags[0]
            .message
            .starts_with("this is not a pod spec Kubernetes accepts"),
        "{}",
        diags[0].message
    );
    let (_, diags) = run("      null\n", "{}");
    assert_eq!(codes(&diags), [Code::InvalidPodSpec]);
    assert!(
        diags[0].message.contains("no pod spec"),
        "{}",
        diags[0].message
    );
}
