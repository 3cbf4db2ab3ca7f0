use serde_json::json;

use super::*;

fn config_map(data: &str) -> Emitted {
    Emitted {
        namespace: "ns".into(),
        kind: "ConfigMap".into(),
        name: "a".into(),
        text: format!(
            "apiVersion: v1\nkind: ConfigMap\ndata:\n  config.yaml: |\n    {data}\nmetadata:\n  \
             labels:\n    app.kubernetes.io/managed-by: l7mpc\n  name: a\n  namespace: ns\n"
        ),
    }
}

/// `compiled` as the API server returns it after `kubectl apply`.
fn applied(compiled: &Emitted) -> Value {
    let mut live = compiled.value().unwrap();
    live["metadata"]["uid"] = json!("0b7f");
    live["metadata"]["resourceVersion"] = json!("42");
    live["metadata"]["creationTimestamp"] = json!("2026-01-01T00:00:00Z");
    live["metadata"]["managedFields"] = json!([{"manager": "kubectl"}]);
    live["metadata"]["annotations"] =
        json!({"kubectl.kubernetes.io/last-applied-configuration": "{}"});
    live
}

#[test]
fn server_fields_are_ignored_and_changes_shown_per_line() {
    let compiled = config_map("listeners: []");
    let same = diff(&[&compiled], vec![applied(&compiled)], "default").unwrap();
    assert_eq!(same, "");
    let changed = diff(
        &[&config_map("listeners: [x]")],
        vec![applied(&compiled)],
        "default",
    );
    let changed = changed.unwrap();
    assert!(
        changed.starts_with("--- against/ConfigMap/ns/a\n+++ compiled/ConfigMap/ns/a\n"),
        "{changed}"
    );
    assert!(
        changed.contains("\n-    listeners: []\n+    listeners: [x]\n"),
        "{changed}"
    );
}

#[test]
fn managed_objects_missing_on_one_side_show_whole_and_others_are_left_out() {
    let compiled = config_map("listeners: []");
    let mut gone = applied(&compiled);
    gone["metadata"]["name"] = json!("gone");
    let foreign = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "kube-root-ca.crt", "namespace": "ns"}, "data": {"ca.crt": "x"}});
    let text = diff(&[&compiled], vec![gone, foreign], "default").unwrap();
    assert!(
        text.contains("--- /dev/null\n+++ compiled/ConfigMap/ns/a\n"),
        "{text}"
    );
    assert!(
        text.contains("--- against/ConfigMap/ns/gone\n+++ /dev/null\n"),
        "{text}"
    );
    assert!(!text.contains("kube-root-ca"), "{text}");
}

#[test]
fn service_defaults_go_but_chosen_values_stay() {
    let mut service = json!({"kind": "Service", "spec": {
        "clusterIP": "None", "clusterIPs": ["None"], "ipFamilies": ["IPv4"],
        "ipFamilyPolicy": "SingleStack", "sessionAffinity": "None", "type": "ClusterIP",
        "internalTrafficPolicy": "Cluster",
        "ports": [{"port": 80, "targetPort": 80}, {"port": 81, "targetPort": 8081}]},
        "status": {"loadBalancer": {}}});
    live::normalise(&mut service);
    let expected = json!({"kind": "Service", "spec": {"clusterIP": "None",
        "ports": [{"port": 80}, {"port": 81, "targetPort": 8081}]}});
    assert_eq!(service, expected);
    let mut node_port = json!({"kind": "Service", "spec": {"type": "NodePort"}});
    live::normalise(&mut node_port);
    assert_eq!(node_port["spec"]["type"], "NodePort");
}
