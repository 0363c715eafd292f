//! Token-boundary checks the `regex` crate cannot express (it has no look-around).
//!
//! A number only counts as a phone number, card or address when it stands alone: not glued
//! to letters (`A1-555-123-4567`), and not a fragment of a longer dotted/dashed number
//! (`1.2.3.4.5`, `2024-555-123-4567`).

/// Characters that join number fragments: a match next to one of these that is itself next
/// to a digit is part of a longer number.
const JOINERS: [char; 5] = ['.', '-', '/', ',', ':'];

/// True when the text before `start` and after `end` does not continue the token.
pub(crate) fn isolated(text: &str, start: usize, end: usize) -> bool {
    let mut before = text[..start].chars().rev();
    let ok_before = match before.next() {
        None => true,
        Some(c) if c.is_alphanumeric() || c == '_' => false,
        Some(c) if JOINERS.contains(&c) => !before.next().is_some_and(|d| d.is_ascii_digit()),
        Some(_) => true,
    };
    let mut after = text[end..].chars();
    let ok_after = match after.next() {
        None => true,
        Some(c) if c.is_alphanumeric() || c == '_' => false,
        Some(c) if JOINERS.contains(&c) => !after.next().is_some_and(|d| d.is_ascii_digit()),
        Some(_) => true,
    };
    ok_before && ok_after
}

/// The character just before `start`, if any.
pub(crate) fn char_before(text: &str, start: usize) -> Option<char> {
    text[..start].chars().next_back()
}

/// Number of ASCII digits in `s`.
pub(crate) fn digit_count(s: &str) -> usize {
    s.bytes().filter(u8::is_ascii_digit).count()
}
