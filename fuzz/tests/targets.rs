//! Every target, bounded for CI: a fixed seed and a fixed number of cases each (see
//! `docs/testing.md` for the long mode). Each test fails on a panic, a hang or a blow-up,
//! naming the input.

#[test]
fn compiler_front_end() {
    l7mp_fuzz::compiler::run(1000);
}

#[test]
fn proxy_config_loader() {
    l7mp_fuzz::config::run(2000);
}

#[test]
fn json_predicates() {
    l7mp_fuzz::json::run_predicates(2000);
}

#[test]
fn json_pointers() {
    l7mp_fuzz::json::run_pointers(2000);
}

#[test]
fn jsonsocket_headers() {
    l7mp_fuzz::jsonsocket::run_wire(4000);
}

#[test]
fn jsonsocket_header_plans() {
    l7mp_fuzz::jsonsocket::run_plans(2000);
}

#[test]
fn running_proxy() {
    l7mp_fuzz::proxy::run(100);
}
