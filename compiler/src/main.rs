fn main() {
    print!("{}", l7mpc::crd::crds_yaml());
}
