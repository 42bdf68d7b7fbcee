//! C2SP `tlog-tiles`: tile paths (`tile/<L>/<N>[.p/<W>]`, `N` as `x001/x234/067`), full and
//! partial tiles, entry bundles (`u16 BE length || entry`), and Merkle hashes, roots, inclusion
//! and consistency proofs computed from tiles read through a [`TileReader`] (the shell
//! implements it over a mirror directory or the cache; tests over memory).
//!
//! A tile at level `l`, index `n` holds up to 256 hashes, entry `i` being
//! `MTH(D[(n*256+i)*256^l : (n*256+i+1)*256^l])`. In Merkle-height terms, node `(H, i)` (the
//! complete subtree of `2^H` leaves starting at leaf `i*2^H`) lives in the tile at level `H/8`,
//! reconstructed inside that tile at height `H%8`.

use super::checkpoint::Checkpoint;
use super::{TlogError, b64};
use crate::merkle::{self, Hash};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// Hashes in a full tile.
pub const TILE_WIDTH: u64 = 256;
/// Levels of the Merkle tree one tile spans.
pub const TILE_HEIGHT: u32 = 8;
/// Largest entry an entry bundle can hold (u16 length prefix).
pub const MAX_ENTRY_SIZE: usize = u16::MAX as usize;

/// Which kind of resource a tile path names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TileKind {
    /// A hash tile, `tile/<L>/...`.
    Hashes,
    /// An entry bundle, `tile/entries/...` (level 0 geometry).
    Entries,
}

/// One tile: level, index and width (1..=256; 256 = full).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TileId {
    /// Tile level (0..=63).
    pub level: u8,
    /// Index within the level.
    pub index: u64,
    /// Width: 256 for a full tile, else a partial tile's hash count.
    pub width: u16,
}

/// `N` as zero-padded 3-digit path elements, all but the last prefixed `x`.
pub fn index_path(mut n: u64) -> String {
    let mut parts = Vec::new();
    loop {
        parts.push(n % 1000);
        n /= 1000;
        if n == 0 {
            break;
        }
    }
    parts.reverse();
    let last = parts.len() - 1;
    parts.iter().enumerate().map(|(i, p)| if i < last { format!("x{p:03}") } else { format!("{p:03}") }).collect::<Vec<_>>().join("/")
}

impl TileId {
    /// Whether the tile is full.
    pub fn is_full(&self) -> bool {
        u64::from(self.width) == TILE_WIDTH
    }

    fn suffix(&self) -> String {
        if self.is_full() { String::new() } else { format!(".p/{}", self.width) }
    }

    /// `tile/<L>/<N>[.p/<W>]`.
    pub fn path(&self) -> String {
        format!("tile/{}/{}{}", self.level, index_path(self.index), self.suffix())
    }

    /// `tile/entries/<N>[.p/<W>]` (level-0 geometry).
    pub fn entries_path(&self) -> String {
        format!("tile/entries/{}{}", index_path(self.index), self.suffix())
    }

    /// The path of `kind`.
    pub fn path_of(&self, kind: TileKind) -> String {
        match kind {
            TileKind::Hashes => self.path(),
            TileKind::Entries => self.entries_path(),
        }
    }

    /// The same tile at full width.
    pub fn full(&self) -> TileId {
        TileId { width: TILE_WIDTH as u16, ..*self }
    }

