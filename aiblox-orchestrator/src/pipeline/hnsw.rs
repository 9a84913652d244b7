//! An approximate nearest-neighbour graph over the chunk vectors: HNSW (Malkov and Yashunin,
//! "Efficient and robust approximate nearest neighbor search using Hierarchical Navigable Small
//! World graphs", 2016), with the paper's neighbour-selection heuristic.
//!
//! The graph holds links only: nodes are the vector store's slots, and every similarity comes
//! from a [`Space`] the caller passes in (the store's int8 or f32 dot products), so the vectors
//! are held once. Nodes are never removed: a slot whose vector is gone keeps its vector until the
//! store compacts, stays traversable, and the caller's `accept` keeps it out of results. Layer 0
//! links sit in one flat array (`2 M` per node) for locality; the few nodes above layer 0 keep
//! theirs in a map.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap};

/// SplitMix64: the next of a deterministic stream of 64-bit numbers (levels here, generated
/// vectors in the benchmark and the tests).
pub(crate) fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Similarities between the graph's nodes (higher is nearer).
pub(crate) trait Space {
    /// The similarity of nodes `a` and `b`.
    fn between(&self, a: u32, b: u32) -> f32;
}

/// How the graph is built and searched.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Params {
    /// Links per node above layer 0 (twice this at layer 0).
    pub(crate) m: usize,
    /// Candidates considered when a node is linked.
    pub(crate) ef_construction: usize,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            m: 16,
            ef_construction: 128,
        }
    }
}

/// A similarity and a node, ordered by similarity (then node, for determinism).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Scored(f32, u32);

impl Eq for Scored {}

impl PartialOrd for Scored {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Scored {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0).then(other.1.cmp(&self.1))
    }
}

const NO_LINK: u32 = u32::MAX;

/// The graph.
#[derive(Debug, Clone)]
pub(crate) struct Graph {
    params: Params,
    /// Layer 0 links: `2 m` per node, unused ones [`NO_LINK`].
    base: Vec<u32>,
    /// Each node's top layer.
    levels: Vec<u8>,
    /// Links of layers 1 and up, for the nodes that reach them: `upper[node][layer - 1]`.
    upper: HashMap<u32, Vec<Vec<u32>>>,
    entry: Option<u32>,
    top: u8,
    rng: u64,
}

impl Graph {
    /// An empty graph.
    pub(crate) fn new(params: Params) -> Graph {
        Graph {
            params,
            base: Vec::new(),
            levels: Vec::new(),
            upper: HashMap::new(),
            entry: None,
            top: 0,
            rng: 0x9E37_79B9_7F4A_7C15,
        }
    }

    /// Nodes in the graph (they are `0..len`).
    pub(crate) fn len(&self) -> usize {
        self.levels.len()
    }

    /// Bytes its links take.
    pub(crate) fn bytes(&self) -> usize {
        self.base.len() * 4
            + self.levels.len()
            + self
                .upper
                .values()
                .map(|layers| 24 + layers.iter().map(|l| 24 + 4 * l.capacity()).sum::<usize>())
                .sum::<usize>()
    }

    fn base_width(&self) -> usize {
        2 * self.params.m
    }

    fn links(&self, node: u32, layer: u8) -> &[u32] {
        if layer == 0 {
            let width = self.base_width();
            let at = node as usize * width;
            let links = &self.base[at..at + width];
            let used = links.iter().position(|&l| l == NO_LINK).unwrap_or(width);
            &links[..used]
        } else {
            self.upper
                .get(&node)
                .and_then(|layers| layers.get(usize::from(layer) - 1))
                .map_or(&[], Vec::as_slice)
        }
    }

    fn set_links(&mut self, node: u32, layer: u8, links: &[u32]) {
        if layer == 0 {
            let width = self.base_width();
            let at = node as usize * width;
            let row = &mut self.base[at..at + width];
            row.fill(NO_LINK);
            row[..links.len()].copy_from_slice(links);
        } else if let Some(layers) = self.upper.get_mut(&node) {
            layers[usize::from(layer) - 1] = links.to_vec();
        }
    }

