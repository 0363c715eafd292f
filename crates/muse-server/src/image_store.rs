//! Generated images kept in memory for `response_format: "url"`, served at
//! `GET /images/{id}.png`. The store is bounded: past its capacity the oldest image goes. Ids
//! are 128 random bits (the URL is the only credential, as with OpenAI's signed URLs).

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Mutex};

pub struct ImageStore {
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    images: HashMap<String, Arc<[u8]>>,
    order: VecDeque<String>,
}

/// 64 random bits: std's `RandomState` is seeded from the OS for every instance.
pub(crate) fn random_u64() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0);
    h.finish()
}

impl ImageStore {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            inner: Mutex::new(Inner::default()),
        }
    }

    /// Keep `png`; returns its id.
    pub fn put(&self, png: Vec<u8>) -> String {
        let id = format!("{:016x}{:016x}", random_u64(), random_u64());
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        while inner.order.len() >= self.capacity {
            if let Some(old) = inner.order.pop_front() {
                inner.images.remove(&old);
            }
        }
        inner.images.insert(id.clone(), png.into());
        inner.order.push_back(id.clone());
        id
    }

    pub fn get(&self, id: &str) -> Option<Arc<[u8]>> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.images.get(id).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::ImageStore;

    #[test]
    fn keeps_the_newest_up_to_capacity_under_distinct_ids() {
        let s = ImageStore::new(2);
        let a = s.put(vec![1]);
        let b = s.put(vec![2]);
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        let c = s.put(vec![3]);
        assert!(s.get(&a).is_none(), "the oldest is dropped");
        assert_eq!(s.get(&b).as_deref(), Some(&[2u8][..]));
        assert_eq!(s.get(&c).as_deref(), Some(&[3u8][..]));
        assert!(s.get("nope").is_none());
    }
}
