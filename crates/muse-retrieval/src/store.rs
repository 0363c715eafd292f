//! The knowledge base's single source of truth: one SQLite database (`kb.sqlite`) holding
//! documents, chunks with their vectors, and an FTS5 full-text index over the chunks for BM25
//! keyword search (Robertson & Zaragoza 2009, "The Probabilistic Relevance Framework: BM25 and
//! Beyond"; SQLite's `bm25()` with k1 = 1.2, b = 0.75).
//!
//! Every file is written in one transaction — old chunks deleted, document and new chunks
//! inserted, the FTS index updated by triggers, the `generation` counter bumped — in WAL mode,
//! so a process killed at any moment leaves each file wholly in or wholly out. The FTS5 index
//! lives in the same transaction, which is why it is used instead of a separate BM25 engine
//! (tantivy): no second store to reconcile after a crash. The HNSW graph is a derived cache
//! (see [`crate::kb`]).

use crate::{Result, RetrievalError};
use rusqlite::{Connection, OptionalExtension, params};
use std::path::{Path, PathBuf};

/// Format of the database; stored as SQLite's `user_version`. Bump on any schema change.
pub const FORMAT_VERSION: i64 = 1;

pub const DB_FILE: &str = "kb.sqlite";

const SCHEMA: &str = "
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE documents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    path TEXT NOT NULL UNIQUE,
    hash TEXT NOT NULL,
    title TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    n_chunks INTEGER NOT NULL,
    added_at INTEGER NOT NULL
);
CREATE TABLE chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    doc_id INTEGER NOT NULL REFERENCES documents(id),
    seq INTEGER NOT NULL,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    title TEXT NOT NULL,
    text TEXT NOT NULL,
    vector BLOB NOT NULL
);
CREATE INDEX chunks_doc ON chunks(doc_id);
CREATE VIRTUAL TABLE chunks_fts USING fts5(
    text, title, content='chunks', content_rowid='id', tokenize='porter unicode61'
);
CREATE TRIGGER chunks_ai AFTER INSERT ON chunks BEGIN
    INSERT INTO chunks_fts(rowid, text, title) VALUES (new.id, new.text, new.title);
END;
CREATE TRIGGER chunks_ad AFTER DELETE ON chunks BEGIN
    INSERT INTO chunks_fts(chunks_fts, rowid, text, title)
        VALUES ('delete', old.id, old.text, old.title);
END;
";

/// One chunk ready to be stored.
#[derive(Debug, Clone)]
pub struct NewChunk {
    pub start: usize,
    pub end: usize,
    pub title: String,
    pub text: String,
    pub vector: Vec<f32>,
}

/// A stored chunk.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredChunk {
    pub id: i64,
    pub source: String,
    pub seq: i64,
    pub start: i64,
    pub end: i64,
    pub title: String,
    pub text: String,
}

/// A stored document.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DocInfo {
    pub path: String,
    pub title: String,
    pub hash: String,
    pub bytes: i64,
    pub chunks: i64,
    pub added_at: i64,
}

pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl Store {
    /// Open (creating when `create`) the database in directory `dir`.
    pub fn open(dir: &Path, create: bool) -> Result<Self> {
        let path = dir.join(DB_FILE);
        let sql = |source| RetrievalError::Sqlite {
            path: dir.to_path_buf(),
            source,
        };
        if !create && !path.is_file() {
            return Err(RetrievalError::Io {
                path: path.clone(),
                source: std::io::Error::from(std::io::ErrorKind::NotFound),
            });
        }
        if create {
            std::fs::create_dir_all(dir).map_err(|source| RetrievalError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let conn = Connection::open(&path).map_err(sql)?;
        conn.busy_timeout(std::time::Duration::from_secs(30))
            .map_err(sql)?;
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(sql)?;
        if version != 0 && version != FORMAT_VERSION {
            return Err(RetrievalError::IncompatibleFormat {
                path: dir.to_path_buf(),
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        // WAL: a commit is one append to the log; readers never see half a transaction, and a
        // killed writer's uncommitted frames are ignored on the next open. NORMAL sync is
        // durable against process death (not power loss, which would lose only the last commits).
        conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")
            .map_err(sql)?;
        if version == 0 {
            let tables: i64 = conn
                .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
                .map_err(sql)?;
            if tables > 0 {
                return Err(RetrievalError::IncompatibleFormat {
                    path: dir.to_path_buf(),
                    found: 0,
                    supported: FORMAT_VERSION,
                });
            }
            let tx_sql = format!(
                "BEGIN; {SCHEMA} INSERT INTO meta VALUES ('generation', '0'); \
                 PRAGMA user_version = {FORMAT_VERSION}; COMMIT;"
            );
            conn.execute_batch(&tx_sql).map_err(sql)?;
        }
        Ok(Self {
            conn,
            path: dir.to_path_buf(),
        })
    }

    fn err(&self, source: rusqlite::Error) -> RetrievalError {
        RetrievalError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    pub fn dir(&self) -> &Path {
        &self.path
    }

    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(|e| self.err(e))
    }

    pub fn set_meta(&self, key: &str, value: &str) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO meta VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = ?2",
                [key, value],
            )
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// Counter bumped by every committed change.
    pub fn generation(&self) -> Result<u64> {
        Ok(self
            .meta("generation")?
            .and_then(|g| g.parse().ok())
            .unwrap_or(0))
    }

    /// Hash of the stored document at `path`, if any.
    pub fn doc_hash(&self, path: &str) -> Result<Option<String>> {
        self.conn
            .query_row("SELECT hash FROM documents WHERE path = ?1", [path], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| self.err(e))
    }

    /// Replace the document at `path` (if any) by this one and its chunks, in one transaction.
    pub fn put_document(
        &mut self,
        path: &str,
        hash: &str,
        title: &str,
        bytes: usize,
        chunks: &[NewChunk],
    ) -> Result<()> {
        let path_buf = self.path.clone();
        let err = |source| RetrievalError::Sqlite {
            path: path_buf.clone(),
            source,
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let tx = self.conn.transaction().map_err(err)?;
        delete_doc(&tx, path).map_err(err)?;
        tx.execute(
            "INSERT INTO documents (path, hash, title, bytes, n_chunks, added_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![path, hash, title, bytes as i64, chunks.len() as i64, now],
        )
        .map_err(err)?;
        let doc_id = tx.last_insert_rowid();
        {
            let mut ins = tx
                .prepare_cached(
                    "INSERT INTO chunks (doc_id, seq, start, end, title, text, vector) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .map_err(err)?;
            for (seq, c) in chunks.iter().enumerate() {
                ins.execute(params![
                    doc_id,
                    seq as i64,
                    c.start as i64,
                    c.end as i64,
                    c.title,
                    c.text,
                    vector_bytes(&c.vector)
                ])
                .map_err(err)?;
            }
        }
        bump_generation(&tx).map_err(err)?;
        tx.commit().map_err(err)
    }

    /// Remove a document and its chunks; false when it was not there.
    pub fn remove_document(&mut self, path: &str) -> Result<bool> {
        let path_buf = self.path.clone();
        let err = |source| RetrievalError::Sqlite {
            path: path_buf.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(err)?;
        let removed = delete_doc(&tx, path).map_err(err)?;
        if removed {
            bump_generation(&tx).map_err(err)?;
        }
        tx.commit().map_err(err)?;
        Ok(removed)
    }

    pub fn documents(&self) -> Result<Vec<DocInfo>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT path, title, hash, bytes, n_chunks, added_at FROM documents ORDER BY path",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([], |r| {
                Ok(DocInfo {
                    path: r.get(0)?,
                    title: r.get(1)?,
                    hash: r.get(2)?,
                    bytes: r.get(3)?,
                    chunks: r.get(4)?,
                    added_at: r.get(5)?,
                })
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(|e| self.err(e))
    }

    /// `(documents, chunks)`.
    pub fn counts(&self) -> Result<(i64, i64)> {
        self.conn
            .query_row(
                "SELECT (SELECT count(*) FROM documents), (SELECT count(*) FROM chunks)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(|e| self.err(e))
    }

    /// Per document: `(path, expected chunks, stored chunks)` — equal in a consistent store.
    pub fn chunk_counts(&self) -> Result<Vec<(String, i64, i64)>> {
        let mut st = self
            .conn
            .prepare(
                "SELECT d.path, d.n_chunks, (SELECT count(*) FROM chunks c WHERE c.doc_id = d.id) \
                 FROM documents d ORDER BY d.path",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(|e| self.err(e))
    }

    /// Every chunk id with id > `after`, and its vector, in id order.
    pub fn vectors_after(&self, after: i64, mut f: impl FnMut(i64, Vec<f32>)) -> Result<()> {
        let mut st = self
            .conn
            .prepare("SELECT id, vector FROM chunks WHERE id > ?1 ORDER BY id")
            .map_err(|e| self.err(e))?;
        let mut rows = st.query([after]).map_err(|e| self.err(e))?;
        while let Some(r) = rows.next().map_err(|e| self.err(e))? {
            let id: i64 = r.get(0).map_err(|e| self.err(e))?;
            let blob: Vec<u8> = r.get(1).map_err(|e| self.err(e))?;
            f(id, vector_from_bytes(&blob));
        }
        Ok(())
    }

    /// Every live chunk id.
    pub fn chunk_ids(&self) -> Result<Vec<i64>> {
        let mut st = self
            .conn
            .prepare("SELECT id FROM chunks ORDER BY id")
            .map_err(|e| self.err(e))?;
        let rows = st.query_map([], |r| r.get(0)).map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(|e| self.err(e))
    }

    /// Chunks by id (missing ids are left out), in the order given.
    pub fn chunks(&self, ids: &[i64]) -> Result<Vec<StoredChunk>> {
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT c.id, d.path, c.seq, c.start, c.end, c.title, c.text \
                 FROM chunks c JOIN documents d ON d.id = c.doc_id WHERE c.id = ?1",
            )
            .map_err(|e| self.err(e))?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let c = st
                .query_row([id], |r| {
                    Ok(StoredChunk {
                        id: r.get(0)?,
                        source: r.get(1)?,
                        seq: r.get(2)?,
                        start: r.get(3)?,
                        end: r.get(4)?,
                        title: r.get(5)?,
                        text: r.get(6)?,
                    })
                })
                .optional()
                .map_err(|e| self.err(e))?;
            out.extend(c);
        }
        Ok(out)
    }

    /// BM25 search: the `k` best `(chunk id, score)` for the words of `query`, best first.
    /// Any word may match (OR); English function words are left out of the query (they match
    /// nearly every chunk and only add noise to the sum) unless nothing else is left; the title
    /// column counts half as much as the text.
    pub fn keyword_search(&self, query: &str, k: usize) -> Result<Vec<(i64, f32)>> {
        let all: Vec<String> = query
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect();
        let content: Vec<&String> = all
            .iter()
            .filter(|w| STOPWORDS.binary_search(&w.as_str()).is_err())
            .collect();
        let chosen: Vec<&String> = if content.is_empty() {
            all.iter().collect()
        } else {
            content
        };
        let words: Vec<String> = chosen.iter().map(|w| format!("\"{w}\"")).collect();
        if words.is_empty() {
            return Ok(Vec::new());
        }
        let fts_query = words.join(" OR ");
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT rowid, bm25(chunks_fts, 1.0, 0.5) AS s FROM chunks_fts \
                 WHERE chunks_fts MATCH ?1 ORDER BY s LIMIT ?2",
            )
            .map_err(|e| self.err(e))?;
        let rows = st
            .query_map(params![fts_query, k as i64], |r| {
                // SQLite's bm25() is negated so that ascending order is best first.
                Ok((r.get::<_, i64>(0)?, -(r.get::<_, f64>(1)? as f32)))
            })
            .map_err(|e| self.err(e))?;
        rows.collect::<rusqlite::Result<_>>()
            .map_err(|e| self.err(e))
    }

    /// Bytes of the database files (main file and write-ahead log).
    pub fn size_bytes(&self) -> u64 {
        ["", "-wal"]
            .iter()
            .filter_map(|s| std::fs::metadata(self.path.join(format!("{DB_FILE}{s}"))).ok())
            .map(|m| m.len())
            .sum()
    }

    /// Fold the write-ahead log into the main file (after a large ingest).
    pub fn checkpoint(&self) -> Result<()> {
        self.conn
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
            .map_err(|e| self.err(e))
    }
}

/// English function words (sorted, for binary search): question words, pronouns, auxiliaries,
/// articles, prepositions and conjunctions.
const STOPWORDS: &[&str] = &[
    "a", "about", "after", "all", "am", "an", "and", "any", "are", "as", "at", "be", "been",
    "before", "being", "but", "by", "can", "could", "did", "do", "does", "doing", "for", "from",
    "had", "has", "have", "having", "he", "her", "here", "his", "how", "i", "if", "in", "into",
    "is", "it", "its", "just", "me", "might", "must", "my", "of", "on", "once", "or", "our",
    "over", "she", "should", "so", "some", "such", "than", "that", "the", "their", "them", "then",
    "there", "these", "they", "this", "those", "to", "under", "up", "us", "was", "we", "were",
    "what", "when", "where", "which", "while", "who", "whom", "why", "will", "with", "would",
    "you", "your",
];

fn delete_doc(tx: &rusqlite::Transaction<'_>, path: &str) -> rusqlite::Result<bool> {
    let id: Option<i64> = tx
        .query_row("SELECT id FROM documents WHERE path = ?1", [path], |r| {
            r.get(0)
        })
        .optional()?;
    let Some(id) = id else { return Ok(false) };
    tx.execute("DELETE FROM chunks WHERE doc_id = ?1", [id])?;
    tx.execute("DELETE FROM documents WHERE id = ?1", [id])?;
    Ok(true)
}

fn bump_generation(tx: &rusqlite::Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute(
        "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'",
        [],
    )
    .map(|_| ())
}

pub fn vector_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

pub fn vector_from_bytes(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::STOPWORDS;

    #[test]
    fn stopwords_are_sorted_for_binary_search() {
        assert!(STOPWORDS.windows(2).all(|w| w[0] < w[1]));
    }
}
