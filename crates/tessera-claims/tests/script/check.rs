//! Save-time checks: the script parses and defines getCustomJwtClaims.

use tessera_claims::{MAX_SOURCE_BYTES, ScriptError, ScriptFailure};

use super::support::{engine, run};

#[test]
fn scripts_defining_the_function_in_any_form_pass() {
    let engine = engine();
    for source in [
        "function getCustomJwtClaims() { return {}; }",
        "async function getCustomJwtClaims() { return {}; }",
        "const getCustomJwtClaims = async ({ token }) => ({ sub: token.sub });",
        "'use strict';\nlet helper = (x) => x;\nvar getCustomJwtClaims = function () { return helper({}); };",
        "// comment on the last line\nfunction getCustomJwtClaims() { return {}; } // trailing",
    ] {
        assert_eq!(engine.check(source), Ok(()), "{source}");
    }
}

#[test]
fn a_syntax_error_reports_its_1_based_line_and_column() {
    let source = "function getCustomJwtClaims() {\n  return { a: 1 ;\n}";
    match engine().check(source) {
        Err(ScriptError::Syntax { message, line, column }) => {
            assert_eq!((line, column), (2, 17), "{message}");
            assert!(!message.is_empty());
        }
        other => panic!("{other:?}"),
    }
    match engine().check("let x = ;") {
        Err(ScriptError::Syntax { line, column, .. }) => assert_eq!((line, column), (1, 9)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_unclosed_block_points_at_the_end_of_the_source() {
    match engine().check("function getCustomJwtClaims() {\n  return {};\n") {
        Err(ScriptError::Syntax { line, .. }) => assert_eq!(line, 2),
        other => panic!("{other:?}"),
    }
    assert!(matches!(engine().check("function getCustomJwtClaims() {} /* unclosed"), Err(ScriptError::Syntax { .. })));
}

#[test]
fn a_script_without_the_function_is_refused() {
    for source in [
        "",
        "function getClaims() { return {}; }",
        "var getCustomJwtClaims = 5;",
        "const x = { getCustomJwtClaims() {} };",
    ] {
        assert_eq!(engine().check(source), Err(ScriptError::MissingFunction), "{source:?}");
    }
}

#[test]
fn failing_top_level_code_is_reported_at_check() {
    match engine().check("throw new Error('top');\nfunction getCustomJwtClaims() {}") {
        Err(ScriptError::TopLevel { failure }) => {
            assert_eq!(*failure, ScriptFailure::Thrown { message: "Error: top".to_owned(), line: Some(1) })
        }
        other => panic!("{other:?}"),
    }
    match engine().check("while (true) {}\nfunction getCustomJwtClaims() {}") {
        Err(ScriptError::TopLevel { failure }) => assert_eq!(*failure, ScriptFailure::Timeout),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_source_that_escapes_the_wrapper_is_still_bounded() {
    let started = std::time::Instant::now();
    let result = engine().check("}); while (true) {} (function () {");
    assert!(matches!(result, Err(ScriptError::TopLevel { .. }) | Err(ScriptError::Syntax { .. })), "{result:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(1));
    assert!(matches!(engine().check("}); (function () {}).call(null, function () {"), Err(ScriptError::Syntax { .. })));
}

#[test]
fn oversized_scripts_are_refused() {
    let source = format!("function getCustomJwtClaims() {{ return {{}}; }}\n//{}", "x".repeat(MAX_SOURCE_BYTES));
    assert!(matches!(engine().check(&source), Err(ScriptError::TooLarge { .. })));
}

#[test]
fn running_an_invalid_script_fails_as_invalid() {
    assert_eq!(run(&engine(), "function getClaims() {}"), Err(ScriptFailure::Invalid(ScriptError::MissingFunction)));
    assert!(matches!(run(&engine(), "function ("), Err(ScriptFailure::Invalid(ScriptError::Syntax { .. }))));
    assert!(matches!(
        run(&engine(), "function getCustomJwtClaims() {}\0"),
        Err(ScriptFailure::Invalid(ScriptError::Syntax { .. }))
    ));
}
