//! HTML to text: a small tag scanner, not a full HTML5 parser. It drops `<script>`, `<style>`,
//! `<noscript>`, `<template>`, `<svg>`, `<head>` content (but keeps `<title>` as the title) and
//! comments; block elements end a paragraph; character references are decoded. A hand-written
//! scanner (~150 lines) rather than an HTML5 parser crate keeps the build light; what it gives up
//! (tree repair of malformed markup) does not change the text a search needs.

use super::Document;

/// Elements whose whole content is dropped.
const DROPPED: &[&str] = &[
    "script", "style", "noscript", "template", "svg", "head", "iframe", "object",
];
/// Elements that start or end a block: a paragraph break in the text.
const BLOCKS: &[&str] = &[
    "p",
    "div",
    "section",
    "article",
    "header",
    "footer",
    "main",
    "nav",
    "aside",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "ul",
    "ol",
    "li",
    "dl",
    "dt",
    "dd",
    "table",
    "tr",
    "blockquote",
    "pre",
    "hr",
    "figure",
    "figcaption",
    "form",
    "fieldset",
    "address",
    "body",
    "details",
    "summary",
];

pub fn load(html: &str, name: String) -> Document {
    let (text, title) = to_text(html);
    Document::whole(title.unwrap_or(name), text)
}

/// The text of `html` and its `<title>`, if any.
pub fn to_text(html: &str) -> (String, Option<String>) {
    let mut out = String::with_capacity(html.len() / 2);
    let mut title = None;
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        push_text(&mut out, &rest[..lt]);
        rest = &rest[lt..];
        if let Some(after) = rest.strip_prefix("<!--") {
            rest = after.find("-->").map_or("", |e| &after[e + 3..]);
            continue;
        }
        let Some(gt) = tag_end(rest) else {
            // A lone `<` is text.
            push_text(&mut out, "<");
            rest = &rest[1..];
            continue;
        };
        let tag = &rest[1..gt];
        rest = &rest[gt + 1..];
        let closing = tag.starts_with('/');
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        if name == "title" && !closing {
            let end = find_close(rest, "title");
            let t = decode_entities(&collapse(&rest[..end]));
            if !t.is_empty() && title.is_none() {
                title = Some(t);
            }
            rest = &rest[end..];
            continue;
        }
        if !closing && DROPPED.contains(&name.as_str()) && !tag.ends_with('/') {
            // `<head>` is dropped except its title, found by scanning it first.
            if name == "head" {
                let end = find_close(rest, "head");
                let (_, t) = to_text(&rest[..end].replace("<head", "<x"));
                if title.is_none() {
                    title = t;
                }
                rest = &rest[end..];
            } else {
                rest = &rest[find_close(rest, &name)..];
            }
            continue;
        }
        if name == "br" {
            out.push('\n');
        } else if BLOCKS.contains(&name.as_str()) {
            paragraph_break(&mut out);
        } else if matches!(name.as_str(), "td" | "th") {
            out.push(' ');
        }
    }
    push_text(&mut out, rest);
    let text = out
        .split("\n\n")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n");
    (text, title)
}

/// Index of the `>` that ends the tag starting at `s[0] == '<'`, skipping quoted attributes.
fn tag_end(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    if b.len() < 2 || !(b[1].is_ascii_alphabetic() || b[1] == b'/' || b[1] == b'!' || b[1] == b'?')
    {
        return None;
    }
    let mut quote = None;
    for (i, &c) in b.iter().enumerate().skip(1) {
        match (quote, c) {
            (None, b'"' | b'\'') => quote = Some(c),
            (Some(q), _) if c == q => quote = None,
            (None, b'>') => return Some(i),
            _ => {}
        }
    }
    None
}

/// Position of `</name` in `s` (case-insensitive), or the end of `s`.
fn find_close(s: &str, name: &str) -> usize {
    let needle = format!("</{name}");
    let lower = s.to_ascii_lowercase();
    match lower.find(&needle) {
        Some(i) => i,
        None => s.len(),
    }
}

fn paragraph_break(out: &mut String) {
    while out.ends_with(' ') {
        out.pop();
    }
    if !out.is_empty() && !out.ends_with("\n\n") {
        out.push_str(if out.ends_with('\n') { "\n" } else { "\n\n" });
    }
}

/// Append text, collapsing runs of whitespace to one space (HTML's rendering rule).
fn push_text(out: &mut String, raw: &str) {
    if raw.is_empty() {
        return;
    }
    let decoded = decode_entities(raw);
    for c in decoded.chars() {
        if c.is_whitespace() && c != '\u{a0}' {
            if !(out.is_empty() || out.ends_with(' ') || out.ends_with('\n')) {
                out.push(' ');
            }
        } else {
            out.push(if c == '\u{a0}' { ' ' } else { c });
        }
    }
}

fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Decode the named references common in text and all numeric ones; unknown names stay as written.
pub fn decode_entities(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let semi = rest[..rest.len().min(12)].find(';');
        let decoded = semi.and_then(|semi| {
            let body = &rest[1..semi];
            let c = if let Some(num) = body.strip_prefix('#') {
                let code = match num.strip_prefix(['x', 'X']) {
                    Some(hex) => u32::from_str_radix(hex, 16).ok(),
                    None => num.parse().ok(),
                };
                code.and_then(char::from_u32)
            } else {
                named(body)
            };
            c.map(|c| (c, semi))
        });
        match decoded {
            Some((c, semi)) => {
                out.push(c);
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn named(name: &str) -> Option<char> {
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => '\u{a0}',
        "copy" => '©',
        "reg" => '®',
        "mdash" => '—',
        "ndash" => '–',
        "hellip" => '…',
        "lsquo" => '‘',
        "rsquo" => '’',
        "ldquo" => '“',
        "rdquo" => '”',
        "eacute" => 'é',
        "egrave" => 'è',
        "uuml" => 'ü',
        "ouml" => 'ö',
        "auml" => 'ä',
        "szlig" => 'ß',
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_scripts_styles_and_comments_keeps_title() {
        let html = r#"<html><head><title>My &amp; Page</title><style>p{color:red}</style>
            <script>var x = "<p>no</p>";</script></head>
            <body><h1>Heading</h1><!-- hidden --><p>One  two<br>three &lt;4&gt; &#233;&#x263A;</p>
            <script type="text/javascript">alert(1)</script><div>Last</div></body></html>"#;
        let (text, title) = to_text(html);
        assert_eq!(title.as_deref(), Some("My & Page"));
        assert_eq!(text, "Heading\n\nOne two\nthree <4> é☺\n\nLast");
    }

    #[test]
    fn stray_angle_brackets_and_unknown_entities_are_text() {
        let (text, _) = to_text("a < b && c &bogus; d");
        assert_eq!(text, "a < b && c &bogus; d");
    }
}
