use super::*;
use crate::diagnostics::Diagnostic;
use crate::load::{SourceFile, parse};

const WORKLOADS: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: worker}\nspec:\n  template:\n    metadata: {labels: {app: worker}}\n    spec: {containers: []}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: worker-svc}\nspec: {selector: {app: worker}}\n---\n";

fn run(selector: &str) -> (Vec<Placement>, Vec<Diagnostic>) {
    let text = format!(
        "{WORKLOADS}apiVersion: l7mp.io/v1\nkind: Target\nmetadata: {{name: t}}\nspec:\n  selector: {selector}\n  linkedVirtualService: x\n"
    );
    let files = [SourceFile {
        name: "t.yaml".into(),
        text: text.into(),
    }];
    let mut diags = Diagnostics::default();
    let mut inputs = parse(&files, "default", &mut diags);
    crate::schema::check(&mut inputs.objects, &mut diags);
    let placements = select(&inputs.objects, &mut diags);
    (placements, diags.into_sorted())
}

#[test]
fn placement_on_matching_templates() {
    let (placements, diags) = run("{matchLabels: {app: worker}}");
    assert!(diags.is_empty(), "{diags:?}");
    assert_eq!(
        placements,
        [Placement {
            object: 2,
            workloads: vec![0]
        }]
    );
    let (placements, _) = run("{matchService: worker-svc}");
    assert_eq!(placements[0].workloads, [0]);
}

#[test]
fn matching_nothing_is_a_warning() {
    let (placements, diags) = run("{matchLabels: {app: nobody}}");
    assert_eq!(placements[0].workloads, Vec::<usize>::new());
    assert_eq!(diags[0].code, Code::SelectorMatchesNothing);
    assert_eq!(diags[0].severity, crate::diagnostics::Severity::Warning);
}

#[test]
fn unknown_service_and_malformed_requirements() {
    let (_, diags) = run("{matchService: worker-sv}");
    assert_eq!(diags[0].code, Code::UnknownService);
    assert_eq!(diags[0].hint.as_deref(), Some("did you mean `worker-svc`?"));
    let (_, diags) = run(
        "{matchExpressions: [{key: app, operator: In}], matchFields: [{key: a, operator: Gt, values: [x]}]}",
    );
    let codes: Vec<_> = diags.iter().map(|d| d.code).collect();
    assert_eq!(codes, [Code::InvalidSelector, Code::InvalidSelector]);
}
