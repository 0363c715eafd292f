//! Plain text and Markdown: the bytes as they are (UTF-8, CRLF folded to LF). Markdown is kept
//! as written — its markup is a few symbols the tokenizer handles — and its first `#` heading
//! becomes the title.

use super::{Document, SkipReason, utf8};

pub fn load_text(bytes: &[u8], name: String) -> Result<Document, SkipReason> {
    Ok(Document::whole(name, utf8(bytes)?))
}

pub fn load_markdown(bytes: &[u8], name: String) -> Result<Document, SkipReason> {
    let text = utf8(bytes)?;
    let title = text
        .lines()
        .find_map(|l| l.strip_prefix("# "))
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .unwrap_or(name);
    Ok(Document::whole(title, text))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn markdown_title_is_first_heading() {
        let d = load_markdown(b"intro\n# Getting started\r\nbody\n", "a.md".into()).unwrap();
        assert_eq!(d.title, "Getting started");
        assert_eq!(d.text, "intro\n# Getting started\nbody\n");
        assert_eq!(load_text(b"x", "a.txt".into()).unwrap().title, "a.txt");
    }

    #[test]
    fn binary_and_bad_utf8_are_refused() {
        assert!(
            load_text(b"ab\0cd", "a.txt".into())
                .unwrap_err()
                .contains("binary")
        );
        assert!(
            load_text(b"ab\xffcd", "a.txt".into())
                .unwrap_err()
                .contains("offset 2")
        );
    }
}
