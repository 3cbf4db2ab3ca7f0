//! Reference resolution: every `destinationRef`, `clusterRef`, `linkedVirtualService`,
//! `rulesRef`, `apply`, `routeRef` and Rule `spec.rulelist` must name an existing object of the
//! right kind, and no two objects may share a kind, namespace and name.
//!
//! A reference is `/apis/l7mp.io/v1/namespaces/NS/PLURAL/NAME` (a Kubernetes self link),
//! `NS/NAME`, or `NAME` in the referring object's namespace. Rule lists have no resource of their
//! own: `rulesRef`, `apply` and `rulelist` name the VirtualService whose listener owns the list.
//!
//! `routeRef: NAME` (or `NAMESPACE/NAME`) names a route written with `name: NAME` in a rule of a
//! VirtualService or Rule of that namespace; the resolution points at the defining object, and
//! [`route_index`] maps each name to the route in it. Route names are unique per namespace.
//!
//! `destinationRef` and `clusterRef` name a Target; when no `l7mp.io` object has the name, a
//! plain `v1` Service of that name is taken (a "naked" Service). `NAME:PORT` picks the
//! Service port named `PORT`, for Services with several ports.

use std::collections::BTreeMap;

use crate::crd::{RefField, Route};
use crate::diagnostics::{Code, Diagnostic, Diagnostics, did_you_mean};
use crate::load::{Kind, Object};

/// The kind a reference field must name; None for `routeRef`, which names a route and is
/// resolved by [`resolve_route`].
fn expected_kind(field: RefField) -> Option<Kind> {
    match field {
        RefField::DestinationRef | RefField::ClusterRef => Some(Kind::Target),
        RefField::LinkedVirtualService
        | RefField::RulesRef
        | RefField::Apply
        | RefField::Rulelist => Some(Kind::VirtualService),
        RefField::RouteRef => None,
    }
}

/// A resolved reference: object `from` names object `to` at `pointer`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolution {
    /// Index of the referring object.
    pub from: usize,
    /// JSON pointer of the reference within it.
    pub pointer: String,
    /// Index of the object referred to.
    pub to: usize,
}

/// Objects by kind, namespace and name.
type Index<'a> = BTreeMap<(Kind, &'a str, &'a str), usize>;

/// Checks names and references of all objects; returns the references that resolved.
pub fn resolve(objects: &[Object], diags: &mut Diagnostics) -> Vec<Resolution> {
    let index = index(objects, diags);
    let defined = routes(objects);
    let routes = route_index(objects, &defined, Some(diags));
    let mut resolved = Vec::new();
    for (from, object) in objects.iter().enumerate() {
        let Some(nodes) = object.nodes() else {
            continue;
        };
        for (pointer, field, text) in nodes.references {
            let Some(expected) = expected_kind(field) else {
                match resolve_route(&routes, object, &pointer, text) {
                    Ok(to) => resolved.push(Resolution { from, pointer, to }),
                    Err(diag) => diags.push(*diag),
                }
                continue;
            };
            match lookup(&index, object, text, expected) {
                Ok(to) => resolved.push(Resolution { from, pointer, to }),
                Err((code, message, hint)) => {
                    let diag = object.diag(code, &pointer, message);
                    diags.push(match hint {
                        Some(hint) => diag.hint(hint),
                        None => diag,
                    });
                }
            }
        }
    }
    resolved
}

fn index<'a>(objects: &'a [Object], diags: &mut Diagnostics) -> Index<'a> {
    let mut index = Index::new();
    for (i, object) in objects.iter().enumerate() {
        let key = (object.kind, object.namespace.as_str(), object.name.as_str());
        if let Some(&first) = index.get(&key) {
            let first: &Object = &objects[first];
            let loc = first.locate("/metadata/name");
            let message = format!(
                "defined twice: also at {}:{}:{}",
                first.file, loc.line, loc.column
            );
            diags.push(object.diag(Code::DuplicateObject, "/metadata/name", message));
        } else {
            index.insert(key, i);
        }
    }
    index
}