    /// A level drawn from the geometric distribution of the paper (`mL = 1 / ln M`).
    fn draw_level(&mut self) -> u8 {
        // SplitMix64: deterministic, so a graph built twice from the same vectors is the same.
        let z = splitmix64(&mut self.rng);
        let unit = ((z >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64);
        let level = (-unit.ln() / (self.params.m as f64).ln()).floor();
        level.min(16.0) as u8
    }

    /// Links the next node (`len()`), whose vector `space` knows.
    pub(crate) fn insert(&mut self, space: &impl Space) -> u32 {
        let node = u32::try_from(self.levels.len()).expect("fewer than 2^32 nodes");
        let level = self.draw_level();
        self.levels.push(level);
        self.base
            .extend(std::iter::repeat_n(NO_LINK, self.base_width()));
        if level > 0 {
            self.upper
                .insert(node, vec![Vec::new(); usize::from(level)]);
        }
        let Some(entry) = self.entry else {
            self.entry = Some(node);
            self.top = level;
            return node;
        };
        let near = |other: u32| space.between(node, other);
        let mut entries = vec![Scored(near(entry), entry)];
        for layer in (level + 1..=self.top).rev() {
            entries = self.search_layer(&near, &entries, 1, layer, &|_| true);
        }
        for layer in (0..=level.min(self.top)).rev() {
            let found =
                self.search_layer(&near, &entries, self.params.ef_construction, layer, &|_| {
                    true
                });
            let width = if layer == 0 {
                self.base_width()
            } else {
                self.params.m
            };
            let chosen = select(space, &found, self.params.m);
            let links: Vec<u32> = chosen.iter().map(|s| s.1).collect();
            self.set_links(node, layer, &links);
            for &Scored(similarity, neighbour) in &chosen {
                self.link_back(space, neighbour, node, similarity, layer, width);
            }
            entries = found;
        }
        if level > self.top {
            self.top = level;
            self.entry = Some(node);
        }
        node
    }

    /// Adds `node` to `neighbour`'s links at `layer`, shrinking them by the heuristic when full.
    fn link_back(
        &mut self,
        space: &impl Space,
        neighbour: u32,
        node: u32,
        similarity: f32,
        layer: u8,
        width: usize,
    ) {
        let mut links = self.links(neighbour, layer).to_vec();
        if links.contains(&node) {
            return;
        }
        if links.len() < width {
            links.push(node);
        } else {
            let mut scored: Vec<Scored> = links
                .iter()
                .map(|&l| Scored(space.between(neighbour, l), l))
                .collect();
            scored.push(Scored(similarity, node));
            scored.sort_unstable_by(|a, b| b.cmp(a));
            links = select(space, &scored, width).iter().map(|s| s.1).collect();
        }
        self.set_links(neighbour, layer, &links);
    }

    /// Keeps the nodes `kept` marks, renumbered in order (node `n` becomes the number of kept
    /// nodes before it), and drops every link to the others: what the vector store's
    /// compaction does to its slots. The graph stays searchable without being linked again;
    /// nodes that lost links keep the rest.
    pub(crate) fn retain(&mut self, kept: &[bool]) {
        let mut renumbered = vec![NO_LINK; kept.len()];
        let mut next = 0u32;
        for (node, &keep) in kept.iter().enumerate() {
            if keep {
                renumbered[node] = next;
                next += 1;
            }
        }
        let width = self.base_width();
        let mut base = Vec::with_capacity(next as usize * width);
        let mut levels = Vec::with_capacity(next as usize);
        let mut upper = HashMap::new();
        let mut entry: Option<(u8, u32)> = None;
        for (node, &keep) in kept.iter().enumerate() {
            if !keep {
                continue;
            }
            let new = renumbered[node];
            let level = self.levels[node];
            let mut row: Vec<u32> = self
                .links(node as u32, 0)
                .iter()
                .map(|&l| renumbered[l as usize])
                .filter(|&l| l != NO_LINK)
                .collect();
            row.resize(width, NO_LINK);
            base.extend(row);
            levels.push(level);
            if let Some(layers) = self.upper.get(&(node as u32)) {
                let layers: Vec<Vec<u32>> = layers
                    .iter()
                    .map(|links| {
                        links
                            .iter()
                            .map(|&l| renumbered[l as usize])
                            .filter(|&l| l != NO_LINK)
                            .collect()
                    })
                    .collect();
                upper.insert(new, layers);
            }
            if entry.is_none_or(|(top, _)| level > top) {
                entry = Some((level, new));
            }
        }
        self.base = base;
        self.levels = levels;
        self.upper = upper;
        self.entry = entry.map(|(_, node)| node);
        self.top = entry.map_or(0, |(level, _)| level);
    }

    /// The `k` accepted nodes nearest to the query (`near` gives a node's similarity to it),
    /// best first, looking at `ef` (at least `k`) candidates at layer 0.
    pub(crate) fn search(
        &self,
        near: &impl Fn(u32) -> f32,
        k: usize,
        ef: usize,
        accept: &impl Fn(u32) -> bool,
    ) -> Vec<(f32, u32)> {
        let Some(entry) = self.entry else {
            return Vec::new();
        };
        let mut entries = vec![Scored(near(entry), entry)];
        for layer in (1..=self.top).rev() {
            entries = self.search_layer(near, &entries, 1, layer, &|_| true);
        }
        let mut found = self.search_layer(near, &entries, ef.max(k), 0, accept);
        found.truncate(k);
        found.into_iter().map(|Scored(s, n)| (s, n)).collect()
    }

    /// The paper's SEARCH-LAYER, best first: up to `ef` nearest accepted nodes reachable from
    /// `entries` at `layer` (every node is traversed; only accepted ones are kept).
    fn search_layer(
        &self,
        near: &impl Fn(u32) -> f32,
        entries: &[Scored],
        ef: usize,
        layer: u8,
        accept: &impl Fn(u32) -> bool,
    ) -> Vec<Scored> {
        let mut visited = Visited::take(self.len());
        let room = ef.min(self.len()) + 1;
        let mut candidates: BinaryHeap<Scored> = BinaryHeap::with_capacity(room);
        let mut kept: BinaryHeap<Reverse<Scored>> = BinaryHeap::with_capacity(room);
        for &entry in entries {
            visited.insert(entry.1);
            candidates.push(entry);
            if accept(entry.1) {
                kept.push(Reverse(entry));
            }
        }
        while kept.len() > ef {
            kept.pop();
        }
        while let Some(Scored(similarity, node)) = candidates.pop() {
            if kept.len() >= ef && kept.peek().is_some_and(|worst| similarity < worst.0.0) {
                break;
            }
            for &next in self.links(node, layer) {
                if !visited.insert(next) {
                    continue;
                }
                let scored = Scored(near(next), next);
                let worth =
                    kept.len() < ef || kept.peek().is_some_and(|worst| scored.0 > worst.0.0);
                if worth {
                    candidates.push(scored);
                    if accept(next) {
                        kept.push(Reverse(scored));
                        if kept.len() > ef {
                            kept.pop();
                        }
                    }
                }
            }
        }
        visited.give_back();
        let mut found: Vec<Scored> = kept.into_iter().map(|Reverse(s)| s).collect();
        found.sort_unstable_by(|a, b| b.cmp(a));
        found
    }
}

/// Which nodes a search has seen: a generation stamp per node, in an array each thread keeps
/// between searches (a search touches thousands of nodes; hashing each cost more than the walk),
/// reset in O(1) by moving to the next generation. A search takes the array out of its thread's
/// keeping and gives it back when done.
struct Visited {
    stamps: Vec<u32>,
    generation: u32,
}

thread_local! {
    static STAMPS: std::cell::Cell<(Vec<u32>, u32)> = const { std::cell::Cell::new((Vec::new(), 0)) };
}

impl Visited {
    fn take(nodes: usize) -> Visited {
        let (mut stamps, mut generation) = STAMPS.take();
        if stamps.len() < nodes {
            stamps.resize(nodes, 0);
        }
        generation = generation.wrapping_add(1);
        if generation == 0 {
            stamps.fill(0);
            generation = 1;
        }
        Visited { stamps, generation }
    }

