//! `delete-pod`: one pod deleted as `kubectl delete pod` deletes it, then replaced as its
//! workload's controller (ReplicaSet, DaemonSet, StatefulSet) would replace it.

use anyhow::Result;

use super::Options;
use super::observe::{observe, refresh_dns};
use super::pods::delete_pod;
use super::reconcile::reconcile;
use crate::dns;
use crate::manifest::Object;
use crate::state::{Dirs, Lock, State};

/// `delete-pod`: takes the pod out of DNS (as its endpoints drop a terminating pod), stops and
/// removes it, then brings its workload back to its replica count (a new pod with a new name
/// and a new IP; a bare Pod is not replaced) and updates DNS again. The replacement joins DNS
/// once it is ready: at once when it already is, else at the next `apply` or, under `run`,
/// within a second.
pub fn delete_pod_command(opts: &Options, name: &str) -> Result<()> {
    let _lock = Lock::take(&opts.state_root, &opts.cluster)?;
    let dirs = Dirs::new(&opts.state_root, &opts.cluster);
    let mut state = State::load_up(&dirs, &opts.cluster)?;
    let owner = state.pod(name)?.owner.clone();
    let result = delete_and_replace(&mut state, &dirs, name, &owner);
    state.save(&dirs)?;
    result
}

fn delete_and_replace(state: &mut State, dirs: &Dirs, name: &str, owner: &str) -> Result<()> {
    let seen = observe(state, dirs)?;
    dns::update(state, dirs, &|p| {
        p.name != name && seen.get(&p.name).is_some_and(|s| s.ready)
    })?;
    delete_pod(state, dirs, name)?;
    match owner_object(state, owner) {
        Some(obj) if obj.kind != "Pod" => reconcile(state, dirs, &obj)?,
        _ => {
            // A bare Pod has no controller: it is gone for good.
            state.workloads.remove(owner);
        }
    }
    refresh_dns(state, dirs)?;
    Ok(())
}

/// The workload `Kind/namespace/name` as the state holds it.
fn owner_object(state: &State, key: &str) -> Option<Object> {
    let value = state.workloads.get(key)?;
    let mut parts = key.splitn(3, '/');
    let (kind, namespace, name) = (parts.next()?, parts.next()?, parts.next()?);
    Some(Object {
        kind: kind.to_string(),
        namespace: namespace.to_string(),
        name: name.to_string(),
        value: value.clone(),
    })
}
