//! Bad macro input fails to compile with a message that points at the bad
//! token (expected output in `tests/ui/*.stderr`).

#[test]
fn bad_macro_input_is_reported_at_the_bad_token() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