    /// Marks `node` seen; whether it was new.
    fn insert(&mut self, node: u32) -> bool {
        let stamp = &mut self.stamps[node as usize];
        let new = *stamp != self.generation;
        *stamp = self.generation;
        new
    }

    fn give_back(self) {
        STAMPS.set((self.stamps, self.generation));
    }
}

/// The paper's heuristic (SELECT-NEIGHBORS-HEURISTIC with kept pruned connections): from
/// `candidates` (best first), those nearer to the base than to any already chosen, then the
/// nearest of the rest, up to `m`.
fn select(space: &impl Space, candidates: &[Scored], m: usize) -> Vec<Scored> {
    let mut chosen: Vec<Scored> = Vec::with_capacity(m);
    let mut pruned: Vec<Scored> = Vec::new();
    for &candidate in candidates {
        if chosen.len() == m {
            break;
        }
        let diverse = chosen
            .iter()
            .all(|c| space.between(candidate.1, c.1) < candidate.0);
        if diverse {
            chosen.push(candidate);
        } else {
            pruned.push(candidate);
        }
    }
    for candidate in pruned {
        if chosen.len() == m {
            break;
        }
        chosen.push(candidate);
    }
    chosen
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::HashSet;

    use super::*;

    /// Unit vectors in `d` dimensions around `clusters` centres, deterministic.
    pub(crate) fn clustered(count: usize, d: usize, clusters: usize, seed: u64) -> Vec<Vec<f32>> {
        let mut state = seed;
        let mut next =
            move || (splitmix64(&mut state) >> 11) as f32 / (1u64 << 53) as f32 * 2.0 - 1.0;
        let centres: Vec<Vec<f32>> = (0..clusters)
            .map(|_| (0..d).map(|_| next()).collect())
            .collect();
        (0..count)
            .map(|i| {
                let centre = &centres[i % clusters];
                let v: Vec<f32> = centre.iter().map(|c| c + 0.6 * next()).collect();
                let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                v.into_iter().map(|x| x / norm).collect()
            })
            .collect()
    }

    struct Plain(Vec<Vec<f32>>);

    impl Space for Plain {
        fn between(&self, a: u32, b: u32) -> f32 {
            dot(&self.0[a as usize], &self.0[b as usize])
        }
    }

    fn dot(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    fn exact(
        vectors: &[Vec<f32>],
        query: &[f32],
        k: usize,
        accept: impl Fn(u32) -> bool,
    ) -> Vec<u32> {
        let mut all: Vec<(f32, u32)> = (0..vectors.len() as u32)
            .filter(|&n| accept(n))
            .map(|n| (dot(&vectors[n as usize], query), n))
            .collect();
        all.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        all.into_iter().take(k).map(|(_, n)| n).collect()
    }

    fn recall(
        graph: &Graph,
        space: &Plain,
        queries: &[Vec<f32>],
        k: usize,
        ef: usize,
        accept: impl Fn(u32) -> bool + Copy,
    ) -> f64 {
        let mut hits = 0;
        for query in queries {
            let truth: HashSet<u32> = exact(&space.0, query, k, accept).into_iter().collect();
            let found = graph.search(&|n| dot(&space.0[n as usize], query), k, ef, &accept);
            hits += found.iter().filter(|(_, n)| truth.contains(n)).count();
        }
        hits as f64 / (queries.len() * k) as f64
    }

    fn built(vectors: Vec<Vec<f32>>) -> (Graph, Plain) {
        let space = Plain(vectors);
        let mut graph = Graph::new(Params::default());
        for _ in 0..space.0.len() {
            graph.insert(&space);
        }
        (graph, space)
    }

    #[test]
    fn recall_at_50_against_the_exact_scan() {
        let (graph, space) = built(clustered(4_000, 48, 40, 7));
        let queries = clustered(40, 48, 40, 99);
        let found = recall(&graph, &space, &queries, 50, 200, |_| true);
        assert!(found >= 0.95, "recall@50 {found}");
        assert_eq!(graph.len(), 4_000);
    }

    #[test]
    fn nodes_not_accepted_are_never_returned_and_the_rest_still_found() {
        let (graph, space) = built(clustered(3_000, 32, 30, 3));
        let queries = clustered(30, 32, 30, 11);
        // Every third node is gone (deleted or changed): traversed, never returned.
        let alive = |n: u32| !n.is_multiple_of(3);
        for query in &queries {
            let found = graph.search(&|n| dot(&space.0[n as usize], query), 20, 100, &alive);
            assert_eq!(found.len(), 20);
            assert!(found.iter().all(|(_, n)| alive(*n)), "{found:?}");
            assert!(found.windows(2).all(|w| w[0].0 >= w[1].0), "best first");
        }
        let found = recall(&graph, &space, &queries, 20, 100, alive);
        assert!(found >= 0.95, "recall@20 among the living {found}");
    }

    #[test]
    fn a_graph_that_drops_nodes_still_finds_the_rest() {
        let (mut graph, space) = built(clustered(3_000, 32, 30, 5));
        let kept: Vec<bool> = (0..3_000u32).map(|n| !n.is_multiple_of(4)).collect();
        graph.retain(&kept);
        assert_eq!(graph.len(), 2_250);
        let survivors = Plain(
            space
                .0
                .iter()
                .zip(&kept)
                .filter(|(_, keep)| **keep)
                .map(|(v, _)| v.clone())
                .collect(),
        );
        let queries = clustered(30, 32, 30, 13);
        let found = recall(&graph, &survivors, &queries, 20, 100, |_| true);
        assert!(found >= 0.95, "recall@20 after dropping a quarter: {found}");
    }

    #[test]
    fn an_empty_graph_finds_nothing_and_one_node_finds_itself() {
        let space = Plain(clustered(1, 8, 1, 1));
        let mut graph = Graph::new(Params::default());
        assert!(graph.search(&|_| 1.0, 5, 10, &|_| true).is_empty());
        graph.insert(&space);
        assert_eq!(
            graph
                .search(&|n| dot(&space.0[n as usize], &space.0[0]), 5, 10, &|_| {
                    true
                })
                .len(),
            1
        );
    }
}
