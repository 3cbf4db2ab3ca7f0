//! Emission: each workload's config as YAML text, checked by the proxy's own validator, wrapped
//! in the ConfigMap its pod mounts; and the headless Services the endpoints name.
//!
//! Everything is sorted and nothing depends on time, so the same input always gives the same
//! bytes: `kubectl apply` is then a no-op and the kubelet never rewrites a mounted file.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Service, ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use l7mp_config::load::{check_model, sha256_hex};

use crate::diagnostics::{Code, Diagnostics};
use crate::endpoints::ServicePlan;
use crate::load::Object;
use crate::lower::{Lowered, ProxyPlan};
use crate::parallel;
use crate::workload::ProxyMount;

/// The label on every emitted object.
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "l7mpc");
/// The ConfigMap annotation holding the SHA-256 of the config text.
pub const SHA_ANNOTATION: &str = "l7mp.io/config-sha256";
/// Kubernetes' limit on a ConfigMap's data.
const CONFIG_MAP_LIMIT: usize = 1 << 20;

/// One emitted YAML document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Emitted {
    /// Its namespace.
    pub namespace: String,
    /// `ConfigMap`, `Service`, or the workload kind for a bare config.
    pub kind: String,
    /// Its name (for a bare config: the workload's).
    pub name: String,
    /// The YAML text, without a `---` line.
    pub text: String,
}

/// The compiler's output: ConfigMaps, Services and the bare configs, each sorted.
#[derive(Clone, Debug, Default)]
pub struct Output {
    /// One ConfigMap per distinct mounted ConfigMap, by namespace and name.
    pub config_maps: Vec<Emitted>,
    /// The headless Services, by namespace and name.
    pub services: Vec<Emitted>,
    /// The bare proxy configs, by namespace and workload name.
    pub configs: Vec<Emitted>,
}

/// Which of the emitted objects a run writes (`--format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Contents {
    /// ConfigMaps holding the configs, then the headless Services: what a cluster needs.
    Configmap,
    /// The bare proxy config of each workload, for running a proxy by hand.
    Config,
}

impl Output {
    /// The documents of `contents`, in output order (ConfigMaps before the Services).
    pub fn documents(&self, contents: Contents) -> Vec<&Emitted> {
        match contents {
            Contents::Configmap => self.config_maps.iter().chain(&self.services).collect(),
            Contents::Config => self.configs.iter().collect(),
        }
    }
}

impl Emitted {
    /// The document as a JSON value, parsed back from its YAML text (kept only as text, since
    /// most runs need nothing else).
    ///
    /// # Errors
    /// The text does not parse back: an l7mpc bug, described for the bug report.
    pub fn value(&self) -> Result<serde_json::Value, String> {
        let parsed = l7mp_config::yaml::parse_documents(&self.text).map_err(|e| e.message);
        match parsed.map(|docs| docs.into_iter().next()) {
            Ok(Some(doc)) => Ok(doc.value),
            Ok(None) => Err("it is empty".into()),
            Err(e) => Err(e),
        }
        .map_err(|e| {
            format!(
                "the emitted {} {}/{} does not parse back ({e}): this is an l7mpc bug, please \
                 report it with the input",
                self.kind, self.namespace, self.name
            )
        })
    }
}

/// Each proxy's config text, in plan order, with the proxy validator's first problem with it
/// (None when the proxy accepts it): what [`emit`] writes out.
pub struct Rendered(Vec<(String, Option<String>)>);

