//! Readiness decided by probes, the same in both runtimes: a pod whose containers' tcpSocket and
//! exec readiness probes never pass stays running but not READY, with each failure in `status`
//! and `describe`, while one whose httpGet probe (on a named port) and exec startup probe pass
//! becomes READY; the headless Service selecting both resolves to the ready one only. The exec
//! probes run inside the container (a host process in the pod's namespaces, or `podman exec`).

use crate::common::*;
use serde_json::Value;

const PROBED: &str = r#"apiVersion: v1
kind: Pod
metadata: {name: never-ready, labels: {app: probed}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: app
      image: APP
      command: ["perl", "-e", "sleep 1 while 1"]
      readinessProbe: {tcpSocket: {port: 8080}}
    - name: exec-probed
      image: APP
      command: ["perl", "-e", "sleep 1 while 1"]
      readinessProbe: {exec: {command: ["perl", "-e", "exit 1"]}}
---
apiVersion: v1
kind: Pod
metadata: {name: ready, labels: {app: probed}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
    - name: web
      image: APP
      command: ["perl", "-MIO::Socket::INET", "-e"]
      args:
        - |
          my $s = IO::Socket::INET->new(LocalPort => 8080, Listen => 5, ReuseAddr => 1)
            or die "8080: $!";
          while (my $c = $s->accept) {
            my $request = <$c>;
            while (my $line = <$c>) { last if $line =~ /^\r?\n$/ }
            my $status = $request =~ m{^GET /ready } ? "200 OK" : "404 Not Found";
            print $c "HTTP/1.1 $status\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
            close $c;
          }
      ports: [{name: http, containerPort: 8080}]
      readinessProbe: {httpGet: {path: /ready, port: http}}
      startupProbe: {exec: {command: ["perl", "-e", "exit 0"]}}
---
apiVersion: v1
kind: Service
metadata: {name: probed}
spec: {clusterIP: None, selector: {app: probed}}
"#;

fn probes_decide_readiness(name: &str, n: u8, runtime: Runtime) {
    let work = tempfile::tempdir().unwrap();
    let c = Cluster::with_runtime(name, n, runtime);
    let file = c.manifest(work.path(), "probed.yaml", PROBED);
    c.up(&file);
    c.wait_for("ready", "became ready", |p| p["ready"] == true);
    let never = c.pod("never-ready");
    assert_eq!(never["status"], "Running", "{never:#}");
    assert_eq!(never["ready"], false, "{never:#}");
    let tcp = container_status(&never, "app")["probeFailure"]
        .as_str()
        .unwrap();
    assert!(tcp.starts_with("Readiness probe failed: dial tcp"), "{tcp}");
    let exec = container_status(&never, "exec-probed")["probeFailure"]
        .as_str()
        .unwrap();
    assert!(exec.contains("exited with 1"), "{exec}");
    let text = c.describe("never-ready");
    assert!(text.contains("Readiness probe failed: dial tcp"), "{text}");
    assert!(text.contains("Ready:          False"), "{text}");

    // The Service's name resolves to the ready pod only (an apply refreshes DNS).
    c.apply(&[&file]);
    let status = c.status();
    let ready_ip = c.pod("ready")["ip"].clone();
    assert_eq!(
        status["dns"]["probed.default.svc.cluster.local"],
        Value::Array(vec![ready_ip]),
        "{status:#}"
    );
    let inventory = c.inventory();
    c.down();
    c.assert_clean(&inventory);
}

#[test]
fn probes_decide_the_readiness_of_processes() {
    probes_decide_readiness("prproc", 44, Runtime::Process);
}

#[test]
fn probes_decide_the_readiness_of_podman_containers() {
    probes_decide_readiness("prpodman", 45, Runtime::Podman);
}
