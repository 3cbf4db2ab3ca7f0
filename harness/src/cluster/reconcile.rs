//! Bringing a workload's pods in line with it: StatefulSet ordinals, Deployment and bare Pod
//! replicas, rollouts of a changed template.

use anyhow::Result;

use super::pods::{create_pod, delete_pod};
use super::say;
use super::signals::check_interrupted;
use crate::manifest::{self, Object};
use crate::state::{Dirs, State};

/// Brings a workload's pods in line with it.
pub(super) fn reconcile(state: &mut State, dirs: &Dirs, obj: &Object) -> Result<()> {
    let key = obj.kind_key();
    let hash = manifest::template_hash(obj);
    let want = manifest::replicas(obj);
    state.workloads.insert(key.clone(), obj.value.clone());
    let mine: Vec<(String, String)> = state
        .pods
        .values()
        .filter(|p| p.owner == key)
        .map(|p| (p.name.clone(), p.template_hash.clone()))
        .collect();
    let kind = obj.kind.to_lowercase();
    let mut created = 0;
    let mut deleted = 0;
    match obj.kind.as_str() {
        "StatefulSet" => {
            for ordinal in 0..want {
                let name = manifest::pod_name(obj, &hash, ordinal);
                match mine.iter().find(|(n, _)| *n == name) {
                    Some((_, h)) if *h == hash => continue,
                    Some(_) => {
                        delete_pod(state, dirs, &name)?;
                        deleted += 1;
                    }
                    None => {}
                }
                create_pod(state, dirs, obj, &name, &hash, Some(ordinal))?;
                created += 1;
            }
            for (name, _) in &mine {
                let ordinal = name.rsplit('-').next().and_then(|o| o.parse::<u64>().ok());
                if ordinal.is_none_or(|o| o >= want) {
                    delete_pod(state, dirs, name)?;
                    deleted += 1;
                }
            }
        }
        _ => {
            let current: Vec<&String> = mine
                .iter()
                .filter(|(_, h)| *h == hash)
                .map(|(n, _)| n)
                .collect();
            for _ in current.len() as u64..want {
                let name = loop {
                    let n = manifest::pod_name(obj, &hash, 0);
                    if !state.pods.contains_key(&n) || obj.kind == "Pod" {
                        break n;
                    }
                };
                if obj.kind == "Pod" && state.pods.contains_key(&name) {
                    // A changed bare Pod: replaced (Kubernetes would refuse the update).
                    delete_pod(state, dirs, &name)?;
                    deleted += 1;
                }
                check_interrupted()?;
                create_pod(state, dirs, obj, &name, &hash, None)?;
                created += 1;
            }
            for name in current.iter().skip(want as usize) {
                delete_pod(state, dirs, name)?;
                deleted += 1;
            }
            for (name, h) in &mine {
                if *h != hash && state.pods.contains_key(name) {
                    delete_pod(state, dirs, name)?;
                    deleted += 1;
                }
            }
        }
    }
    let verb = match (mine.is_empty(), created + deleted) {
        (true, _) => "created".to_string(),
        (false, 0) => "unchanged".to_string(),
        _ => format!("configured ({created} pods started, {deleted} stopped)"),
    };
    let group = if obj.kind == "Pod" { "" } else { ".apps" };
    say(format!("{kind}{group}/{} {verb}", obj.name));
    Ok(())
}
