//! The proxy's log output as a log pipeline sees it: the real binary, its stderr a file (not a
//! terminal), through a start with a config warning, a listener bound, a failed session, a
//! rejected reload and a stop. Both formats are compared with `tests/logs/*.log` after masking
//! what changes from run to run (timestamps, ports, paths, hashes); `L7MP_ACCEPT=1` rewrites
//! them. In JSON mode every line must be one flat object. Also: startup errors in JSON mode,
//! and the original l7mp's level names.

use std::net::{Ipv4Addr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;
use serde_json::Value;

/// A UDP listener on `port` whose sessions go to a TCP cluster on `closed`, where nothing
/// listens: every session fails to connect. UDP over TCP also gets a config warning.
fn config(port: u16, closed: u16) -> String {
    format!(
        "listeners:\n  - name: in\n    spec: {{protocol: UDP, port: {port}, address: 127.0.0.1}}\n    \
         rules:\n      - action: {{route: {{destination: down}}}}\n\
         clusters:\n  - name: down\n    spec: {{protocol: TCP, port: {closed}}}\n    \
         endpoints: [{{spec: {{address: 127.0.0.1}}}}]\n"
    )
}

/// Replaces `file` atomically, as a ConfigMap update does.
fn replace(file: &Path, text: &str) {
    let tmp = file.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, file).unwrap();
}