    /// Parses a tile or entry-bundle path (strict: no leading zeroes in `L` and `W`, 3-digit
    /// elements, `x` on all but the last, widths 1..=255 for partial tiles).
    pub fn parse(path: &str) -> Result<(TileKind, TileId), TlogError> {
        let bad = |d: &str| TlogError::TilePath { path: path.into(), detail: d.into() };
        let rest = path.strip_prefix("tile/").ok_or_else(|| bad("does not start with tile/"))?;
        let (kind, level, rest) = match rest.split_once('/') {
            Some(("entries", r)) => (TileKind::Entries, 0u8, r),
            Some((l, r)) => {
                let ok = !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()) && (l == "0" || !l.starts_with('0'));
                let lv = l.parse::<u8>().ok().filter(|v| ok && *v <= 63).ok_or_else(|| bad("level is not 0..63 without leading zeroes"))?;
                (TileKind::Hashes, lv, r)
            }
            None => return Err(bad("no level")),
        };
        let (idx, width) = match rest.split_once(".p/") {
            Some((i, w)) => {
                let ok = !w.is_empty() && w.bytes().all(|b| b.is_ascii_digit()) && !w.starts_with('0');
                let wv = w.parse::<u16>().ok().filter(|v| ok && (1..=255).contains(v)).ok_or_else(|| bad("partial width is not 1..255"))?;
                (i, wv)
            }
            None => (rest, TILE_WIDTH as u16),
        };
        let elems: Vec<&str> = idx.split('/').collect();
        let mut n: u64 = 0;
        for (i, e) in elems.iter().enumerate() {
            let digits =
                if i + 1 < elems.len() { e.strip_prefix('x').ok_or_else(|| bad("inner index elements start with x"))? } else { e };
            if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad("index elements are 3 digits"));
            }
            n = n
                .checked_mul(1000)
                .and_then(|v| v.checked_add(digits.parse::<u64>().expect("3 digits")))
                .ok_or_else(|| bad("index overflows"))?;
        }
        if elems.len() > 1 && elems[0] == "x000" {
            return Err(bad("index has a leading x000 element"));
        }
        let id = TileId { level, index: n, width };
        debug_assert_eq!(id.path_of(kind), path);
        Ok((kind, id))
    }
}

/// The tile at `level`, `index` for a tree of `size`, with its width; `None` if the tree has no
/// such tile.
pub fn tile_for(level: u8, index: u64, size: u64) -> Option<TileId> {
    let row = row_len(level, size);
    let full = row / TILE_WIDTH;
    if index < full {
        Some(TileId { level, index, width: TILE_WIDTH as u16 })
    } else if index == full && !row.is_multiple_of(TILE_WIDTH) {
        Some(TileId { level, index, width: (row % TILE_WIDTH) as u16 })
    } else {
        None
    }
}

/// Number of hashes at tile level `level` for a tree of `size`: `floor(size / 256^level)`.
fn row_len(level: u8, size: u64) -> u64 {
    let shift = 8 * u32::from(level);
    if shift >= 64 { 0 } else { size >> shift }
}

/// Every hash tile of a tree of `size`, lowest level first.
pub fn tiles_of(size: u64) -> Vec<TileId> {
    let mut out = Vec::new();
    let mut level = 0u8;
    while row_len(level, size) > 0 {
        let row = row_len(level, size);
        for n in 0..row.div_ceil(TILE_WIDTH) {
            out.extend(tile_for(level, n, size));
        }
        level += 1;
    }
    out
}

/// Source of tiles. A reader may return a wider version of the requested tile (a later
/// partial, or the full tile); only the first `width` records are used, except when the tree
/// is opened with [`Exactness::Exact`]. A reader bounds what it reads: of a file longer than
/// any valid tile it may return the first bytes past the bound only, which the size check
/// refuses (`tile.size`) as it refuses a tile too short.
pub trait TileReader {
    /// The hash tile, or `None` when absent. `Err` carries an I/O message.
    fn read_tile(&self, id: &TileId) -> Result<Option<Vec<u8>>, String>;
    /// The entry bundle of level-0 tile `id`, or `None` when absent.
    fn read_entries(&self, id: &TileId) -> Result<Option<Vec<u8>>, String>;
}

/// Whether tiles must have exactly the expected width (importing a mirror) or may be wider
/// (proving from the cache, which keeps later tiles).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exactness {
    /// Exactly `width` records, nothing after.
    Exact,
    /// At least `width` records; the first `width` are used.
    Prefix,
}

/// Splits an entry bundle into its first `width` entries. `Exact`: nothing may follow.
pub fn parse_entry_bundle(bytes: &[u8], width: usize, exact: Exactness) -> Result<Vec<&[u8]>, String> {
    let mut out = Vec::with_capacity(width);
    let mut p = 0usize;
    while out.len() < width {
        if p + 2 > bytes.len() {
            return Err(format!("holds {} entries; {width} expected", out.len()));
        }
        let len = u16::from_be_bytes([bytes[p], bytes[p + 1]]) as usize;
        p += 2;
        if p + len > bytes.len() {
            return Err(format!("entry {} claims {len} bytes but only {} remain", out.len(), bytes.len() - p));
        }
        out.push(&bytes[p..p + len]);
        p += len;
    }
    if exact == Exactness::Exact && p != bytes.len() {
        return Err(format!("{} bytes follow the {width} expected entries", bytes.len() - p));
    }
    Ok(out)
}

