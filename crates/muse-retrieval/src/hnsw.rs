//! Hierarchical Navigable Small World graphs for approximate nearest-neighbour search
//! (Malkov & Yashunin 2018, "Efficient and robust approximate nearest neighbor search using
//! Hierarchical Navigable Small World graphs", IEEE TPAMI, arXiv:1603.09320).
//!
//! Vectors are unit length and similarity is the dot product (cosine). Insertion is the paper's
//! Algorithm 1 with the neighbour-selection heuristic of Algorithm 4 (`keepPrunedConnections`
//! on); search is Algorithm 5 over Algorithm 2. Layer 0 keeps up to `2·M` links per node in one
//! flat array (a search touches it most), upper layers up to `M`. Deleted nodes are not removed:
//! a search still walks through them but leaves them out of its results (as hnswlib's
//! `markDelete` does), and the owner rebuilds the graph when they become many.
//!
//! Written here rather than taken from a crate: the knowledge base needs incremental inserts,
//! filtered search and a file format it controls (the graph is a cache tagged with the store's
//! generation); `docs/benchmarks.md` compares it with hnswlib on the same vectors.

use crate::dot;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::io::{BufWriter, Write};
use std::path::Path;

/// Build and search parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HnswParams {
    /// Links per node on the upper layers (`2·M` on layer 0).
    pub m: usize,
    /// Candidate list size while inserting.
    pub ef_construction: usize,
    /// Seed of the level draw: the same inserts give the same graph.
    pub seed: u64,
}

impl Default for HnswParams {
    fn default() -> Self {
        Self {
            m: 16,
            ef_construction: 200,
            seed: 0x4d55_5345,
        }
    }
}

