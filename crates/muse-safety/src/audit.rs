//! [`AuditLog`]: one JSON line per moderation decision, appended to a file.
//!
//! ```json
//! {"time":"2025-01-02T03:04:05.678Z","stage":"input","filter":"chain",
//!  "categories":{"violence":0.95},"action":"block","flagged":true}
//! ```
//!
//! The checked text is included (`"text"`) only when `audit_full_text` is configured: logs
//! outlive requests, and the texts most worth auditing are the ones carrying personal data.
//! Rule ids are logged (`"rules"`) without the matched text, for the same reason.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::{Action, SafetyError, Stage, Verdict};

/// One audit line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// When the decision was made, RFC 3339 UTC.
    pub time: String,
    /// The pipeline stage.
    pub stage: Stage,
    /// The filter (or chain) that decided.
    pub filter: String,
    /// Category scores.
    pub categories: BTreeMap<String, f32>,
    /// The decision.
    pub action: Action,
    /// Whether any category reached its threshold.
    pub flagged: bool,
    /// Ids of the rules that matched, deduplicated.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<String>,
    /// The checked text, only when configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// Appends [`AuditRecord`]s as JSON lines; safe to share between threads.
pub struct AuditLog {
    path: PathBuf,
    full_text: bool,
    file: Mutex<File>,
}

impl AuditLog {
    /// Opens (creating if needed) `path` for appending.
    ///
    /// # Errors
    /// [`SafetyError::Io`] if the file cannot be opened.
    pub fn open(path: &Path, full_text: bool) -> Result<Self, SafetyError> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|source| SafetyError::Io {
                what: "audit log",
                path: path.to_owned(),
                source,
            })?;
        Ok(Self {
            path: path.to_owned(),
            full_text,
            file: Mutex::new(file),
        })
    }

    /// The record that [`record`](Self::record) would write now.
    #[must_use]
    pub fn make_record(
        &self,
        stage: Stage,
        filter: &str,
        verdict: &Verdict,
        text: &str,
    ) -> AuditRecord {
        let mut rules: Vec<String> = verdict.spans.iter().map(|f| f.rule.clone()).collect();
        rules.sort();
        rules.dedup();
        AuditRecord {
            time: crate::time::rfc3339_utc(SystemTime::now()),
            stage,
            filter: filter.to_owned(),
            categories: verdict.categories.clone(),
            action: verdict.action,
            flagged: verdict.flagged,
            rules,
            text: self.full_text.then(|| text.to_owned()),
        }
    }

    /// Appends one line for `verdict` on `text`.
    ///
    /// # Errors
    /// [`SafetyError::Io`] if the line cannot be written. Callers that must not proceed
    /// unaudited should refuse the request on error.
    pub fn record(
        &self,
        stage: Stage,
        filter: &str,
        verdict: &Verdict,
        text: &str,
    ) -> Result<(), SafetyError> {
        let record = self.make_record(stage, filter, verdict, text);
        let mut line = serde_json::to_string(&record)?;
        line.push('\n');
        let io_err = |source| SafetyError::Io {
            what: "audit log",
            path: self.path.clone(),
            source,
        };
        // A poisoned lock only means another thread panicked mid-write; the file handle
        // itself is still usable, and whole-line writes keep the log parseable.
        let mut file = self
            .file
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        file.write_all(line.as_bytes()).map_err(io_err)?;
        file.flush().map_err(io_err)
    }
}
