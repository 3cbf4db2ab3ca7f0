// The proxy's build script: it records the commit for `--version` (see its doc comment).
include!("../proxy/build.rs");