/// An entry bundle for `entries` (each at most [`MAX_ENTRY_SIZE`] bytes).
pub fn entry_bundle<E: AsRef<[u8]>>(entries: &[E]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.iter().map(|e| e.as_ref().len() + 2).sum());
    for e in entries {
        let e = e.as_ref();
        assert!(e.len() <= MAX_ENTRY_SIZE, "entry fits a u16 length");
        out.extend_from_slice(&(e.len() as u16).to_be_bytes());
        out.extend_from_slice(e);
    }
    out
}

/// A tile with its internal subtree hashes: `heights[h][j]` is the hash of records
/// `j*2^h .. (j+1)*2^h` of the tile.
struct TileNodes {
    heights: Vec<Vec<Hash>>,
}

impl TileNodes {
    fn build(records: Vec<Hash>) -> Self {
        let mut heights = vec![records];
        while heights.last().expect("non-empty").len() >= 2 {
            let below = heights.last().expect("non-empty");
            let next: Vec<Hash> = below.chunks_exact(2).map(|p| merkle::node_hash(&p[0], &p[1])).collect();
            heights.push(next);
        }
        TileNodes { heights }
    }
}

fn hashes_of(bytes: &[u8]) -> Vec<Hash> {
    bytes.chunks_exact(32).map(|c| c.try_into().expect("32 bytes")).collect()
}

/// MTH of a full tile's 256 records.
fn full_tile_hash(bytes: &[u8]) -> Hash {
    merkle::root(&hashes_of(bytes))
}

/// A tree of known size whose hashes come from tiles.
pub struct TiledTree<'r> {
    reader: &'r dyn TileReader,
    size: u64,
    exact: Exactness,
    tiles: RefCell<HashMap<(u8, u64), Rc<TileNodes>>>,
    edges: RefCell<HashMap<(u64, u64), Hash>>,
}

impl<'r> TiledTree<'r> {
    /// A tree of `size` leaves over `reader`.
    pub fn new(reader: &'r dyn TileReader, size: u64, exact: Exactness) -> Self {
        TiledTree { reader, size, exact, tiles: RefCell::default(), edges: RefCell::default() }
    }

    /// The tree size.
    pub fn size(&self) -> u64 {
        self.size
    }

    fn read_hash_tile(&self, id: &TileId) -> Result<Vec<u8>, TlogError> {
        let path = id.path();
        let bytes = self
            .reader
            .read_tile(id)
            .map_err(|detail| TlogError::TileRead { path: path.clone(), detail })?
            .ok_or_else(|| TlogError::TileMissing { path: path.clone(), size: self.size })?;
        let want = usize::from(id.width) * 32;
        let ok = match self.exact {
            Exactness::Exact => bytes.len() == want,
            Exactness::Prefix => bytes.len() >= want && bytes.len() % 32 == 0 && bytes.len() <= TILE_WIDTH as usize * 32,
        };
        if !ok {
            return Err(TlogError::TileSize { path, expected: want, actual: bytes.len() });
        }
        Ok(bytes[..want].to_vec())
    }

    fn tile(&self, level: u8, index: u64) -> Result<Rc<TileNodes>, TlogError> {
        if let Some(t) = self.tiles.borrow().get(&(level, index)) {
            return Ok(t.clone());
        }
        let id = tile_for(level, index, self.size).ok_or_else(|| TlogError::TilePath {
            path: format!("tile/{level}/{}", index_path(index)),
            detail: format!("no such tile in a tree of size {}", self.size),
        })?;
        let t = Rc::new(TileNodes::build(hashes_of(&self.read_hash_tile(&id)?)));
        self.tiles.borrow_mut().insert((level, index), t.clone());
        Ok(t)
    }

    /// Hash of the complete subtree of height `height` (2^height leaves) number `index`.
    pub fn node(&self, height: u32, index: u64) -> Result<Hash, TlogError> {
        let (level, h) = ((height / TILE_HEIGHT) as u8, height % TILE_HEIGHT);
        let pos = index << h;
        let t = self.tile(level, pos / TILE_WIDTH)?;
        let j = ((pos % TILE_WIDTH) >> h) as usize;
        t.heights.get(h as usize).and_then(|r| r.get(j)).copied().ok_or_else(|| TlogError::TilePath {
            path: format!("tile/{level}/{}", index_path(pos / TILE_WIDTH)),
            detail: format!("node at height {height} index {index} lies outside the tree of size {}", self.size),
        })
    }

