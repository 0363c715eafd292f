//! PDF: the text layer, through the `pdf-extract` crate. A scanned PDF without a text layer
//! yields no text and is skipped; a malformed one is skipped with the parser's message. The
//! parser can panic on hostile input, so it runs under `catch_unwind`: one bad file must not
//! abort an ingest.

use super::{Document, SkipReason};

pub fn load(bytes: &[u8], name: String) -> Result<Document, SkipReason> {
    if !bytes.starts_with(b"%PDF") {
        return Err("not a PDF (no %PDF header)".into());
    }
    let owned = bytes.to_vec();
    let result = std::panic::catch_unwind(move || pdf_extract::extract_text_from_mem(&owned));
    let text = match result {
        Ok(Ok(t)) => t,
        Ok(Err(e)) => return Err(format!("unreadable PDF: {e}")),
        Err(_) => return Err("unreadable PDF (the parser failed)".into()),
    };
    // Page breaks come out as form feeds; lines of one paragraph are joined by pdf-extract.
    let text = text.replace('\u{c}', "\n\n");
    Ok(Document::whole(name, text.trim().to_string()))
}
