//! Small text helpers shared by the parsers (private to the crate).

/// How many characters of an offending value an error message repeats.
const PREVIEW_CHARS: usize = 64;

/// A bounded copy of an offending value for an error message, so a megabyte of input
/// never becomes a megabyte of error text.
pub(crate) fn preview(value: &str) -> String {
    let mut chars = value.chars();
    let head: String = chars.by_ref().take(PREVIEW_CHARS).collect();
    if chars.next().is_some() { format!("{head}…") } else { head }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_values_are_kept_whole() {
        assert_eq!(preview("abc"), "abc");
    }

    #[test]
    fn long_values_are_cut_with_an_ellipsis() {
        let long = "x".repeat(1000);
        let p = preview(&long);
        assert_eq!(p.chars().count(), PREVIEW_CHARS + 1);
        assert!(p.ends_with('…'));
    }
}