    /// MTH(D[lo:hi]), 0 <= lo < hi <= size.
    pub fn range_hash(&self, lo: u64, hi: u64) -> Result<Hash, TlogError> {
        let n = hi - lo;
        if n.is_power_of_two() && lo.is_multiple_of(n) {
            return self.node(n.trailing_zeros(), lo / n);
        }
        if let Some(h) = self.edges.borrow().get(&(lo, hi)) {
            return Ok(*h);
        }
        let k = 1u64 << (63 - (n - 1).leading_zeros());
        let h = merkle::node_hash(&self.range_hash(lo, lo + k)?, &self.range_hash(lo + k, hi)?);
        self.edges.borrow_mut().insert((lo, hi), h);
        Ok(h)
    }

    /// The root hash (SHA-256 of nothing for size 0).
    pub fn root(&self) -> Result<Hash, TlogError> {
        if self.size == 0 { Ok(merkle::empty_root()) } else { self.range_hash(0, self.size) }
    }

    /// The leaf hash of entry `index`.
    pub fn leaf_hash(&self, index: u64) -> Result<Hash, TlogError> {
        self.node(0, index)
    }

    /// Inclusion proof of entry `index` (< size).
    pub fn inclusion_proof(&self, index: u64) -> Result<Vec<Hash>, TlogError> {
        if index >= self.size {
            return Err(TlogError::Inclusion {
                origin: String::new(),
                index,
                size: self.size,
                detail: "index is not below the tree size".into(),
            });
        }
        merkle::inclusion_proof_with(self.size, index, &mut |lo, hi| self.range_hash(lo, hi))
    }

    /// Consistency proof from size `m` (0 < m <= size) to this tree.
    pub fn consistency_proof(&self, m: u64) -> Result<Vec<Hash>, TlogError> {
        assert!(m > 0 && m <= self.size, "0 < m <= size");
        merkle::consistency_proof_with(m, self.size, &mut |lo, hi| self.range_hash(lo, hi))
    }

    /// Entry `index` from its entry bundle, checked against the level-0 tile. `None` when the
    /// bundle is absent.
    pub fn entry(&self, index: u64) -> Result<Option<Vec<u8>>, TlogError> {
        let id = tile_for(0, index / TILE_WIDTH, self.size).filter(|_| index < self.size).ok_or_else(|| TlogError::Inclusion {
            origin: String::new(),
            index,
            size: self.size,
            detail: "index is not below the tree size".into(),
        })?;
        let path = id.entries_path();
        let Some(bytes) = self.reader.read_entries(&id).map_err(|detail| TlogError::TileRead { path: path.clone(), detail })? else {
            return Ok(None);
        };
        let entries = parse_entry_bundle(&bytes, usize::from(id.width), self.exact)
            .map_err(|detail| TlogError::EntryBundle { path: path.clone(), detail })?;
        let e = entries[(index % TILE_WIDTH) as usize];
        let (want, got) = (self.leaf_hash(index)?, merkle::leaf_hash(e));
        if want != got {
            return Err(TlogError::EntryHash { path, index, expected: hex::encode(want), actual: hex::encode(got) });
        }
        Ok(Some(e.to_vec()))
    }
}

/// What [`verify_tree`] checked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TreeSummary {
    /// Hash tiles verified.
    pub tiles: u64,
    /// Entry bundles verified.
    pub entry_bundles: u64,
    /// Level-0 tiles whose entry bundle was absent from the source.
    pub entry_bundles_missing: u64,
}

/// Receives each verified tile or bundle (`Err`: the shell could not store it).
pub type TileSink<'a> = dyn FnMut(TileKind, &TileId, &[u8]) -> Result<(), String> + 'a;

