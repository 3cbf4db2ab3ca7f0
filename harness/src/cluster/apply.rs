//! `apply`: ConfigMaps (swapped into the pods' volumes as the kubelet does), Services and
//! workloads from manifests, into a cluster that is up.

use std::path::PathBuf;

use anyhow::Result;
use serde_json::Value;

use super::observe::refresh_dns;
use super::reconcile::reconcile;
use super::signals::check_interrupted;
use super::{Options, say};
use crate::kubelet;
use crate::manifest::{self, Manifests};
use crate::pod;
use crate::state::{Dirs, Lock, State};

/// `apply`: applies ConfigMaps (kubelet-style swap in every pod that mounts them), Services
/// (DNS) and workloads (new, scaled, or rolled to a changed template), leaving the rest running.
pub fn apply(opts: &Options, paths: &[PathBuf]) -> Result<()> {
    let manifests = manifest::read_paths(paths, &opts.namespace)?;
    let _lock = Lock::take(&opts.state_root, &opts.cluster)?;
    let dirs = Dirs::new(&opts.state_root, &opts.cluster);
    let mut state = State::load_up(&dirs, &opts.cluster)?;
    let result = apply_manifests(&mut state, &dirs, &manifests);
    state.save(&dirs)?;
    result
}

/// Applies parsed manifests to a loaded cluster (shared by `up` and `apply`); saves the state
/// after each kind of object.
pub(super) fn apply_manifests(state: &mut State, dirs: &Dirs, m: &Manifests) -> Result<()> {
    for s in &m.skipped {
        say(format!("skipped {s} (not a kind the harness runs)"));
    }
    for cm in &m.configmaps {
        let key = cm.key();
        let old = state.configmaps.insert(key.clone(), cm.value.clone());
        let verb = match &old {
            None => "created",
            Some(o)
                if o.get("data") == cm.value.get("data")
                    && o.get("binaryData") == cm.value.get("binaryData") =>
            {
                "unchanged"
            }
            Some(_) => "configured",
        };
        let mut swapped = 0;
        if verb != "unchanged" {
            swapped = update_configmap_volumes(state, dirs, &cm.namespace, &cm.name)?;
        }
        say(format!(
            "configmap/{} {verb}{}",
            cm.name,
            if swapped > 0 {
                format!(" ({swapped} volumes swapped)")
            } else {
                String::new()
            }
        ));
    }
    state.save(dirs)?;
    for svc in &m.services {
        let old = state.services.insert(svc.key(), svc.value.clone());
        if svc.value.pointer("/spec/clusterIP").and_then(Value::as_str) != Some("None") {
            say(format!(
                "service/{}: not headless; without virtual IPs its name resolves to the pod IPs",
                svc.name
            ));
        }
        let verb = match old {
            None => "created",
            Some(o) if o == svc.value => "unchanged",
            Some(_) => "configured",
        };
        say(format!("service/{} {verb}", svc.name));
    }
    state.save(dirs)?;
    for w in &m.workloads {
        check_interrupted()?;
        reconcile(state, dirs, w)?;
    }
    refresh_dns(state, dirs)?;
    state.save(dirs)
}

/// Writes the ConfigMap into every pod volume that shows it; returns how many changed.
fn update_configmap_volumes(state: &State, dirs: &Dirs, ns: &str, name: &str) -> Result<usize> {
    let mut n = 0;
    let Some(cm) = state.configmaps.get(&format!("{ns}/{name}")) else {
        return Ok(0);
    };
    for pod in state.pods.values().filter(|p| p.namespace == ns) {
        for vol in pod::containers(&pod.spec, "volumes") {
            let Some(src) = vol.get("configMap") else {
                continue;
            };
            if src.get("name").and_then(Value::as_str) != Some(name) {
                continue;
            }
            let vname = vol.get("name").and_then(Value::as_str).unwrap_or_default();
            let payload = kubelet::payload(cm, src.get("items"))?;
            let dir = dirs.pod(&pod.name).join("volumes").join(vname);
            if kubelet::write(&dir, &payload)? {
                n += 1;
            }
        }
    }
    Ok(n)
}