type Failure = (Code, String, Option<String>);

fn lookup(index: &Index<'_>, from: &Object, text: &str, expected: Kind) -> Result<usize, Failure> {
    let (text, port) = match text.rsplit_once(':') {
        Some((name, port)) if expected == Kind::Target && !text.starts_with('/') => {
            (name, Some(port))
        }
        _ => (text, None),
    };
    let found = lookup_object(index, from, text, expected)?;
    match port {
        Some(port) if index.get(&(Kind::Service, found.1, found.2)) != Some(&found.0) => Err((
            Code::MalformedReference,
            format!("`{text}:{port}`: only a Kubernetes Service reference takes a `:PORT` suffix"),
            Some(format!("write `{text}`")),
        )),
        Some("") => Err((
            Code::MalformedReference,
            format!("`{text}:` names no port"),
            Some("write `SERVICE:PORTNAME`, or leave out the `:`".into()),
        )),
        _ => Ok(found.0),
    }
}

/// The object `text` names: `(index, namespace, name)`.
fn lookup_object<'a>(
    index: &Index<'a>,
    from: &'a Object,
    text: &'a str,
    expected: Kind,
) -> Result<(usize, &'a str, &'a str), Failure> {
    let (kind, namespace, name) = parse(text, &from.namespace).ok_or_else(|| {
        let hint =
            "write NAME, NAMESPACE/NAME or /apis/l7mp.io/v1/namespaces/NAMESPACE/PLURAL/NAME";
        (
            Code::MalformedReference,
            format!("malformed reference `{text}`"),
            Some(hint.into()),
        )
    })?;
    let wrong_kind = |actual: Kind| {
        let message = format!(
            "`{text}` names a {}, but this field needs a {}",
            actual.name(),
            expected.name()
        );
        (Code::WrongKindReference, message, None)
    };
    match kind {
        Some(actual) if actual != expected => return Err(wrong_kind(actual)),
        _ => {}
    }
    if let Some(&to) = index.get(&(expected, namespace, name)) {
        return Ok((to, namespace, name));
    }
    let other = [Kind::VirtualService, Kind::Target, Kind::Rule]
        .into_iter()
        .find(|k| index.contains_key(&(*k, namespace, name)));
    if let Some(actual) = other {
        return Err(wrong_kind(actual));
    }
    // A naked Service: only where a Target is wanted and no l7mp object has the name.
    if expected == Kind::Target
        && kind.is_none()
        && let Some(&to) = index.get(&(Kind::Service, namespace, name))
    {
        return Ok((to, namespace, name));
    }
    let names = index
        .keys()
        .filter(|(k, ns, _)| *k == expected && *ns == namespace)
        .map(|(_, _, n)| *n);
    let hint = did_you_mean(name, names).map(|near| format!("did you mean `{near}`?"));
    let message = format!("no {} {namespace}/{name}", expected.name());
    Err((Code::UnresolvedReference, message, hint))
}

/// A named route's definition: the object, the pointer of the route in it and the route.
#[derive(Clone, Copy, Debug)]
pub struct RouteSite<'a> {
    /// Index of the defining object.
    pub object: usize,
    /// Pointer of the route in it.
    pub pointer: &'a str,
    /// The route.
    pub route: &'a Route,
}

/// Named routes by namespace and name.
pub type RouteIndex<'a> = BTreeMap<(String, String), RouteSite<'a>>;

/// The routes of every VirtualService and Rule, by object index, with their pointers.
pub fn routes(objects: &[Object]) -> Vec<(usize, Vec<(String, &Route)>)> {
    let defining = objects
        .iter()
        .enumerate()
        .filter(|(_, o)| matches!(o.kind, Kind::VirtualService | Kind::Rule));
    defining
        .filter_map(|(i, o)| Some((i, o.nodes()?.routes)))
        .collect()
}