/// Verifies every tile a tree of `checkpoint.size` needs, and every entry bundle present,
/// against the checkpoint's root, handing each to `sink` only after it was verified:
/// the root is recomputed from the right-edge tiles; then, top level first, each full tile's
/// hash must equal its record in the (already verified) tile above; each entry must hash to
/// its level-0 record. Tiles must have exactly their expected width.
pub fn verify_tree(reader: &dyn TileReader, checkpoint: &Checkpoint, sink: &mut TileSink<'_>) -> Result<TreeSummary, TlogError> {
    let size = checkpoint.size;
    let tree = TiledTree::new(reader, size, Exactness::Exact);
    let root = tree.root()?;
    if root != checkpoint.root {
        return Err(TlogError::RootMismatch {
            origin: checkpoint.origin.clone(),
            size,
            expected: b64(&checkpoint.root),
            computed: b64(&root),
        });
    }
    let mut sum = TreeSummary::default();
    let store = |sink: &mut TileSink<'_>, kind: TileKind, id: &TileId, bytes: &[u8]| {
        sink(kind, id, bytes).map_err(|detail| TlogError::TileRead { path: id.path_of(kind), detail: format!("cannot store: {detail}") })
    };
    let levels: Vec<u8> = (0u8..=63).take_while(|l| row_len(*l, size) > 0).collect();
    for &level in levels.iter().rev() {
        let row = row_len(level, size);
        for n in 0..row.div_ceil(TILE_WIDTH) {
            let id = tile_for(level, n, size).expect("within the row");
            let bytes = if id.is_full() {
                // Level-0 tiles are many: read them once, outside the memo.
                let bytes = if level == 0 {
                    tree.read_hash_tile(&id)?
                } else {
                    tree.tile(level, n)?.heights[0].iter().flatten().copied().collect()
                };
                let want = tree.node(TILE_HEIGHT * (u32::from(level) + 1), n)?;
                let got = full_tile_hash(&bytes);
                if want != got {
                    return Err(TlogError::TileHash { path: id.path(), expected: hex::encode(want), actual: hex::encode(got) });
                }
                bytes
            } else {
                // The partial tile entered the root computation.
                tree.tile(level, n)?.heights[0].iter().flatten().copied().collect()
            };
            if level == 0 {
                check_entries(reader, &id, &bytes, &mut sum, sink)?;
            }
            store(sink, TileKind::Hashes, &id, &bytes)?;
            sum.tiles += 1;
        }
    }
    Ok(sum)
}

fn check_entries(
    reader: &dyn TileReader,
    id: &TileId,
    tile: &[u8],
    sum: &mut TreeSummary,
    sink: &mut TileSink<'_>,
) -> Result<(), TlogError> {
    let path = id.entries_path();
    let Some(bytes) = reader.read_entries(id).map_err(|detail| TlogError::TileRead { path: path.clone(), detail })? else {
        sum.entry_bundles_missing += 1;
        return Ok(());
    };
    let entries = parse_entry_bundle(&bytes, usize::from(id.width), Exactness::Exact)
        .map_err(|detail| TlogError::EntryBundle { path: path.clone(), detail })?;
    for (j, e) in entries.iter().enumerate() {
        let got = merkle::leaf_hash(e);
        if got[..] != tile[j * 32..j * 32 + 32] {
            return Err(TlogError::EntryHash {
                path,
                index: id.index * TILE_WIDTH + j as u64,
                expected: hex::encode(&tile[j * 32..j * 32 + 32]),
                actual: hex::encode(got),
            });
        }
    }
    sink(TileKind::Entries, id, &bytes).map_err(|detail| TlogError::TileRead { path, detail: format!("cannot store: {detail}") })?;
    sum.entry_bundles += 1;
    Ok(())
}

/// Checks that two authentic checkpoints of one log can both be true. The consistency proof is
/// computed from `larger_tiles`, the tiles of the larger tree. Data that does not lead to the
/// larger root is a tile error; a proof that leads to the larger root but not to the smaller
/// one, or equal sizes with different roots, is a [`TlogError::Fork`].
pub fn check_consistency(a: &Checkpoint, b: &Checkpoint, larger_tiles: &dyn TileReader) -> Result<(), TlogError> {
    let (small, big) = if a.size <= b.size { (a, b) } else { (b, a) };
    let fork = |detail: String| TlogError::Fork {
        origin: big.origin.clone(),
        old_size: small.size,
        old_root: b64(&small.root),
        new_size: big.size,
        new_root: b64(&big.root),
        detail,
    };
    if small.size == 0 {
        return if small.root == merkle::empty_root() { Ok(()) } else { Err(fork("a tree of size 0 has the empty root".into())) };
    }
    if small.size == big.size {
        return if small.root == big.root { Ok(()) } else { Err(fork("same size, different roots".into())) };
    }
    let tree = TiledTree::new(larger_tiles, big.size, Exactness::Prefix);
    let proof = tree.consistency_proof(small.size)?;
    let (first, second) =
        merkle::consistency_roots(small.size, big.size, &proof, &small.root).map_err(|e| fork(format!("consistency proof: {e}")))?;
    if second != big.root {
        return Err(TlogError::RootMismatch {
            origin: big.origin.clone(),
            size: big.size,
            expected: b64(&big.root),
            computed: b64(&second),
        });
    }
    if first != small.root {
        return Err(fork(format!("the larger tree's first {} leaves have root {}", small.size, b64(&first))));
    }
    Ok(())
}

