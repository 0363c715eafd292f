//! File loaders: each turns one file's bytes into a [`Document`] of plain text, or a reason to
//! skip it. A skipped file never aborts an ingest; the reason is reported per file.

pub mod html;
pub mod json;
pub mod pdf;
pub mod text;

use std::ops::Range;
use std::path::Path;

/// Plain text extracted from one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// A heading for the whole file: `<title>`, the first Markdown `#` heading, or the file name.
    pub title: String,
    /// The extracted text; chunk offsets are positions in it.
    pub text: String,
    /// Byte ranges of `text` that a chunk never crosses (one per JSON record; else the whole text).
    pub sections: Vec<Range<usize>>,
}

impl Document {
    /// A document of one section.
    pub fn whole(title: String, text: String) -> Self {
        #[expect(
            clippy::single_range_in_vec_init,
            reason = "one section: the whole text"
        )]
        let sections = vec![0..text.len()];
        Self {
            title,
            text,
            sections,
        }
    }
}

/// The formats Muse reads, chosen by file extension (case-insensitive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Markdown,
    Html,
    Pdf,
    Json,
    JsonLines,
}

impl Kind {
    pub fn of(path: &Path) -> Option<Self> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        Some(match ext.as_str() {
            "txt" | "text" => Self::Text,
            "md" | "markdown" => Self::Markdown,
            "html" | "htm" | "xhtml" => Self::Html,
            "pdf" => Self::Pdf,
            "json" => Self::Json,
            "jsonl" | "ndjson" => Self::JsonLines,
            _ => return None,
        })
    }
}

/// How to read the formats that need a choice.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// The field of each JSON / JSON-lines record that holds its text.
    pub json_field: String,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            json_field: "text".into(),
        }
    }
}

/// Why a file was not ingested.
pub type SkipReason = String;

/// Extract the text of `bytes`, read from `path` (its extension picks the loader).
pub fn load(path: &Path, bytes: &[u8], opts: &LoadOptions) -> Result<Document, SkipReason> {
    let kind = Kind::of(path).ok_or_else(|| "unsupported file type".to_string())?;
    if bytes.is_empty() {
        return Err("empty file".into());
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let doc = match kind {
        Kind::Text => text::load_text(bytes, name)?,
        Kind::Markdown => text::load_markdown(bytes, name)?,
        Kind::Html => html::load(&utf8(bytes)?, name),
        Kind::Pdf => pdf::load(bytes, name)?,
        Kind::Json => json::load_json(&utf8(bytes)?, &opts.json_field, name)?,
        Kind::JsonLines => json::load_jsonl(&utf8(bytes)?, &opts.json_field, name)?,
    };
    if doc.text.trim().is_empty() {
        return Err("no text in it".into());
    }
    Ok(doc)
}

/// UTF-8 text, refusing binary data (a NUL byte in the first 8 KiB, as `grep` and git decide).
pub(crate) fn utf8(bytes: &[u8]) -> Result<String, SkipReason> {
    if bytes.iter().take(8192).any(|&b| b == 0) {
        return Err("binary data (NUL bytes)".into());
    }
    let s = std::str::from_utf8(bytes).map_err(|e| {
        format!(
            "not UTF-8 text (first bad byte at offset {})",
            e.valid_up_to()
        )
    })?;
    // A byte-order mark is not text.
    Ok(s.strip_prefix('\u{feff}')
        .unwrap_or(s)
        .replace("\r\n", "\n"))
}
