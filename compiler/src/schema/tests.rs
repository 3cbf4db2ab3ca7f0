use super::*;
use crate::crd::Spec;
use crate::diagnostics::{Code, Diagnostic};
use crate::load::{SourceFile, parse};

fn check(text: &str) -> Vec<Diagnostic> {
    let files = [SourceFile {
        name: "t.yaml".into(),
        text: text.into(),
    }];
    let mut diags = Diagnostics::default();
    let inputs = parse(&files, "default", &mut diags);
    for object in &inputs.objects {
        validate(object, &mut diags);
    }
    diags.into_sorted()
}

const VSVC: &str = "apiVersion: l7mp.io/v1\nkind: VirtualService\nmetadata: {name: v}\nspec:\n  selector: {matchLabels: {app: x}}\n  listener:\n";

fn vsvc(listener: &str) -> Vec<Diagnostic> {
    check(&format!("{VSVC}{listener}"))
}

#[test]
fn valid_listener_passes() {
    let diags = vsvc(
        "    spec: {UDP: {port: 9001}}\n    rules: [{action: {route: {destinationRef: t}}}]\n",
    );
    assert!(diags.is_empty(), "{diags:?}");
}

#[test]
fn unknown_protocol_suggests_the_right_one() {
    let diags = vsvc("    spec: {UPD: {port: 9001}}\n    rules: []\n");
    let codes: Vec<_> = diags.iter().map(|d| d.code).collect();
    assert!(codes.contains(&Code::UnknownProtocol), "{diags:?}");
    let d = diags
        .iter()
        .find(|d| d.code == Code::UnknownProtocol)
        .unwrap();
    assert_eq!(d.hint.as_deref(), Some("did you mean `UDP`?"));
    assert_eq!(d.field, "/spec/listener/spec/UPD");
    assert_eq!(d.location.line, 7);
}

#[test]
fn port_out_of_range_points_at_the_port() {
    let diags = vsvc("    spec: {UDP: {port: 70000}}\n    rules: []\n");
    assert_eq!(diags.len(), 1, "{diags:?}");
    assert_eq!(diags[0].code, Code::OutOfRange);
    assert_eq!(diags[0].field, "/spec/listener/spec/UDP/port");
}

#[test]
fn wrong_type_missing_field_and_combinations() {
    let diags = vsvc("    spec: {TCP: {port: x}, UDP: {}}\n");
    let codes: Vec<_> = diags.iter().map(|d| d.code).collect();
    for code in [
        Code::WrongType,
        Code::MissingField,
        Code::ProtocolCount,
        Code::InvalidCombination,
    ] {
        assert!(codes.contains(&code), "{code:?} not in {diags:?}");
    }
}

#[test]
fn unknown_fields_and_enum_values() {
    let text = "apiVersion: l7mp.io/v1\nkind: Target\nmetadata: {name: t}\nspec:\n  cluster:\n    spec: {Echo: {}}\n    loadbalancer: {policy: ConsistentHsh}\n    endpont: []\n";
    let diags = check(text);
    let summary: Vec<_> = diags.iter().map(|d| (d.code, d.hint.clone())).collect();
    assert_eq!(
        summary,
        [
            (
                Code::InvalidValue,
                Some("did you mean `ConsistentHash`?".into())
            ),
            (Code::UnknownField, Some("did you mean `endpoints`?".into())),
        ]
    );
}

#[test]
fn metadata_stays_open() {
    let text = "apiVersion: l7mp.io/v1\nkind: Target\nmetadata: {name: t, labels: {a: b}, uid: x}\nspec: {linkedVirtualService: v}\n";
    assert!(check(text).is_empty());
}

#[test]
fn optional_fields_may_be_null_as_in_kubernetes() {
    let diags = vsvc("    name: null\n    spec: {UDP: {port: 9001}}\n    rules: []\n");
    assert!(diags.is_empty(), "{diags:?}");
    let diags = vsvc("    name: 5\n    spec: {UDP: {port: 9001}}\n    rules: []\n");
    assert_eq!(diags[0].message, "expected string, found integer");
}

/// The schema stage reads every valid spec into its type once and drops the JSON; a spec that
/// does not read keeps an outline of its selectors, routes and references.
#[test]
fn specs_are_read_once_into_types() {
    let files = [SourceFile {
        name: "t.yaml".into(),
        text: format!(
            "{VSVC}    spec: {{UDP: {{port: 70000}}}}\n    rules: [{{action: {{route: {{name: r, destinationRef: t}}}}}}]\n---\n\
             apiVersion: l7mp.io/v1\nkind: Target\nmetadata: {{name: t}}\nspec: {{cluster: {{spec: {{Echo: {{}}}}}}}}\n"
        )
        .into(),
    }];
    let mut diags = Diagnostics::default();
    let mut inputs = parse(&files, "default", &mut diags);
    super::check(&mut inputs.objects, &mut diags);
    let codes: Vec<Code> = diags.into_sorted().iter().map(|d| d.code).collect();
    assert_eq!(codes, [Code::OutOfRange]);
    let (vsvc, target) = (&inputs.objects[0], &inputs.objects[1]);
    assert!(vsvc.value().is_null() && target.value().is_null());
    assert!(matches!(target.crd.as_ref(), Some(Spec::Target(_))));
    assert!(vsvc.crd.is_none());
    let outline = vsvc.outline.as_ref().expect("an outline");
    let selectors: Vec<&str> = outline.selectors.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(selectors, ["/spec/selector"]);
    assert_eq!(outline.routes[0].1.name.as_deref(), Some("r"));
    let references: Vec<&str> = outline.references.iter().map(|r| r.2.as_str()).collect();
    assert_eq!(references, ["t"]);
}

/// A value the schema lets through but the type cannot hold (a position beyond `u32`) is a
/// diagnostic, and the Rule still keeps its reference to its rule list.
#[test]
fn a_spec_that_passes_the_schema_but_does_not_read_is_reported() {
    let files = [SourceFile {
        name: "t.yaml".into(),
        text: "apiVersion: l7mp.io/v1\nkind: Rule\nmetadata: {name: r}\nspec:\n  rulelist: vs\n  position: 4294967296\n  rule: {action: {apply: vs}}\n".into(),
    }];
    let mut diags = Diagnostics::default();
    let mut inputs = parse(&files, "default", &mut diags);
    super::check(&mut inputs.objects, &mut diags);
    let diags = diags.into_sorted();
    let codes: Vec<Code> = diags.iter().map(|d| d.code).collect();
    assert_eq!(codes, [Code::InvalidValue], "{diags:?}");
    let rule = &inputs.objects[0];
    assert!(rule.crd.is_none());
    let outline = rule.outline.as_deref().expect("an outline");
    let references: Vec<&str> = outline.references.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(references, ["/spec/rule/action/apply", "/spec/rulelist"]);
}
