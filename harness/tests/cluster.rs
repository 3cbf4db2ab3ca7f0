//! End-to-end tests of the harness: real namespaces, bridge, dnsmasq, socat and perl. They need
//! root and `ip`, `dnsmasq`, `socat`, `perl`, `getent`, and fail at once with a clear message
//! when something is missing (`apt-get install -y iproute2 dnsmasq-base socat perl`). Each test runs
//! its own cluster (own state directory, bridge and subnet), so they run in parallel.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal};
use serde_json::Value;

const SAFE: &str = "bcdfghjklmnpqrstvwxz2456789";

use crate::common::*;

#[test]
fn pods_talk_resolve_share_tmp_follow_configmaps_and_tear_down() {
    let c = Cluster::new("t1", 1);
    c.up(&data("echo.yaml"));
    let status = c.status();
    let all = pods(&status);
    assert_eq!(all.len(), 4, "{status:#}");
    assert!(all.iter().all(|p| p["ready"] == true), "{status:#}");

    // Names in the controllers' patterns.
    let echo = pod_named(&all, "echo-");
    assert_eq!(echo.len(), 2);
    for p in &echo {
        let name = p["name"].as_str().unwrap();
        let parts: Vec<&str> = name.split('-').collect();
        assert_eq!(parts.len(), 3, "{name}");
        assert_eq!((parts[1].len(), parts[2].len()), (10, 5), "{name}");
        assert!(
            name[5..].chars().all(|ch| ch == '-' || SAFE.contains(ch)),
            "{name}"
        );
    }
    assert_eq!(
        echo[0]["name"].as_str().unwrap()[..16],
        echo[1]["name"].as_str().unwrap()[..16]
    );
    let node = pod_named(&all, "node-echo-");
    assert_eq!(node.len(), 1);
    assert_eq!(node[0]["ip"], c.node_ip().as_str());
    assert_eq!(node[0]["hostNetwork"], true);

    let (e0, e1) = (
        echo[0]["name"].as_str().unwrap(),
        echo[1]["name"].as_str().unwrap(),
    );
    let (ip0, ip1) = (
        echo[0]["ip"].as_str().unwrap(),
        echo[1]["ip"].as_str().unwrap(),
    );
    assert_ne!(ip0, ip1);

    // Pod to pod over the bridge, the seed's filter with the downward-API POD_NAME.
    assert_eq!(
        c.udp(e0, &format!("{ip1}:9999"), "hello"),
        format!("Echo on {e1}: \nhello\n")
    );
    assert_eq!(
        c.udp(e1, &format!("{ip0}:9999"), "hi"),
        format!("Echo on {e0}: \nhi\n")
    );
    // A host-network pod at the node IP.
    let node_name = node[0]["name"].as_str().unwrap();
    assert_eq!(
        c.udp("prefixer", &format!("{}:9997", c.node_ip()), "x"),
        format!("Node echo on {node_name}: x\n")
    );
    // Downward API.
    let env = c.exec(
        e0,
        None,
        "",
        &["sh", "-c", "echo $POD_NAME $POD_IP $HOSTNAME; hostname"],
    );
    assert_eq!(env, format!("{e0} {ip0} {e0}\n{e0}\n"));

    // Cluster DNS: the headless Service is every pod's IP, by full name and by search path.
    let want: BTreeSet<String> = [ip0.to_string(), ip1.to_string()].into();
    for name in ["echo.default.svc.cluster.local", "echo"] {
        let out = c.exec("prefixer", None, "", &["getent", "ahostsv4", name]);
        let got: BTreeSet<String> = out
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .map(str::to_string)
            .collect();
        assert_eq!(got, want, "{name}: {out}");
    }
    let reply = c.udp("prefixer", "echo:9999", "by name");
    assert!(
        reply.starts_with("Echo on echo-") && reply.ends_with(": \nby name\n"),
        "{reply}"
    );

    // /tmp: shared by a pod's containers, private to the pod.
    assert_eq!(
        c.exec(e0, Some("echo"), "", &["cat", "/tmp/owner"]),
        format!("{e0}\n")
    );
    assert_eq!(
        c.exec(e1, Some("echo"), "", &["cat", "/tmp/owner"]),
        format!("{e1}\n")
    );
    assert_ne!(
        std::fs::read_to_string("/tmp/owner").unwrap_or_default(),
        format!("{e0}\n")
    );
    assert_eq!(c.exec("prefixer", None, "", &["ls", "-A", "/tmp"]), "");

    // The ConfigMap volume in the kubelet's layout, then swapped by apply.
    let vol = c.dir().join("pods/prefixer/volumes/config");
    let before = std::fs::read_link(vol.join("..data")).unwrap();
    assert!(before.to_str().unwrap().starts_with("..20"));
    assert_eq!(
        std::fs::read_link(vol.join("prefix")).unwrap(),
        Path::new("..data/prefix")
    );
    assert_eq!(
        c.udp("prefixer", "127.0.0.1:9998", "a"),
        "v1 on prefixer: a\n"
    );
    let text = std::fs::read_to_string(data("echo.yaml")).unwrap();
    let changed = c.state.path().join("changed.yaml");
    std::fs::write(&changed, text.replace("prefix: \"v1\"", "prefix: \"v2\"")).unwrap();
    let names_before: Vec<String> = all
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect();
    let out = c.run({
        let mut a = c.cmd();
        a.args(["apply", "-f"]).arg(&changed);
        a
    });
    assert!(out.status.success());
    let after = std::fs::read_link(vol.join("..data")).unwrap();
    assert_ne!(before, after);
    assert!(!vol.join(&before).exists(), "old version removed");
    assert_eq!(
        std::fs::read_link(vol.join("prefix")).unwrap(),
        Path::new("..data/prefix")
    );
    assert_eq!(
        c.exec("prefixer", None, "", &["cat", "/etc/prefixer/prefix"]),
        "v2"
    );
    assert_eq!(
        c.udp("prefixer", "127.0.0.1:9998", "b"),
        "v2 on prefixer: b\n"
    );
    // Nothing else was restarted.
    let names_after: Vec<String> = pods(&c.status())
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names_before, names_after);

    // Scaling by apply updates DNS.
    std::fs::write(
        &changed,
        text.replace("prefix: \"v1\"", "prefix: \"v2\"")
            .replace("replicas: 2", "replicas: 3"),
    )
    .unwrap();
    let out = c.run({
        let mut a = c.cmd();
        a.args(["apply", "-f"]).arg(&changed);
        a
    });
    assert!(out.status.success());
    let out = c.exec("prefixer", None, "", &["getent", "ahostsv4", "echo"]);
    let got: BTreeSet<&str> = out
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(got.len(), 3, "{out}");

    let inventory = c.inventory();
    assert!(
        inventory.0.len() >= 4 && inventory.2.len() >= 8,
        "{inventory:?}"
    );
    c.down();
    c.assert_clean(&inventory);
    c.down(); // idempotent
}