/// A candidate: node and its similarity to the query. Ordered by similarity.
#[derive(Debug, Clone, Copy)]
struct Cand {
    sim: f32,
    node: u32,
}
impl PartialEq for Cand {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Cand {}
impl PartialOrd for Cand {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Cand {
    fn cmp(&self, o: &Self) -> Ordering {
        self.sim.total_cmp(&o.sim).then(o.node.cmp(&self.node))
    }
}

pub struct Hnsw {
    dim: usize,
    params: HnswParams,
    m0: usize,
    vectors: Vec<f32>,
    ids: Vec<i64>,
    levels: Vec<u8>,
    /// Layer 0: `m0 + 1` slots a node, the first its link count.
    layer0: Vec<u32>,
    /// Layers 1..=level of each node (empty for most).
    upper: Vec<Vec<Vec<u32>>>,
    entry: Option<u32>,
    max_level: usize,
    rng: ChaCha8Rng,
    /// Free for the owner: the store generation this graph reflects.
    pub generation: u64,
}

const MAGIC: &[u8; 8] = b"MUSEHNSW";
const FILE_VERSION: u32 = 1;

impl Hnsw {
    pub fn new(dim: usize, params: HnswParams) -> Self {
        let m = params.m.max(2);
        Self {
            dim,
            params: HnswParams { m, ..params },
            m0: 2 * m,
            vectors: Vec::new(),
            ids: Vec::new(),
            levels: Vec::new(),
            layer0: Vec::new(),
            upper: Vec::new(),
            entry: None,
            max_level: 0,
            rng: ChaCha8Rng::seed_from_u64(params.seed),
            generation: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
    pub fn dim(&self) -> usize {
        self.dim
    }
    pub fn params(&self) -> HnswParams {
        self.params
    }
    /// External ids, in insertion order.
    pub fn ids(&self) -> &[i64] {
        &self.ids
    }
    /// Largest external id inserted (ids are inserted in increasing order by the knowledge base).
    pub fn max_id(&self) -> Option<i64> {
        self.ids.iter().copied().max()
    }
    pub fn vector(&self, node: usize) -> &[f32] {
        &self.vectors[node * self.dim..(node + 1) * self.dim]
    }

    fn sim(&self, q: &[f32], node: u32) -> f32 {
        dot(q, self.vector(node as usize))
    }

    fn links(&self, node: u32, level: usize) -> &[u32] {
        if level == 0 {
            let base = node as usize * (self.m0 + 1);
            let n = self.layer0[base] as usize;
            &self.layer0[base + 1..base + 1 + n]
        } else {
            &self.upper[node as usize][level - 1]
        }
    }

    fn set_links(&mut self, node: u32, level: usize, links: &[u32]) {
        if level == 0 {
            let base = node as usize * (self.m0 + 1);
            let n = links.len().min(self.m0);
            self.layer0[base] = n as u32;
            self.layer0[base + 1..base + 1 + n].copy_from_slice(&links[..n]);
        } else {
            self.upper[node as usize][level - 1] = links.to_vec();
        }
    }

    /// Add a vector (of length `dim`, unit length) under an external id.
    pub fn insert(&mut self, id: i64, v: &[f32]) {
        let node = self.ids.len() as u32;
        // Level draw: floor(-ln(U) · mL), mL = 1 / ln(M) (the paper's recommended normaliser).
        let ml = 1.0 / (self.params.m as f64).ln();
        let u: f64 = self.rng.random_range(f64::MIN_POSITIVE..1.0);
        let level = ((-u.ln() * ml) as usize).min(16);
        self.vectors.extend_from_slice(&v[..self.dim.min(v.len())]);
        self.vectors.resize((node as usize + 1) * self.dim, 0.0);
        self.ids.push(id);
        self.levels.push(level as u8);
        self.layer0.resize(self.layer0.len() + self.m0 + 1, 0);
        self.upper.push(vec![Vec::new(); level]);
        let Some(mut ep) = self.entry else {
            self.entry = Some(node);
            self.max_level = level;
            return;
        };
        let q = self.vector(node as usize).to_vec();
        for l in (level + 1..=self.max_level).rev() {
            ep = self.greedy(&q, ep, l);
        }
        let mut eps = vec![Cand {
            sim: self.sim(&q, ep),
            node: ep,
        }];
        for l in (0..=level.min(self.max_level)).rev() {
            let w = self.search_layer(&q, &eps, self.params.ef_construction, l, None);
            let chosen = self.select(&w, self.params.m);
            let chosen_nodes: Vec<u32> = chosen.iter().map(|c| c.node).collect();
            self.set_links(node, l, &chosen_nodes);
            let cap = if l == 0 { self.m0 } else { self.params.m };
            for c in &chosen {
                self.connect(c.node, node, c.sim, l, cap);
            }
            eps = w;
        }
        if level > self.max_level {
            self.entry = Some(node);
            self.max_level = level;
        }
    }

    /// Add `new` to `e`'s links on `level`, shrinking them with the heuristic when over `cap`.
    fn connect(&mut self, e: u32, new: u32, sim: f32, level: usize, cap: usize) {
        let mut links = self.links(e, level).to_vec();
        if links.len() < cap {
            links.push(new);
            self.set_links(e, level, &links);
            return;
        }
        let ev = self.vector(e as usize).to_vec();
        let mut cands: Vec<Cand> = links
            .iter()
            .map(|&n| Cand {
                sim: self.sim(&ev, n),
                node: n,
            })
            .collect();
        cands.push(Cand { sim, node: new });
        let kept: Vec<u32> = self.select(&cands, cap).iter().map(|c| c.node).collect();
        self.set_links(e, level, &kept);
    }

    /// Algorithm 4: keep a candidate only if it is closer to the base than to every candidate
    /// already kept (this spreads links over directions); fill up with the pruned ones.
    fn select(&self, cands: &[Cand], m: usize) -> Vec<Cand> {
        let mut sorted = cands.to_vec();
        sorted.sort_by(|a, b| b.cmp(a));
        let mut kept: Vec<Cand> = Vec::with_capacity(m);
        let mut pruned = Vec::new();
        for c in sorted {
            if kept.len() >= m {
                break;
            }
            let cv = self.vector(c.node as usize);
            if kept
                .iter()
                .all(|k| dot(cv, self.vector(k.node as usize)) < c.sim)
            {
                kept.push(c);
            } else {
                pruned.push(c);
            }
        }
        for c in pruned {
            if kept.len() >= m {
                break;
            }
            kept.push(c);
        }
        kept
    }

    fn greedy(&self, q: &[f32], mut ep: u32, level: usize) -> u32 {
        let mut best = self.sim(q, ep);
        loop {
            let mut moved = false;
            for &n in self.links(ep, level) {
                let s = self.sim(q, n);
                if s > best {
                    best = s;
                    ep = n;
                    moved = true;
                }
            }
            if !moved {
                return ep;
            }
        }
    }

    /// Algorithm 2: best-first search from `eps` keeping the `ef` most similar nodes that pass
    /// `keep` (all nodes are walked through). Returns them best first.
    fn search_layer(
        &self,
        q: &[f32],
        eps: &[Cand],
        ef: usize,
        level: usize,
        keep: Option<&dyn Fn(i64) -> bool>,
    ) -> Vec<Cand> {
        let ef = ef.max(1);
        let mut visited = vec![0u64; self.ids.len() / 64 + 1];
        let mut seen = |n: u32| {
            let (w, b) = (n as usize / 64, n as usize % 64);
            let was = visited[w] >> b & 1 == 1;
            visited[w] |= 1 << b;
            was
        };
        let ok = |n: u32| keep.is_none_or(|f| f(self.ids[n as usize]));
        // Candidates: max-heap by similarity. Results: min-heap (Reverse) holding the best ef.
        let mut cands: BinaryHeap<Cand> = BinaryHeap::new();
        let mut results: BinaryHeap<std::cmp::Reverse<Cand>> = BinaryHeap::new();
        for &c in eps {
            if seen(c.node) {
                continue;
            }
            cands.push(c);
            if ok(c.node) {
                results.push(std::cmp::Reverse(c));
            }
        }
        // The bound a candidate must beat: the worst kept result once `ef` are kept.
        let bound = |results: &BinaryHeap<std::cmp::Reverse<Cand>>| -> f32 {
            if results.len() < ef {
                f32::NEG_INFINITY
            } else {
                results.peek().map_or(f32::NEG_INFINITY, |r| r.0.sim)
            }
        };
        while let Some(c) = cands.pop() {
            if c.sim < bound(&results) {
                break;
            }
            for &n in self.links(c.node, level) {
                if seen(n) {
                    continue;
                }
                let s = self.sim(q, n);
                if s > bound(&results) || results.len() < ef {
                    let cand = Cand { sim: s, node: n };
                    cands.push(cand);
                    if ok(n) {
                        results.push(std::cmp::Reverse(cand));
                        if results.len() > ef {
                            results.pop();
                        }
                    }
                }
            }
        }
        let mut out: Vec<Cand> = results.into_iter().map(|r| r.0).collect();
        out.sort_by(|a, b| b.cmp(a));
        out
    }

    /// The `k` most similar vectors to `q` (unit length) among those whose id passes `keep`:
    /// `(id, cosine)`, best first. `ef` (≥ k) trades speed for recall.
    pub fn search(
        &self,
        q: &[f32],
        k: usize,
        ef: usize,
        keep: Option<&dyn Fn(i64) -> bool>,
    ) -> Vec<(i64, f32)> {
        let Some(mut ep) = self.entry else {
            return Vec::new();
        };
        if q.len() != self.dim {
            return Vec::new();
        }
        for l in (1..=self.max_level).rev() {
            ep = self.greedy(q, ep, l);
        }
        let eps = [Cand {
            sim: self.sim(q, ep),
            node: ep,
        }];
        self.search_layer(q, &eps, ef.max(k), 0, keep)
            .into_iter()
            .take(k)
            .map(|c| (self.ids[c.node as usize], c.sim))
            .collect()
    }

    /// Exact search by scanning every vector: the reference for recall, and the reranker.
    pub fn exact(
        &self,
        q: &[f32],
        k: usize,
        keep: Option<&dyn Fn(i64) -> bool>,
    ) -> Vec<(i64, f32)> {
        let mut heap: BinaryHeap<std::cmp::Reverse<Cand>> = BinaryHeap::new();
        for node in 0..self.ids.len() {
            if keep.is_some_and(|f| !f(self.ids[node])) {
                continue;
            }
            let c = Cand {
                sim: dot(q, self.vector(node)),
                node: node as u32,
            };
            if heap.len() < k {
                heap.push(std::cmp::Reverse(c));
            } else if heap.peek().is_some_and(|w| c > w.0) {
                heap.pop();
                heap.push(std::cmp::Reverse(c));
            }
        }
        let mut out: Vec<Cand> = heap.into_iter().map(|r| r.0).collect();
        out.sort_by(|a, b| b.cmp(a));
        out.into_iter()
            .map(|c| (self.ids[c.node as usize], c.sim))
            .collect()
    }

    /// Write the graph to `path` atomically (a temporary file renamed over it).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        {
            let f = std::fs::File::create(&tmp)?;
            let mut w = BufWriter::with_capacity(1 << 20, f);
            w.write_all(MAGIC)?;
            w.write_all(&FILE_VERSION.to_le_bytes())?;
            w.write_all(&self.generation.to_le_bytes())?;
            for x in [self.dim, self.params.m, self.params.ef_construction] {
                w.write_all(&(x as u64).to_le_bytes())?;
            }
            w.write_all(&self.params.seed.to_le_bytes())?;
            w.write_all(&(self.ids.len() as u64).to_le_bytes())?;
            w.write_all(&self.entry.map_or(-1i64, i64::from).to_le_bytes())?;
            w.write_all(&(self.max_level as u64).to_le_bytes())?;
            for x in &self.vectors {
                w.write_all(&x.to_le_bytes())?;
            }
            for x in &self.ids {
                w.write_all(&x.to_le_bytes())?;
            }
            w.write_all(&self.levels)?;
            for x in &self.layer0 {
                w.write_all(&x.to_le_bytes())?;
            }
            for node in &self.upper {
                for links in node {
                    w.write_all(&(links.len() as u32).to_le_bytes())?;
                    for x in links {
                        w.write_all(&x.to_le_bytes())?;
                    }
                }
            }
            let f = w.into_inner().map_err(|e| e.into_error())?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, path)
    }

