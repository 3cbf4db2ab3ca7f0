//! A problem that both `l7mpc` and the proxy's config checks (`l7mp --validate`, a reload)
//! report is said the same way by both, with the same hint: each golden case below is
//! compiled, the same mistake is written as a proxy config and loaded, and the two
//! diagnostics are compared. The compiler may only add its own context (a workload, how it
//! names a route) around the shared sentence.

use std::path::PathBuf;

use l7mp_config::Diagnostic as ProxyDiagnostic;
use l7mpc::compile::{Options, compile};
use l7mpc::diagnostics::{Code, Diagnostic};
use l7mpc::load::read_sources;

/// The first diagnostic with `code` whose message contains `text` that compiling the golden case
/// `case` reports.
fn compiler_says(case: &str, code: Code, text: &str) -> Diagnostic {
    let input: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "..",
        "tests",
        "golden",
        case,
        "input",
    ]
    .iter()
    .collect();
    let files = read_sources(&[input]).expect("the golden case's input");
    let compiled = compile(&files, None, &Options::default());
    compiled
        .diagnostics
        .into_iter()
        .find(|d| d.code == code && d.message.contains(text))
        .unwrap_or_else(|| panic!("{case}: no {code}"))
}

/// The one diagnostic the proxy reports for `config`.
fn proxy_says(config: &str) -> ProxyDiagnostic {
    let diagnostics = match l7mp_config::load_str("l7mp.yaml", config) {
        Ok(loaded) => loaded.warnings,
        Err(errors) => errors,
    };
    assert_eq!(diagnostics.len(), 1, "{diagnostics:#?}");
    diagnostics.into_iter().next().unwrap()
}

fn same_hint(proxy: &ProxyDiagnostic, compiler: &Diagnostic) {
    assert!(proxy.hint.is_some());
    assert_eq!(proxy.hint, compiler.hint, "{proxy}\n{compiler:#?}");
}

#[test]
fn a_malformed_pointer() {
    // A pointer without its leading `/` is read leniently by the proxy (as the original l7mp
    // did) but not by the compiler, so the shared problem is an invalid escape.
    let compiler = compiler_says("compile-invalid-pointer", Code::InvalidPointer, "~2");
    let proxy = proxy_says(
        "clusters:\n  - name: json\n    spec:\n      protocol: JSONSocket\n      \
         transport: {protocol: UDP, port: 6000}\n      header: [{path: {from: /a~2b, to: /x}}]\n    \
         endpoints: [{spec: {address: 10.0.0.9}}]\n",
    );
    assert_eq!(proxy.message, compiler.message);
    same_hint(&proxy, &compiler);
}

#[test]
fn two_listeners_on_one_socket() {
    let compiler = compiler_says("compile-listener-clash", Code::ListenerClash, "");
    let listener = |name: &str| {
        format!(
            "  - name: {name}\n    spec: {{protocol: UDP, port: 6000}}\n    \
             rules: [{{action: {{route: {{destination: {{spec: {{protocol: Echo}}}}}}}}}}]\n"
        )
    };
    let proxy = proxy_says(&format!(
        "listeners:\n{}{}",
        listener("default/first"),
        listener("default/second")
    ));
    assert!(
        compiler.message.ends_with(&proxy.message),
        "{proxy}\n{compiler:#?}"
    );
    same_hint(&proxy, &compiler);
}

#[test]
fn datagrams_through_a_byte_stream() {
    let compiler = compiler_says("compile-naked-service", Code::FramingLoss, "");
    let proxy = proxy_says(
        "listeners:\n  - name: default/gw\n    spec: {protocol: UDP, port: 6000}\n    \
         rules: [{action: {route: {destination: default/web:plain}}}]\n\
         clusters:\n  - name: default/web:plain\n    spec: {protocol: TCP, port: 80}\n    \
         endpoints: [{spec: {address: 10.0.0.1}}]\n",
    );
    // The same sentence, each tool naming the route its own way.
    let (proxy_head, proxy_tail) = split_route(&proxy.message);
    let (compiler_head, compiler_tail) = split_route(&compiler.message);
    assert_eq!(proxy_head, compiler_head);
    assert_eq!(proxy_tail, compiler_tail);
    same_hint(&proxy, &compiler);
}

/// `message` around its route's name: up to ` of `, and from `: `.
fn split_route(message: &str) -> (&str, &str) {
    let head = &message[..message.find(" of ").expect("a route")];
    let tail = &message[message.rfind(": ").expect("a reason")..];
    (head, tail)
}