/// Named routes by namespace and name, from `routes` (as from [`routes`]): the first definition
/// in object order. With `diags`, a second definition of a name is reported.
pub fn route_index<'a>(
    objects: &[Object],
    routes: &'a [(usize, Vec<(String, &'a Route)>)],
    mut diags: Option<&mut Diagnostics>,
) -> RouteIndex<'a> {
    let mut index = RouteIndex::new();
    for (i, found) in routes {
        let object = &objects[*i];
        for (pointer, route) in found {
            let Some(name) = &route.name else { continue };
            let key = (object.namespace.clone(), name.clone());
            match index.get(&key) {
                None => {
                    let site = RouteSite {
                        object: *i,
                        pointer,
                        route,
                    };
                    index.insert(key, site);
                }
                Some(first) => {
                    if let Some(diags) = diags.as_deref_mut() {
                        let first_object = &objects[first.object];
                        let loc = first_object.locate(first.pointer);
                        let message = format!(
                            "route `{name}` is defined twice in namespace {}: also at {}:{}:{}",
                            object.namespace, first_object.file, loc.line, loc.column
                        );
                        let hint = "route names are unique per namespace: rename one of them";
                        diags.push(
                            object
                                .diag(Code::DuplicateRoute, &format!("{pointer}/name"), message)
                                .hint(hint),
                        );
                    }
                }
            }
        }
    }
    index
}

/// The namespace and name a `routeRef` names (`NAME` or `NAMESPACE/NAME`), or None when
/// malformed.
pub fn route_name<'a>(text: &'a str, namespace: &'a str) -> Option<(&'a str, &'a str)> {
    match parse(text, namespace)? {
        (None, namespace, name) => Some((namespace, name)),
        _ => None,
    }
}

/// Resolves `routeRef: text`, written in `from` at `pointer`, to the object defining the route.
fn resolve_route(
    routes: &RouteIndex<'_>,
    from: &Object,
    pointer: &str,
    text: &str,
) -> Result<usize, Box<Diagnostic>> {
    let Some((namespace, name)) = route_name(text, &from.namespace) else {
        let message = format!("malformed route reference `{text}`");
        return Err(Box::new(
            from.diag(Code::MalformedReference, pointer, message)
                .hint("write the route's NAME or NAMESPACE/NAME"),
        ));
    };
    if let Some(site) = routes.get(&(namespace.to_string(), name.to_string())) {
        return Ok(site.object);
    }
    let names = routes
        .keys()
        .filter(|(ns, _)| ns == namespace)
        .map(|(_, n)| n.as_str());
    let hint = did_you_mean(name, names).map_or_else(
        || {
            "give a route `name: ...` in a rule of a VirtualService or Rule of that namespace"
                .into()
        },
        |near| format!("did you mean `{near}`?"),
    );
    let message = format!("no route named `{name}` in namespace {namespace}");
    Err(Box::new(
        from.diag(Code::UnresolvedReference, pointer, message)
            .hint(hint),
    ))
}

/// Splits a reference into the kind it names (self links only), namespace and name.
fn parse<'a>(text: &'a str, namespace: &'a str) -> Option<(Option<Kind>, &'a str, &'a str)> {
    let valid = |s: &str| !s.is_empty() && !s.contains(char::is_whitespace);
    let parts: Vec<&str> = text.split('/').collect();
    let (kind, namespace, name) = match parts.as_slice() {
        ["", "apis", "l7mp.io", "v1", "namespaces", ns, plural, name] => {
            (Some(Kind::from_plural(plural)?), *ns, *name)
        }
        [ns, name] => (None, *ns, *name),
        [name] => (None, namespace, *name),
        _ => return None,
    };
    (valid(namespace) && valid(name)).then_some((kind, namespace, name))
}

#[cfg(test)]
mod tests;