#[test]
fn run_mode_tears_down_on_sigterm() {
    let c = Cluster::new("t2", 2);
    let mut child = c
        .up_args("run", &data("echo.yaml"))
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut inventory = None;
    while Instant::now() < deadline {
        if let Ok(text) = std::fs::read_to_string(c.dir().join("state.json")) {
            let state: Value = serde_json::from_str(&text).unwrap_or_default();
            if state["pods"].as_object().is_some_and(|p| p.len() == 4)
                && pods(&c.status()).iter().all(|p| p["ready"] == true)
            {
                inventory = Some(c.inventory());
                break;
            }
        }
        assert!(child.try_wait().unwrap().is_none(), "run exited early");
        std::thread::sleep(Duration::from_millis(100));
    }
    let inventory = inventory.expect("cluster came up");
    assert_eq!(
        c.udp("prefixer", "127.0.0.1:9998", "a"),
        "v1 on prefixer: a\n"
    );
    rustix::process::kill_process(Pid::from_child(&child), Signal::TERM).unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    c.assert_clean(&inventory);
}

#[test]
fn a_failed_up_leaves_nothing_behind() {
    let c = Cluster::new("t3", 3);
    let file = c.state.path().join("bad.yaml");
    std::fs::write(
        &file,
        "apiVersion: v1\nkind: Pod\nmetadata: {name: good}\nspec:\n  containers:\n    - {name: s, image: x, command: [sleep, '1000000']}\n---\n\
         apiVersion: v1\nkind: Pod\nmetadata: {name: bad}\nspec:\n  containers:\n    - {name: s, image: x, command: [no-such-program-l7mp]}\n",
    )
    .unwrap();
    let out = c.run(c.up_args("up", &file));
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("pod bad container s: program \"no-such-program-l7mp\""),
        "{stderr}"
    );
    assert!(
        stderr.contains("pod/good started"),
        "the first pod was running: {stderr}"
    );
    c.assert_clean(&(Vec::new(), Vec::new(), Vec::new()));
    let out = c.run({
        let mut a = c.cmd();
        a.arg("status");
        a
    });
    assert!(!out.status.success());
}