/// Builds every hash tile and entry bundle of the tree over `entries` (a log writer for tests,
/// fixtures and the benchmark; airlock never runs a log). Returned in [`tiles_of`] order, each
/// hash tile followed by nothing, entry bundles after all hash tiles.
pub fn build_tiles<E: AsRef<[u8]>>(entries: &[E]) -> Vec<(TileKind, TileId, Vec<u8>)> {
    let size = entries.len() as u64;
    let mut out = Vec::new();
    let mut row: Vec<Hash> = entries.iter().map(|e| merkle::leaf_hash(e.as_ref())).collect();
    let mut level = 0u8;
    while !row.is_empty() {
        let mut next = Vec::with_capacity(row.len() / 256);
        for (n, chunk) in row.chunks(TILE_WIDTH as usize).enumerate() {
            let id = TileId { level, index: n as u64, width: chunk.len() as u16 };
            out.push((TileKind::Hashes, id, chunk.iter().flatten().copied().collect()));
            if chunk.len() == TILE_WIDTH as usize {
                next.push(merkle::root(chunk));
            }
        }
        row = next;
        level += 1;
    }
    for (n, chunk) in entries.chunks(TILE_WIDTH as usize).enumerate() {
        let id = TileId { level: 0, index: n as u64, width: chunk.len() as u16 };
        out.push((TileKind::Entries, id, entry_bundle(chunk)));
    }
    debug_assert_eq!(out.iter().filter(|t| t.0 == TileKind::Hashes).count(), tiles_of(size).len());
    out
}

/// An in-memory [`TileReader`] keyed by path (tests, the benchmark, proofs carried in memory).
#[derive(Default, Clone, Debug)]
pub struct MemTiles(pub HashMap<String, Vec<u8>>);

impl MemTiles {
    /// From [`build_tiles`] output.
    pub fn from_built(tiles: Vec<(TileKind, TileId, Vec<u8>)>) -> Self {
        MemTiles(tiles.into_iter().map(|(k, id, b)| (id.path_of(k), b)).collect())
    }
}