    /// Read a graph written by [`Hnsw::save`]; any inconsistency is an error (the caller rebuilds).
    pub fn load(path: &Path) -> Result<Self, String> {
        let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
        let mut r = Reader { b: &bytes, at: 0 };
        if r.take(8)? != MAGIC {
            return Err("not a Muse HNSW file".into());
        }
        let version = u32::from_le_bytes(r.arr()?);
        if version != FILE_VERSION {
            return Err(format!("file version {version}, expected {FILE_VERSION}"));
        }
        let generation = r.u64()?;
        let dim = r.u64()? as usize;
        let m = r.u64()? as usize;
        let ef_construction = r.u64()? as usize;
        let seed = r.u64()?;
        let n = r.u64()? as usize;
        let entry = i64::from_le_bytes(r.arr()?);
        let max_level = r.u64()? as usize;
        let params = HnswParams {
            m,
            ef_construction,
            seed,
        };
        let mut g = Self::new(dim, params);
        if n > bytes.len() || dim > bytes.len() {
            return Err("truncated".into());
        }
        g.generation = generation;
        g.vectors = r
            .take(n * dim * 4)?
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        g.ids = r
            .take(n * 8)?
            .chunks_exact(8)
            .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect();
        g.levels = r.take(n)?.to_vec();
        g.layer0 = r
            .take(n * (g.m0 + 1) * 4)?
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        for node in 0..n {
            let level = g.levels[node] as usize;
            let mut layers = Vec::with_capacity(level);
            for _ in 0..level {
                let cnt = u32::from_le_bytes(r.arr()?) as usize;
                let links: Vec<u32> = r
                    .take(cnt * 4)?
                    .chunks_exact(4)
                    .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect();
                layers.push(links);
            }
            g.upper.push(layers);
        }
        if r.at != bytes.len() {
            return Err("trailing bytes".into());
        }
        let valid = |x: u32| (x as usize) < n;
        let links_ok = (0..n).all(|i| {
            let base = i * (g.m0 + 1);
            (g.layer0[base] as usize) <= g.m0
                && g.layer0[base + 1..base + 1 + g.layer0[base] as usize]
                    .iter()
                    .all(|&x| valid(x))
        }) && g.upper.iter().flatten().flatten().all(|&x| valid(x));
        if !links_ok {
            return Err("link out of range".into());
        }
        g.entry = if entry < 0 {
            None
        } else {
            Some(u32::try_from(entry).map_err(|_| "bad entry")?)
        };
        if g.entry.is_some_and(|e| !valid(e)) || (n > 0 && g.entry.is_none()) {
            return Err("bad entry point".into());
        }
        if g.entry
            .is_some_and(|e| g.levels[e as usize] as usize != max_level)
        {
            return Err("entry point level mismatch".into());
        }
        g.max_level = max_level;
        // Keep the level draw deterministic across save/load: advance past n draws.
        for _ in 0..n {
            let _: f64 = g.rng.random_range(f64::MIN_POSITIVE..1.0);
        }
        Ok(g)
    }
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}
impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.at.checked_add(n).ok_or("length overflow")?;
        let s = self.b.get(self.at..end).ok_or("truncated")?;
        self.at = end;
        Ok(s)
    }
    fn arr<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }
    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.arr()?))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;
    use crate::normalize;

    fn random_unit(rng: &mut ChaCha8Rng, dim: usize) -> Vec<f32> {
        let mut v: Vec<f32> = (0..dim).map(|_| rng.random_range(-1.0f32..1.0)).collect();
        normalize(&mut v);
        v
    }

    #[test]
    fn recall_against_exact_search_is_high() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let dim = 32;
        let mut g = Hnsw::new(dim, HnswParams::default());
        for i in 0..3000 {
            g.insert(i * 10, &random_unit(&mut rng, dim));
        }
        let mut hit = 0;
        let mut total = 0;
        for _ in 0..50 {
            let q = random_unit(&mut rng, dim);
            let exact: Vec<i64> = g.exact(&q, 10, None).iter().map(|r| r.0).collect();
            let approx: Vec<i64> = g.search(&q, 10, 64, None).iter().map(|r| r.0).collect();
            hit += approx.iter().filter(|a| exact.contains(a)).count();
            total += 10;
        }
        let recall = hit as f64 / total as f64;
        assert!(recall >= 0.95, "recall@10 {recall}");
    }

    #[test]
    fn filtered_search_skips_deleted_and_save_load_round_trips() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let dim = 16;
        let mut g = Hnsw::new(dim, HnswParams::default());
        let vs: Vec<Vec<f32>> = (0..500).map(|_| random_unit(&mut rng, dim)).collect();
        for (i, v) in vs.iter().enumerate() {
            g.insert(i as i64, v);
        }
        // The query is vector 7 itself: found first, unless 7 is filtered out.
        assert_eq!(g.search(&vs[7], 1, 32, None)[0].0, 7);
        let not7 = |id: i64| id != 7;
        let r = g.search(&vs[7], 5, 32, Some(&not7));
        assert_eq!(r.len(), 5);
        assert!(r.iter().all(|x| x.0 != 7));
        g.generation = 42;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("g.hnsw");
        g.save(&p).unwrap();
        let mut h = Hnsw::load(&p).unwrap();
        assert_eq!(h.generation, 42);
        assert_eq!(h.search(&vs[3], 5, 32, None), g.search(&vs[3], 5, 32, None));
        // Inserting after a load continues the same graph as inserting before a save.
        let extra = random_unit(&mut rng, dim);
        g.insert(1000, &extra);
        h.insert(1000, &extra);
        assert_eq!(h.search(&extra, 3, 32, None), g.search(&extra, 3, 32, None));
        // A truncated file is an error, never a panic.
        let bytes = std::fs::read(&p).unwrap();
        std::fs::write(&p, &bytes[..bytes.len() - 3]).unwrap();
        assert!(Hnsw::load(&p).is_err());
    }
}