/// The `echo` Service's addresses as a pod resolves them.
fn echo_addresses(c: &Cluster) -> BTreeSet<String> {
    let out = c.exec("prefixer", None, "", &["getent", "ahostsv4", "echo"]);
    out.lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

#[test]
fn a_deleted_pod_is_replaced_with_a_new_name_and_address() {
    let c = Cluster::new("t4", 4);
    c.up(&data("echo.yaml"));
    let before = pods(&c.status());
    let echo: Vec<&Value> = pod_named(&before, "echo-");
    let (victim, survivor) = (&echo[0], &echo[1]);
    let victim_name = victim["name"].as_str().unwrap().to_string();
    let victim_netns = victim["netns"].as_str().unwrap().to_string();
    let ips_before: BTreeSet<String> = before
        .iter()
        .map(|p| p["ip"].as_str().unwrap().to_string())
        .collect();

    let out = c.run({
        let mut d = c.cmd();
        d.args(["delete-pod", &victim_name]);
        d
    });
    assert!(out.status.success(), "delete-pod failed");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("pod/{victim_name} deleted")),
        "{stderr}"
    );

    // Replaced as a ReplicaSet would: same template hash, new name, an address no pod had.
    let after = pods(&c.status());
    let echo_after: Vec<&Value> = pod_named(&after, "echo-");
    assert_eq!(echo_after.len(), 2, "{after:#?}");
    assert!(echo_after.iter().all(|p| p["name"] != victim_name.as_str()));
    let new = echo_after
        .iter()
        .find(|p| p["name"] != survivor["name"])
        .expect("a replacement");
    let new_name = new["name"].as_str().unwrap();
    let new_ip = new["ip"].as_str().unwrap().to_string();
    assert_eq!(new_name[..16], victim_name[..16], "same template hash");
    assert!(
        !ips_before.contains(&new_ip),
        "{new_ip} was in use: {ips_before:?}"
    );
    assert!(
        !Path::new("/run/netns").join(&victim_netns).exists(),
        "the deleted pod's namespace is gone"
    );
    // DNS holds the survivor and the replacement (ready as soon as its processes run, having
    // no probes), and the replacement answers once its socat listens.
    let survivor_ip = survivor["ip"].as_str().unwrap().to_string();
    let want: BTreeSet<String> = [survivor_ip, new_ip.clone()].into();
    assert_eq!(echo_addresses(&c), want);
    let deadline = Instant::now() + Duration::from_secs(30);
    let reply = loop {
        let out = c
            .cmd()
            .args(["exec", "prefixer", "--", "sh", "-c"])
            .arg(format!("echo new | socat -t 2 - udp4:{new_ip}:9999"))
            .output()
            .unwrap();
        let reply = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() && !reply.is_empty() {
            break reply;
        }
        assert!(Instant::now() < deadline, "the replacement never answered");
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!(reply, format!("Echo on {new_name}: \nnew\n"));

    // A bare Pod has no controller: deleted, not replaced.
    let out = c.run({
        let mut d = c.cmd();
        d.args(["delete-pod", "prefixer"]);
        d
    });
    assert!(out.status.success(), "delete-pod prefixer failed");
    assert!(pod_named(&pods(&c.status()), "prefixer").is_empty());
    let out = c.run({
        let mut d = c.cmd();
        d.args(["delete-pod", "prefixer"]);
        d
    });
    assert!(
        !out.status.success(),
        "a pod that is gone cannot be deleted"
    );

    let inventory = c.inventory();
    c.down();
    c.assert_clean(&inventory);
}
