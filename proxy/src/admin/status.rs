//! `/config` and `/sessions`: JSON documents about the config in force and the sessions it
//! runs, built from the reload status and the proxy's view at request time.

use std::sync::atomic::Ordering;

use serde_json::{Value, json};

use crate::proxy::View;
use crate::reload::ReloadStatus;

/// `{generation, sha256, last_error, config}`: the config in force (its file's text) and why the
/// latest reload failed, if it did. `sha256` and `config` are null before the first config.
pub fn config(status: &ReloadStatus) -> Value {
    let serving = status.generation() > 0;
    json!({
        "generation": status.generation(),
        "sha256": serving.then(|| status.sha256()),
        "last_error": status.last_error(),
        "config": serving.then(|| status.text().as_str().to_owned()),
    })
}

/// Every running session (and every ended one its listener's `track` keeps), by listener and
/// then start time: `{id, name, listener, started, ended, stages: [{cluster, endpoint}],
/// traffic: {rx_bytes, rx_packets, tx_bytes, tx_packets}}`, `started` and `ended` in
/// milliseconds since the Unix epoch (`ended` null while it runs), `stages` empty while the session is still
/// connecting its hops, and `traffic` counted on the source side.
pub fn sessions(view: &View) -> Value {
    // What the kernel forwarded for offloaded sessions, into their counters first.
    if let Some(offload) = view.offload() {
        offload.sync_all();
    }
    let mut out = Vec::new();
    for (listener, ctx) in view.listeners() {
        let mut live = ctx.sessions.snapshot();
        live.sort_by_key(|(id, s)| (s.started_ms, *id));
        for (id, s) in live {
            let stages: Vec<Value> = s
                .hops()
                .into_iter()
                .map(|(cluster, endpoint)| json!({"cluster": cluster, "endpoint": endpoint}))
                .collect();
            out.push(json!({
                "id": id,
                "name": s.name,
                "listener": listener,
                "started": s.started_ms,
                "ended": s.ended_ms(),
                "stages": stages,
                "traffic": {
                    "rx_bytes": s.traffic.rx_bytes.load(Ordering::Relaxed),
                    "rx_packets": s.traffic.rx_packets.load(Ordering::Relaxed),
                    "tx_bytes": s.traffic.tx_bytes.load(Ordering::Relaxed),
                    "tx_packets": s.traffic.tx_packets.load(Ordering::Relaxed),
                },
            }));
        }
    }
    Value::Array(out)
}
