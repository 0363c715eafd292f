//! JSON and JSON lines: the text of one named field per record (default `text`). A `.json` file
//! holds one record or an array of them; a `.jsonl` file one record a line. Each record is a
//! section of the document: no chunk spans two records. A record without the field (or with a
//! non-string value) is passed over; a file where no record has it is skipped with that reason.

use super::{Document, SkipReason};
use serde_json::Value;

pub fn load_json(text: &str, field: &str, name: String) -> Result<Document, SkipReason> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
    let records = match v {
        Value::Array(items) => items,
        other => vec![other],
    };
    join(records.iter(), field, name)
}

pub fn load_jsonl(text: &str, field: &str, name: String) -> Result<Document, SkipReason> {
    let mut records = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: Value = serde_json::from_str(line)
            .map_err(|e| format!("invalid JSON on line {}: {e}", i + 1))?;
        records.push(v);
    }
    join(records.iter(), field, name)
}

fn join<'a>(
    records: impl Iterator<Item = &'a Value>,
    field: &str,
    name: String,
) -> Result<Document, SkipReason> {
    let mut text = String::new();
    let mut sections = Vec::new();
    for r in records {
        let Some(s) = r.get(field).and_then(Value::as_str) else {
            continue;
        };
        if s.trim().is_empty() {
            continue;
        }
        if !text.is_empty() {
            text.push_str("\n\n");
        }
        let start = text.len();
        text.push_str(s);
        sections.push(start..text.len());
    }
    if sections.is_empty() {
        return Err(format!("no record has a string field `{field}`"));
    }
    Ok(Document {
        title: name,
        text,
        sections,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn records_become_sections() {
        let d = load_jsonl(
            "{\"text\":\"alpha\"}\n\n{\"other\":1}\n{\"text\":\"beta\"}\n",
            "text",
            "f.jsonl".into(),
        )
        .unwrap();
        assert_eq!(d.text, "alpha\n\nbeta");
        assert_eq!(d.sections, vec![0..5, 7..11]);
        let d = load_json(r#"[{"body":"x"},{"body":"y"}]"#, "body", "f.json".into()).unwrap();
        assert_eq!(d.text, "x\n\ny");
        assert!(
            load_json(r#"{"a":1}"#, "text", "f".into())
                .unwrap_err()
                .contains("`text`")
        );
        assert!(
            load_jsonl("{bad", "text", "f".into())
                .unwrap_err()
                .contains("line 1")
        );
    }
}