/// Writes out the configs [`render`] made of `lowered`; a config the proxy would reject is
/// reported as a compiler bug. Takes the plans, since only their mounts are needed once their
/// configs are rendered: dropping them then, and keeping each config's text once, keeps the
/// end of a large run from holding the mesh three times over.
pub fn emit(
    objects: &[Object],
    lowered: Lowered,
    texts: Rendered,
    diags: &mut Diagnostics,
) -> Output {
    let Rendered(texts) = texts;
    let mounts: Vec<ProxyMount> = lowered.proxies.into_iter().map(|p| p.mount).collect();
    let mut output = Output::default();
    // Each ConfigMap's files: for each key, the position in `output.configs` of the config of
    // the first workload mounting it, and that workload.
    let mut maps: BTreeMap<(String, String), BTreeMap<String, (usize, usize)>> = BTreeMap::new();
    for (mount, (text, rejected)) in mounts.into_iter().zip(texts) {
        let workload = &objects[mount.workload];
        if let Some(first) = rejected {
            let message = format!("the compiled config is rejected by the proxy: {first}");
            let hint = "this is an l7mpc bug: please report it with the input";
            diags.push(
                workload
                    .diag(Code::InternalError, "/metadata/name", message)
                    .hint(hint),
            );
            continue;
        }
        let data = maps
            .entry((workload.namespace.clone(), mount.config_map.clone()))
            .or_default();
        match data.get(&mount.key) {
            Some(&(config, first)) if output.configs[config].text != text => {
                let message = format!(
                    "ConfigMap {} is also mounted by {} with a different config",
                    mount.config_map,
                    objects[first].id()
                );
                let hint = "give each workload its own ConfigMap";
                diags.push(
                    workload
                        .diag(Code::ConfigMapConflict, "/metadata/name", message)
                        .hint(hint),
                );
            }
            Some(_) => {}
            None => {
                data.insert(mount.key, (output.configs.len(), mount.workload));
            }
        }
        output.configs.push(Emitted {
            namespace: workload.namespace.clone(),
            kind: workload.kind.name().to_string(),
            name: workload.name.clone(),
            text,
        });
    }
    // Each ConfigMap hashes and quotes the configs it holds: on every core, in map order.
    let maps: Vec<_> = maps.into_iter().collect();
    let configs = &output.configs;
    let config_maps = parallel::map(&maps, |((namespace, name), data)| {
        let first = data.values().next().map_or(0, |&(_, w)| w);
        let size: usize = data
            .iter()
            .map(|(k, &(i, _))| k.len() + configs[i].text.len())
            .sum();
        let too_large = (size > CONFIG_MAP_LIMIT).then(|| {
            let message = format!("ConfigMap {name} would hold {size} bytes, over the 1 MiB limit");
            objects[first].diag(Code::ConfigMapTooLarge, "/metadata/name", message)
        });
        let data: BTreeMap<String, String> = data
            .iter()
            .map(|(k, &(i, _))| (k.clone(), configs[i].text.clone()))
            .collect();
        let text = config_map(namespace, name, data);
        let emitted = Emitted {
            namespace: namespace.clone(),
            kind: "ConfigMap".into(),
            name: name.clone(),
            text,
        };
        (emitted, too_large)
    });
    drop(maps);
    for (emitted, too_large) in config_maps {
        if let Some(diag) = too_large {
            diags.push(diag);
        }
        output.config_maps.push(emitted);
    }
    output.services = parallel::map(&lowered.services, service);
    output
        .services
        .sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    output
        .configs
        .sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
    output
}

/// Renders every plan's config and checks it, as the typed value it is rendered from, by the
/// resolver the proxy's loader runs after parsing: parsing the text back cost more than
/// rendering it, and the tests show that the text parses to that same value. The configs are
/// independent, so they are rendered and checked on every core; the compile does this beside
/// the dataflow graph's checks, which read the same plans.
pub fn render(objects: &[Object], lowered: &Lowered) -> Rendered {
    let render = |proxy: &ProxyPlan| {
        let workload = &objects[proxy.mount.workload];
        let config = proxy.config(objects);
        let text = yaml(&config);
        let file = format!("{}/{}.yaml", workload.namespace, workload.name);
        let rejected = check_model(&file, &config).err().map(|problems| {
            problems
                .first()
                .map_or(String::new(), |p| p.message.clone())
        });
        (text, rejected)
    };
    Rendered(parallel::map(&lowered.proxies, render))
}

/// YAML text of a value; serializing these plain data types cannot fail.
fn yaml<T: serde::Serialize>(value: &T) -> String {
    serde_saphyr::to_string(value).unwrap_or_default()
}

fn metadata(namespace: &str, name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        namespace: Some(namespace.to_string()),
        labels: Some(BTreeMap::from([(
            MANAGED_BY.0.to_string(),
            MANAGED_BY.1.to_string(),
        )])),
        ..ObjectMeta::default()
    }
}

fn config_map(namespace: &str, name: &str, data: BTreeMap<String, String>) -> String {
    let all: String = data.values().map(String::as_str).collect();
    let mut meta = metadata(namespace, name);
    meta.annotations = Some(BTreeMap::from([(
        SHA_ANNOTATION.to_string(),
        sha256_hex(all.as_bytes()),
    )]));
    yaml(&ConfigMap {
        metadata: meta,
        data: Some(data),
        ..ConfigMap::default()
    })
}

fn service(plan: &ServicePlan) -> Emitted {
    let ports = plan
        .ports
        .iter()
        .map(|(port, protocol)| ServicePort {
            name: Some(format!("{}-{port}", protocol.to_ascii_lowercase())),
            port: i32::from(*port),
            protocol: Some((*protocol).to_string()),
            ..ServicePort::default()
        })
        .collect();
    let text = yaml(&Service {
        metadata: metadata(&plan.namespace, &plan.name),
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".into()),
            selector: Some(plan.labels.clone()),
            ports: Some(ports),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    });
    Emitted {
        namespace: plan.namespace.clone(),
        kind: "Service".into(),
        name: plan.name.clone(),
        text,
    }
}

#[cfg(test)]
mod tests;
