//! Bounds-checked little-endian reading of the GGUF header.

use super::Value;
use crate::error::ModelError;
use std::path::Path;

/// Arrays nested deeper than this are rejected (the format uses depth 1).
const MAX_DEPTH: usize = 4;

pub(super) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    path: &'a Path,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8], path: &'a Path) -> Self {
        Self { buf, pos: 0, path }
    }

    pub fn pos(&self) -> usize {
        self.pos
    }

    pub fn corrupt(&self, what: String) -> ModelError {
        ModelError::Corrupt {
            path: self.path.to_path_buf(),
            what,
        }
    }

    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], ModelError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        match end {
            Some(end) => {
                let s = &self.buf[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => Err(self.corrupt(format!(
                "header ends early: wanted {n} bytes at offset {} of {}",
                self.pos,
                self.buf.len()
            ))),
        }
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], ModelError> {
        let b = self.bytes(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(b);
        Ok(a)
    }

    pub fn u32(&mut self) -> Result<u32, ModelError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    pub fn u64(&mut self) -> Result<u64, ModelError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// A u64 count, which cannot exceed the bytes left (every counted item takes at least one byte).
    pub fn count(&mut self, what: &str) -> Result<usize, ModelError> {
        let n = self.u64()?;
        let left = (self.buf.len() - self.pos) as u64;
        if n > left {
            return Err(self.corrupt(format!("{what} {n} is larger than the file")));
        }
        usize::try_from(n)
            .map_err(|_| self.corrupt(format!("{what} {n} does not fit this machine")))
    }

    pub fn string(&mut self) -> Result<String, ModelError> {
        let n = self.u64()?;
        let n = usize::try_from(n).map_err(|_| self.corrupt("string length overflows".into()))?;
        let b = self.bytes(n)?;
        // Tokens of some vocabularies are not valid UTF-8 on their own; such bytes become U+FFFD.
        Ok(String::from_utf8_lossy(b).into_owned())
    }

    pub fn value(&mut self) -> Result<Value, ModelError> {
        let ty = self.u32()?;
        self.value_of(ty, 0)
    }

    fn value_of(&mut self, ty: u32, depth: usize) -> Result<Value, ModelError> {
        Ok(match ty {
            0 => Value::U8(self.array::<1>()?[0]),
            1 => Value::I8(self.array::<1>()?[0] as i8),
            2 => Value::U16(u16::from_le_bytes(self.array()?)),
            3 => Value::I16(i16::from_le_bytes(self.array()?)),
            4 => Value::U32(self.u32()?),
            5 => Value::I32(i32::from_le_bytes(self.array()?)),
            6 => Value::F32(f32::from_le_bytes(self.array()?)),
            7 => Value::Bool(self.array::<1>()?[0] != 0),
            8 => Value::Str(self.string()?),
            9 => {
                if depth >= MAX_DEPTH {
                    return Err(self.corrupt("metadata arrays nested too deeply".into()));
                }
                let elem = self.u32()?;
                let n = self.count("array length")?;
                // Every element takes at least this many bytes in the file; bounding the count by
                // it keeps a hostile header from costing more memory than a small multiple of its size.
                let min_bytes = match elem {
                    0 | 1 | 7 => 1,
                    2 | 3 => 2,
                    4..=6 => 4,
                    8 | 10..=12 => 8,
                    9 => 12,
                    _ => 1,
                };
                if n.saturating_mul(min_bytes) > self.buf.len() - self.pos {
                    return Err(
                        self.corrupt(format!("array of {n} elements is larger than the file"))
                    );
                }
                let mut v = Vec::with_capacity(n.min(1 << 20));
                for _ in 0..n {
                    v.push(self.value_of(elem, depth + 1)?);
                }
                Value::Array(v)
            }
            10 => Value::U64(self.u64()?),
            11 => Value::I64(i64::from_le_bytes(self.array()?)),
            12 => Value::F64(f64::from_le_bytes(self.array()?)),
            other => return Err(self.corrupt(format!("unknown metadata value type {other}"))),
        })
    }
}
