//! `#[rivulet::remote]` refuses what cannot be a remote function, with errors at the culprit.
#![cfg(feature = "remote")]

#[test]
fn remote_macro_compile_errors() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/remote_*.rs");
}
