//! Compile-time benchmark: generated meshes of 1x, 4x and 16x a unit mesh (1x: 500
//! VirtualServices, 500 Targets, 100 workloads; 16x: 8,000 + 8,000 and 1,600 workloads),
//! timing `compile` in-process and measuring peak memory as the maxrss of a child process per
//! size (`cargo bench -p l7mpc --bench compile`). `inject` is timed the same way, on the same
//! mesh with its workloads' sidecars left out (one input file: workloads and mesh together).

use std::fmt::Write as _;
use std::time::Instant;

use l7mpc::compile::{Options, compile};
use l7mpc::inject::{self, inject};
use l7mpc::load::SourceFile;

/// The allocator the `l7mpc` binary runs with (see its `main.rs`), so that this measures what
/// a user's compile costs.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// The allocator settings of the `l7mpc` binary.
#[unsafe(export_name = "_rjem_malloc_conf")]
static ALLOCATOR_SETTINGS: &[u8; 10] = l7mpc::ALLOCATOR_SETTINGS;

/// The 1x mesh has 100 workloads, 500 VirtualServices and 500 Targets; larger sizes scale
/// every count up. Without `sidecars`, each workload runs only an app container.
fn mesh(scale: usize, sidecars: bool) -> Vec<SourceFile> {
    let (workloads, services) = (100 * scale, 500 * scale);
    let mut text = String::new();
    for w in 0..workloads {
        let pod = if sidecars {
            format!(
                "      containers:\n        - name: proxy\n          image: l7mp/l7mp-rs\n          command: [l7mp, --config, /etc/l7mp/config.yaml]\n          volumeMounts: [{{name: c, mountPath: /etc/l7mp}}]\n      volumes: [{{name: c, configMap: {{name: w{w}-config}}}}]\n"
            )
        } else {
            "      containers: [{name: app, image: app}]\n".to_string()
        };
        let _ = write!(
            text,
            "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: w{w}}}\nspec:\n  replicas: 2\n  selector: {{matchLabels: {{app: w{w}}}}}\n  template:\n    metadata: {{labels: {{app: w{w}}}}}\n    spec:\n{pod}"
        );
    }
    // A chain: vs{s} on w{s} routes to t{s}, whose endpoints are the pods running vs{s+1};
    // the last Target is an in-proxy Echo, so the chain ends and the mesh is loop-free.
    for s in 0..services {
        let (here, next) = (s % workloads, (s + 1) % workloads);
        let (port, next_port) = (10000 + s, 10001 + s);
        let cluster = if s + 1 == services {
            "{spec: {Echo: {}}}".to_string()
        } else {
            format!(
                "{{spec: {{UDP: {{port: {next_port}}}}}, loadbalancer: {{policy: ConsistentHash}}, endpoints: [{{selector: {{matchLabels: {{app: w{next}}}}}}}]}}"
            )
        };
        let _ = write!(
            text,
            "---\napiVersion: l7mp.io/v1\nkind: VirtualService\nmetadata: {{name: vs{s}}}\nspec:\n  selector: {{matchLabels: {{app: w{here}}}}}\n  listener:\n    spec: {{UDP: {{port: {port}}}}}\n    rules:\n      - action: {{route: {{destinationRef: t{s}}}}}\n---\napiVersion: l7mp.io/v1\nkind: Target\nmetadata: {{name: t{s}}}\nspec:\n  cluster: {cluster}\n"
        );
    }
    vec![SourceFile {
        name: "mesh.yaml".into(),
        text: text.into(),
    }]
}

/// Seconds to compile the mesh of `scale`, or with `injecting`, to inject its bare workloads:
/// until the result is there. Freeing it is not timed, as the `l7mpc` binary never frees it
/// (it exits; see `kept_until_exit` in its `main.rs`).
fn run(scale: usize, injecting: bool) -> f64 {
    let files = mesh(scale, !injecting);
    let start = Instant::now();
    let (seconds, ok, first) = if injecting {
        let injected = inject(&files, &[], &inject::Options::default());
        let seconds = start.elapsed().as_secs_f64();
        let first = injected.diagnostics.first().cloned();
        (seconds, injected.output.is_some(), first)
    } else {
        let compiled = compile(&files, None, &Options::default());
        let seconds = start.elapsed().as_secs_f64();
        let first = compiled.diagnostics.first().cloned();
        (seconds, compiled.output.is_some(), first)
    };
    assert!(ok, "{first:?}");
    seconds
}

/// Peak resident memory of this process in KiB (Linux `VmHWM`).
fn peak_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn main() {
    // In a child (`--child SCALE [inject]`) run once and print the peak memory; the parent
    // times.
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        let scale = args.get(i + 1).and_then(|s| s.parse().ok()).unwrap_or(1);
        run(scale, args.get(i + 2).is_some_and(|a| a == "inject"));
        println!("{}", peak_kib());
        return;
    }
    // `BENCH_RUNS` runs per size (3 by default); the best is the time least disturbed by
    // whatever else the machine runs, the median says how much that was.
    let runs = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(3_usize)
        .max(1);
    for (command, injecting) in [("compile", false), ("inject", true)] {
        for scale in [1, 4, 16] {
            let mut times: Vec<f64> = (0..runs).map(|_| run(scale, injecting)).collect();
            times.sort_by(f64::total_cmp);
            let (best, median) = (times[0], times[times.len() / 2]);
            let child = std::process::Command::new(&args[0])
                .args(["--child", &scale.to_string(), command])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
                .unwrap_or_default();
            println!(
                "{command} {scale:>2}x: {:>8.1} ms (best of {runs}; median {:.1} ms), peak memory {child} KiB",
                best * 1000.0,
                median * 1000.0
            );
        }
    }
}