impl TileReader for MemTiles {
    fn read_tile(&self, id: &TileId) -> Result<Option<Vec<u8>>, String> {
        Ok(self.0.get(&id.path()).or_else(|| self.0.get(&id.full().path())).cloned())
    }
    fn read_entries(&self, id: &TileId) -> Result<Option<Vec<u8>>, String> {
        Ok(self.0.get(&id.entries_path()).or_else(|| self.0.get(&id.full().entries_path())).cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(index_path(1_234_067), "x001/x234/067");
        assert_eq!(index_path(5), "005");
        assert_eq!(index_path(1000), "x001/000");
        let id = TileId { level: 1, index: 1_234_067, width: 7 };
        assert_eq!(id.path(), "tile/1/x001/x234/067.p/7");
        assert_eq!(TileId::parse(&id.path()).unwrap(), (TileKind::Hashes, id));
        assert_eq!(TileId::parse("tile/entries/x001/000").unwrap().1, TileId { level: 0, index: 1000, width: 256 });
        for bad in [
            "tile/01/000",
            "tile/0/00",
            "tile/0/1234",
            "tile/0/001/002",
            "tile/0/x000/001",
            "tile/0/000.p/0",
            "tile/0/000.p/256",
            "tile/64/000",
            "x/0/000",
            "tile/0/000.p/07",
        ] {
            assert_eq!(TileId::parse(bad).unwrap_err().rule(), "tile.path", "{bad}");
        }
    }

    #[test]
    fn geometry_matches_the_spec_example() {
        // "a tree of size 70,000 will be represented by 273 full level 0 tiles, one partial level 0
        // tile of width 112, one full level 1 tile, one partial level 1 tile of width 17, and one
        // partial level 2 tile of width 1."
        let t = tiles_of(70_000);
        let count = |l: u8, full: bool| t.iter().filter(|x| x.level == l && x.is_full() == full).count();
        assert_eq!((count(0, true), count(0, false), count(1, true), count(1, false), count(2, false)), (273, 1, 1, 1, 1));
        assert_eq!(t.iter().find(|x| x.level == 1 && !x.is_full()).unwrap().width, 17);
        assert_eq!(tiles_of(256).len(), 2);
        assert!(tiles_of(0).is_empty());
    }

    fn entries(n: usize) -> Vec<Vec<u8>> {
        (0..n).map(|i| format!("entry {i}").into_bytes()).collect()
    }

    #[test]
    fn proofs_from_tiles_match_proofs_from_leaves() {
        for n in [1usize, 2, 3, 255, 256, 257, 511, 512, 600, 65_536 + 300] {
            let es = entries(n);
            let leaves: Vec<Hash> = es.iter().map(|e| merkle::leaf_hash(e)).collect();
            let mem = MemTiles::from_built(build_tiles(&es));
            let tree = TiledTree::new(&mem, n as u64, Exactness::Exact);
            assert_eq!(tree.root().unwrap(), merkle::root(&leaves), "root {n}");
            for m in [0, 1, n / 2, n.saturating_sub(2), n - 1].into_iter().filter(|m| *m < n) {
                assert_eq!(tree.inclusion_proof(m as u64).unwrap(), merkle::inclusion_proof(&leaves, m));
                assert_eq!(tree.entry(m as u64).unwrap().unwrap(), es[m]);
                if m > 0 {
                    assert_eq!(tree.consistency_proof(m as u64).unwrap(), merkle::consistency_proof(&leaves, m));
                }
            }
            let cp = Checkpoint { origin: "o".into(), size: n as u64, root: merkle::root(&leaves), extensions: vec![] };
            let mut stored = 0;
            let s = verify_tree(&mem, &cp, &mut |_, _, _| {
                stored += 1;
                Ok(())
            })
            .unwrap();
            assert_eq!(s.tiles as usize + s.entry_bundles as usize, stored);
            assert_eq!(s.tiles as usize, tiles_of(n as u64).len());
        }
    }

    #[test]
    fn tampered_full_tile_found_and_fork_detected() {
        let es = entries(700);
        let built = build_tiles(&es);
        let leaves: Vec<Hash> = es.iter().map(|e| merkle::leaf_hash(e)).collect();
        let cp = Checkpoint { origin: "o".into(), size: 700, root: merkle::root(&leaves), extensions: vec![] };
        let mut mem = MemTiles::from_built(built.clone());
        mem.0.get_mut("tile/0/000").unwrap()[100] ^= 1;
        let e = verify_tree(&mem, &cp, &mut |_, _, _| Ok(())).unwrap_err();
        assert_eq!(e.rule(), "tile.hash-mismatch");
        let mut mem = MemTiles::from_built(built.clone());
        mem.0.get_mut("tile/entries/001").unwrap()[5] ^= 1;
        assert_eq!(verify_tree(&mem, &cp, &mut |_, _, _| Ok(())).unwrap_err().rule(), "entries.hash-mismatch");
        // Consistency: a prefix is consistent; a different history is a fork.
        let mem = MemTiles::from_built(built);
        let small = Checkpoint { size: 300, root: merkle::root(&leaves[..300]), ..cp.clone() };
        check_consistency(&small, &cp, &mem).unwrap();
        let mut other = es[..300].to_vec();
        other[7] = b"forged".to_vec();
        let forged_leaves: Vec<Hash> = other.iter().map(|e| merkle::leaf_hash(e)).collect();
        let forged = Checkpoint { root: merkle::root(&forged_leaves), ..small.clone() };
        assert_eq!(check_consistency(&forged, &cp, &mem).unwrap_err().rule(), "tlog.fork");
        assert_eq!(check_consistency(&forged, &small, &mem).unwrap_err().rule(), "tlog.fork");
    }
}
