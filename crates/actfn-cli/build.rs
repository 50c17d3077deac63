//! Build script: the `actfn` binary's rpath to libtorch, set as actfn-wrn's build script
//! sets it for that crate's tests (one source, see there).

include!("../actfn-wrn/build.rs");
