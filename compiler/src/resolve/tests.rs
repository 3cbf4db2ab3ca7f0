use super::*;
use crate::diagnostics::Diagnostic;
use crate::load::{SourceFile, parse as load};

const TARGET: &str = "apiVersion: l7mp.io/v1\nkind: Target\nmetadata: {name: udp-cluster}\nspec: {cluster: {spec: {Echo: {}}}}\n---\n";
const VSVC: &str = "apiVersion: l7mp.io/v1\nkind: VirtualService\nmetadata: {name: vs}\nspec:\n  selector: {}\n  listener:\n    spec: {UDP: {port: 1}}\n    rules: [{action: {route: {destinationRef: REF}}}]\n---\n";

fn run(text: &str) -> (Vec<Resolution>, Vec<Diagnostic>) {
    let files = [SourceFile {
        name: "t.yaml".into(),
        text: text.into(),
    }];
    let mut diags = Diagnostics::default();
    let mut inputs = load(&files, "default", &mut diags);
    crate::schema::check(&mut inputs.objects, &mut diags);
    let resolved = resolve(&inputs.objects, &mut diags);
    (resolved, diags.into_sorted())
}

fn with_ref(reference: &str) -> (Vec<Resolution>, Vec<Diagnostic>) {
    run(&format!("{TARGET}{}", VSVC.replace("REF", reference)))
}

#[test]
fn all_reference_forms_resolve() {
    for r in [
        "udp-cluster",
        "default/udp-cluster",
        "/apis/l7mp.io/v1/namespaces/default/targets/udp-cluster",
    ] {
        let (resolved, diags) = with_ref(r);
        assert!(diags.is_empty(), "{r}: {diags:?}");
        assert_eq!(
            resolved,
            [Resolution {
                from: 1,
                pointer: "/spec/listener/rules/0/action/route/destinationRef".into(),
                to: 0
            }]
        );
    }
}

#[test]
fn dangling_reference_suggests_a_name() {
    let (_, diags) = with_ref("udp-clustr");
    assert_eq!(diags.len(), 1);
    assert_eq!(diags[0].code, Code::UnresolvedReference);
    assert_eq!(
        diags[0].hint.as_deref(),
        Some("did you mean `udp-cluster`?")
    );
    assert_eq!(diags[0].location.line, 13);
}

#[test]
fn wrong_kind_and_malformed() {
    let (_, diags) = with_ref("/apis/l7mp.io/v1/namespaces/default/virtualservices/udp-cluster");
    assert_eq!(diags[0].code, Code::WrongKindReference);
    let (_, diags) = with_ref("vs");
    assert_eq!(diags[0].code, Code::WrongKindReference);
    for bad in [
        "a/b/c",
        "/apis/l7mp.io/v2/namespaces/default/targets/x",
        "default/",
    ] {
        let (_, diags) = with_ref(bad);
        assert_eq!(diags[0].code, Code::MalformedReference, "{bad}");
    }
}

#[test]
fn duplicates_name_both_places() {
    let (_, diags) = run(&format!("{TARGET}{TARGET}"));
    assert_eq!(diags.len(), 1);
    assert_eq!(diags[0].code, Code::DuplicateObject);
    assert!(
        diags[0].message.contains("also at t.yaml:3:"),
        "{}",
        diags[0].message
    );
}

#[test]
fn predicates_are_not_references() {
    let text = VSVC.replace(
        "{action: {route: {destinationRef: REF}}}",
        "{match: {op: test, path: /x, value: {routeRef: nope}}, action: {apply: vs}}",
    );
    let (resolved, diags) = run(&text);
    assert!(diags.is_empty(), "{diags:?}");
    assert_eq!(resolved.len(), 1);
}