/// Waits until the log holds `what`, failing after [`WAIT`].
fn wait_for(log: &Path, what: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.contains(what) {
            return;
        }
        assert!(Instant::now() < deadline, "no {what:?} in the log:\n{text}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Runs the scenario with `--log-format format` and returns the log, masked.
fn scenario(format: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.yaml");
    let log = dir.path().join("stderr.log");
    // A port with nothing behind it: bound, then released.
    let closed = reserved_port();
    let port = reserved_port();
    replace(&file, &config(port, closed));
    let mut child = KillOnDrop(
        l7mp_binary()
            .arg("--config")
            .arg(&file)
            .args([
                "--log-format",
                format,
                "--log-level",
                "info",
                "--workers",
                "1",
            ])
            // Polling, so that no inotify problem of the machine adds a line.
            .args(["--watch", "poll", "--recheck-interval", "0.05"])
            .env_remove("L7MP_LOG")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    wait_for(&log, "config applied");
    let client = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let client_port = client.local_addr().unwrap().port();
    client
        .send_to(b"hello", (Ipv4Addr::LOCALHOST, port))
        .unwrap();
    wait_for(&log, "connect failed");
    replace(&file, "listeners: 5\n");
    wait_for(&log, "config not applied");
    let pid = i32::try_from(child.0.id()).unwrap();
    // SAFETY: kill(2) on the child this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let deadline = Instant::now() + WAIT;
    while child.0.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "l7mp did not stop");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(child.0.wait().unwrap().code(), Some(0));
    let text = std::fs::read_to_string(&log).unwrap();
    mask(
        &text,
        dir.path(),
        &[(port, "PORT"), (closed, "CLOSED"), (client_port, "CLIENT")],
    )
}

/// `text` with what differs between runs replaced by names.
fn mask(text: &str, dir: &Path, ports: &[(u16, &str)]) -> String {
    let timestamp = regex_lite::Regex::new(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z").unwrap();
    let sha256 = regex_lite::Regex::new(r"[0-9a-f]{64}").unwrap();
    let mut text = timestamp.replace_all(text, "TIMESTAMP").into_owned();
    text = sha256.replace_all(&text, "SHA256").into_owned();
    text = text.replace(&dir.display().to_string(), "DIR");
    for (port, name) in ports {
        let port = regex_lite::Regex::new(&format!(r"\b{port}\b")).unwrap();
        text = port.replace_all(&text, *name).into_owned();
    }
    text
}

/// Compares `actual` with the golden file `name`, or rewrites it under `L7MP_ACCEPT=1`.
fn golden(name: &str, actual: &str) {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "logs", name]
        .iter()
        .collect();
    if std::env::var_os("L7MP_ACCEPT").is_some() {
        std::fs::write(&path, actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(
        actual,
        expected,
        "{} differs (L7MP_ACCEPT=1 rewrites it)",
        path.display()
    );
}

/// Every line of `log` as a JSON object with the flat keys, its values never Rust debug text.
fn json_lines(log: &str) -> Vec<serde_json::Map<String, Value>> {
    log.lines()
        .map(|line| {
            let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(line) else {
                panic!("not a JSON object: {line}");
            };
            for key in ["timestamp", "level", "message", "target"] {
                assert!(fields[key].is_string(), "no {key}: {line}");
            }
            assert!(!fields.contains_key("fields"), "nested fields: {line}");
            for value in fields.values().filter_map(Value::as_str) {
                assert!(
                    !value.contains("Some(") && !value.contains(" { "),
                    "debug text: {line}"
                );
            }
            fields
        })
        .collect()
}

#[test]
fn text_logs_to_a_pipe_have_no_colour_and_match_the_golden_file() {
    let log = scenario("text");
    assert!(!log.contains('\u{1b}'), "ANSI escape in:\n{log}");
    golden("text.log", &log);
}

#[test]
fn json_logs_are_flat_objects_and_match_the_golden_file() {
    let log = scenario("json");
    let lines = json_lines(&log);
    let listening = lines.iter().find(|l| l["message"] == "listening").unwrap();
    assert_eq!(listening["protocol"], "UDP");
    assert_eq!(listening["address"], "127.0.0.1:PORT");
    // The config problems are structured: the warning at start, the error of the reload.
    let diagnostics: Vec<_> = lines.iter().filter(|l| l.contains_key("line")).collect();
    assert_eq!(diagnostics.len(), 2, "{log}");
    for d in &diagnostics {
        assert_eq!(d["file"], "DIR/config.yaml", "{log}");
        assert!(d["line"].is_u64() && d["column"].is_u64(), "{log}");
        assert!(
            d["field"]
                .as_str()
                .is_some_and(|f| f.starts_with("/listeners"))
        );
        assert!(d["hint"].is_string(), "{log}");
    }
    assert_eq!(diagnostics[0]["level"], "WARN");
    assert_eq!(diagnostics[0]["object"], "listener \"in\"");
    assert_eq!(diagnostics[1]["level"], "ERROR");
    golden("json.log", &log);
}

fn run(args: &[&str], config: &str) -> (Output, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("l7mp.yaml");
    std::fs::write(&file, config).unwrap();
    let mut cmd = l7mp_binary();
    if !args.contains(&"--validate") {
        cmd.arg("--config").arg(&file);
    }
    for arg in args {
        match *arg {
            "FILE" => cmd.arg(&file),
            other => cmd.arg(other),
        };
    }
    let mut child = cmd
        .args(["--workers", "1"])
        .env_remove("L7MP_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + WAIT;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("l7mp {args:?} did not exit");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output().unwrap();
    let stderr = mask(&String::from_utf8_lossy(&out.stderr), dir.path(), &[]);
    (out, stderr)
}

#[test]
fn startup_errors_in_json_mode_are_json_lines() {
    // An invalid config: each diagnostic one line, with its location.
    let bad = "listeners:\n  - name: in\n    spec: {protocol: UDP, port: 70000}\n    \
               rules: [{action: {route: {destination: nowhere}}}]\n";
    let (out, log) = run(&["--log-format", "json"], bad);
    assert_eq!(out.status.code(), Some(2), "{log}");
    let lines = json_lines(&log);
    assert!(!lines.is_empty(), "{log}");
    for l in &lines {
        assert_eq!(l["level"], "ERROR", "{log}");
        assert_eq!(l["file"], "DIR/l7mp.yaml", "{log}");
        assert!(l["line"].is_u64(), "{log}");
    }
    // An unknown level: exit 2, saying where it came from and what to write.
    let good = "listeners: []\n";
    let (out, log) = run(&["--log-format", "json", "--log-level", "loud"], good);
    assert_eq!(out.status.code(), Some(2), "{log}");
    let lines = json_lines(&log);
    assert_eq!(lines.len(), 1, "{log}");
    let message = lines[0]["message"].as_str().unwrap();
    assert!(
        message.starts_with("--log-level (or L7MP_LOG) \"loud\": unknown log level \"loud\""),
        "{log}"
    );
    // A command line that does not parse.
    let (out, log) = run(&["--log-format=json", "--workers", "many"], good);
    assert_eq!(out.status.code(), Some(2), "{log}");
    let lines = json_lines(&log);
    assert_eq!(lines.len(), 1, "{log}");
    assert!(
        lines[0]["message"].as_str().unwrap().contains("many"),
        "{log}"
    );
}

/// Starts the proxy on `config` with `args` and waits for a debug line (the open-file limit
/// is logged at debug level at every start).
fn logs_debug_lines(args: &[&str], config: &str) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("l7mp.yaml");
    let log = dir.path().join("stderr.log");
    std::fs::write(&file, config).unwrap();
    let mut child = KillOnDrop(
        l7mp_binary()
            .arg("--config")
            .arg(&file)
            .args(args)
            .args(["--workers", "1"])
            .env_remove("L7MP_LOG")
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    wait_for(&log, "config applied");
    wait_for(&log, "DEBUG");
    let _ = child.0.kill();
    let _ = child.0.wait();
}

#[test]
fn the_originals_levels_log_more_and_unknown_ones_are_refused() {
    // `silly` in the file and `verbose` on the command line (the original's names) show debug
    // lines; before, they switched all logging off.
    let silly = "admin: {log_level: silly}\nlisteners: []\n";
    logs_debug_lines(&[], silly);
    logs_debug_lines(&["--log-level", "verbose"], "listeners: []\n");
    let (out, log) = run(&["--validate", "FILE"], silly);
    assert_eq!(out.status.code(), Some(0), "{log}");
    // An unknown level in the file: a diagnostic naming the file, the object and the field.
    let (out, log) = run(&["--validate", "FILE"], "admin: {log_level: loud}\n");
    assert_eq!(out.status.code(), Some(2), "{log}");
    assert!(
        log.starts_with(
            "DIR/l7mp.yaml:1:20: error: admin: field `/admin/log_level`: unknown log level \"loud\""
        ),
        "{log}"
    );
    // And on the command line: exit 2 before anything starts.
    let (out, log) = run(&["--log-level", "inof"], "listeners: []\n");
    assert_eq!(out.status.code(), Some(2), "{log}");
    assert!(log.contains("unknown log level \"inof\""), "{log}");
}
