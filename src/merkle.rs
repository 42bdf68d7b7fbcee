//! RFC 6962 / RFC 9162 Merkle trees: leaf and node hashing, tree heads, and inclusion and
//! consistency proofs (generation from leaf hashes, verification per RFC 9162 §2.1.3.2 and
//! §2.1.4.2). Shared by the bundle manifest (one leaf per member) and the transparency log code.

use sha2::{Digest as _, Sha256};

/// A 32-byte tree hash.
pub type Hash = [u8; 32];

/// Errors verifying proofs.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProofError {
    /// Index not below the tree size.
    #[error("leaf index {index} is not below tree size {size}")]
    IndexOutOfRange {
        /// Leaf index.
        index: u64,
        /// Tree size.
        size: u64,
    },
    /// Proof has the wrong number of hashes.
    #[error("proof has {got} hashes; {want} expected for this index and size")]
    WrongLength {
        /// Received.
        got: usize,
        /// Expected.
        want: usize,
    },
    /// Consistency from an empty tree or to a smaller tree.
    #[error("consistency from size {old} to size {new} is not defined (need 0 < old <= new)")]
    BadSizes {
        /// Old size.
        old: u64,
        /// New size.
        new: u64,
    },
    /// The proof leads to a different root.
    #[error("proof leads to root {computed}, expected {expected}")]
    RootMismatch {
        /// Hex of the computed root.
        computed: String,
        /// Hex of the expected root.
        expected: String,
    },
}

/// `SHA-256(0x00 || leaf)`.
pub fn leaf_hash(leaf: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(leaf);
    h.finalize().into()
}

/// `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// Hash of the empty tree: `SHA-256("")`.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// Largest power of two strictly less than `n` (n >= 2).
fn split(n: usize) -> usize {
    debug_assert!(n >= 2);
    1 << (usize::BITS - 1 - (n - 1).leading_zeros())
}

/// MTH over leaf hashes.
pub fn root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split(n);
            node_hash(&root(&leaves[..k]), &root(&leaves[k..]))
        }
    }
}

/// PATH(m, D[n]): inclusion proof for leaf `m`.
pub fn inclusion_proof(leaves: &[Hash], m: usize) -> Vec<Hash> {
    assert!(m < leaves.len(), "leaf index within tree");
    let mut out = Vec::new();
    fn path(leaves: &[Hash], m: usize, out: &mut Vec<Hash>) {
        let n = leaves.len();
        if n <= 1 {
            return;
        }
        let k = split(n);
        if m < k {
            path(&leaves[..k], m, out);
            out.push(root(&leaves[k..]));
        } else {
            path(&leaves[k..], m - k, out);
            out.push(root(&leaves[..k]));
        }
    }
    path(leaves, m, &mut out);
    out
}

/// PROOF(m, D[n]): consistency proof from size `m` to `leaves.len()`, 0 < m <= n.
pub fn consistency_proof(leaves: &[Hash], m: usize) -> Vec<Hash> {
    assert!(m > 0 && m <= leaves.len(), "consistency sizes in range");
    fn subproof(leaves: &[Hash], m: usize, complete: bool, out: &mut Vec<Hash>) {
        let n = leaves.len();
        if m == n {
            if !complete {
                out.push(root(leaves));
            }
            return;
        }
        let k = split(n);
        if m <= k {
            subproof(&leaves[..k], m, complete, out);
            out.push(root(&leaves[k..]));
        } else {
            subproof(&leaves[k..], m - k, false, out);
            out.push(root(&leaves[..k]));
        }
    }
    let mut out = Vec::new();
    subproof(leaves, m, true, &mut out);
    out
}

/// PATH(m, D[0:size]) computed from any source of subtree hashes: `range(lo, hi)` must return
/// MTH(D[lo:hi]). Used by the tiled-log code, where hashes come from tiles instead of a leaf list.
/// `index < size` is required.
pub fn inclusion_proof_with<E>(size: u64, index: u64, range: &mut dyn FnMut(u64, u64) -> Result<Hash, E>) -> Result<Vec<Hash>, E> {
    assert!(index < size, "leaf index within tree");
    let mut out = Vec::with_capacity(inclusion_len(index, size));
    let (mut lo, mut hi, m) = (0u64, size, index);
    // Walk down from the root, collecting siblings; RFC 9162 lists them leaf-first.
    while hi - lo > 1 {
        let k = split_u64(hi - lo);
        if m < lo + k {
            out.push(range(lo + k, hi)?);
            hi = lo + k;
        } else {
            out.push(range(lo, lo + k)?);
            lo += k;
        }
    }
    out.reverse();
    Ok(out)
}

/// PROOF(m, D[0:size]) computed from a source of subtree hashes (see [`inclusion_proof_with`]).
/// `0 < m <= size` is required.
pub fn consistency_proof_with<E>(m: u64, size: u64, range: &mut dyn FnMut(u64, u64) -> Result<Hash, E>) -> Result<Vec<Hash>, E> {
    assert!(m > 0 && m <= size, "consistency sizes in range");
    let mut out = Vec::new();
    let (mut lo, mut hi, mut complete) = (0u64, size, true);
    loop {
        let n = hi - lo;
        if m - lo == n {
            if !complete {
                out.push(range(lo, hi)?);
            }
            break;
        }
        let k = split_u64(n);
        if m - lo <= k {
            out.push(range(lo + k, hi)?);
            hi = lo + k;
        } else {
            out.push(range(lo, lo + k)?);
            lo += k;
            complete = false;
        }
    }
    out.reverse();
    Ok(out)
}

/// Largest power of two strictly less than `n` (n >= 2).
fn split_u64(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// RFC 9162 §2.1.3.2: verifies that `leaf` (a leaf hash) is at `index` in the tree of `size`
/// with `root`.
pub fn verify_inclusion(leaf: &Hash, index: u64, size: u64, proof: &[Hash], expected_root: &Hash) -> Result<(), ProofError> {
    let computed = root_from_inclusion(leaf, index, size, proof)?;
    if &computed != expected_root {
        return Err(ProofError::RootMismatch { computed: hex::encode(computed), expected: hex::encode(expected_root) });
    }
    Ok(())
}

/// The root an inclusion proof leads to.
pub fn root_from_inclusion(leaf: &Hash, index: u64, size: u64, proof: &[Hash]) -> Result<Hash, ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let want = inclusion_len(index, size);
    if proof.len() != want {
        return Err(ProofError::WrongLength { got: proof.len(), want });
    }
    let (mut f_n, mut s_n) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s_n == 0 {
            return Err(ProofError::WrongLength { got: proof.len(), want });
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = node_hash(p, &r);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n != 0 {
        return Err(ProofError::WrongLength { got: proof.len(), want });
    }
    Ok(r)
}

/// Number of hashes in an inclusion proof for `index` in a tree of `size` (index < size).
pub fn inclusion_len(index: u64, size: u64) -> usize {
    let inner = 64 - (index ^ (size - 1)).leading_zeros() as usize;
    let border = (index >> inner).count_ones() as usize;
    inner + border
}

/// The two roots a consistency proof leads to, `(root of size1, root of size2)`, for
/// `0 < size1 < size2` (RFC 9162 §2.1.4.2 without the final comparisons). `root1` is needed only
/// when `size1` is a power of two (the proof then omits it). A caller holding hashes it has not
/// verified yet can tell "the proof data is wrong" (second root differs) from "the first tree is
/// not a prefix of the second" (only the first root differs).
pub fn consistency_roots(size1: u64, size2: u64, proof: &[Hash], root1: &Hash) -> Result<(Hash, Hash), ProofError> {
    if size1 == 0 || size1 >= size2 {
        return Err(ProofError::BadSizes { old: size1, new: size2 });
    }
    // Step 2: if size1 is a power of two, prepend root1.
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if size1.is_power_of_two() {
        path.push(*root1);
    }
    path.extend_from_slice(proof);
    if path.is_empty() {
        return Err(ProofError::WrongLength { got: 0, want: 1 });
    }
    let (mut f_n, mut s_n) = (size1 - 1, size2 - 1);
    while f_n & 1 == 1 {
        f_n >>= 1;
        s_n >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if s_n == 0 {
            return Err(ProofError::WrongLength { got: proof.len(), want: proof.len() - 1 });
        }
        if f_n & 1 == 1 || f_n == s_n {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if f_n & 1 == 0 {
                while f_n & 1 == 0 && f_n != 0 {
                    f_n >>= 1;
                    s_n >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    if s_n != 0 {
        return Err(ProofError::WrongLength { got: proof.len(), want: proof.len() + 1 });
    }
    Ok((fr, sr))
}

/// RFC 9162 §2.1.4.2: verifies that the tree (`size1`, `root1`) is a prefix of (`size2`, `root2`).
/// `size1 == 0` is refused (there is nothing to be consistent with); equal sizes need an empty
/// proof and equal roots.
pub fn verify_consistency(size1: u64, size2: u64, proof: &[Hash], root1: &Hash, root2: &Hash) -> Result<(), ProofError> {
    if size1 == 0 || size1 > size2 {
        return Err(ProofError::BadSizes { old: size1, new: size2 });
    }
    if size1 == size2 {
        if !proof.is_empty() {
            return Err(ProofError::WrongLength { got: proof.len(), want: 0 });
        }
        if root1 != root2 {
            return Err(ProofError::RootMismatch { computed: hex::encode(root1), expected: hex::encode(root2) });
        }
        return Ok(());
    }
    let mismatch = |c: &Hash, e: &Hash| ProofError::RootMismatch { computed: hex::encode(c), expected: hex::encode(e) };
    let (fr, sr) = consistency_roots(size1, size2, proof, root1)?;
    if &fr != root1 {
        return Err(mismatch(&fr, root1));
    }
    if &sr != root2 {
        return Err(mismatch(&sr, root2));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: usize) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&(i as u32).to_be_bytes())).collect()
    }

    #[test]
    fn generated_proofs_verify_for_all_small_trees() {
        for n in 1..=33usize {
            let l = leaves(n);
            let r = root(&l);
            for m in 0..n {
                let p = inclusion_proof(&l, m);
                assert_eq!(p.len(), inclusion_len(m as u64, n as u64));
                verify_inclusion(&l[m], m as u64, n as u64, &p, &r).unwrap();
                let mut bad = l[m];
                bad[0] ^= 1;
                assert!(verify_inclusion(&bad, m as u64, n as u64, &p, &r).is_err());
            }
            for m in 1..=n {
                let p = consistency_proof(&l, m);
                verify_consistency(m as u64, n as u64, &p, &root(&l[..m]), &r).unwrap();
                if m < n {
                    let mut other = root(&l[..m]);
                    other[3] ^= 1;
                    assert!(verify_consistency(m as u64, n as u64, &p, &other, &r).is_err());
                }
            }
        }
    }

    #[test]
    fn proofs_from_a_hash_source_equal_proofs_from_leaves() {
        for n in 1..=40usize {
            let l = leaves(n);
            let mut src = |lo: u64, hi: u64| -> Result<Hash, ()> { Ok(root(&l[lo as usize..hi as usize])) };
            for m in 0..n {
                assert_eq!(inclusion_proof_with(n as u64, m as u64, &mut src).unwrap(), inclusion_proof(&l, m), "incl {m} of {n}");
            }
            for m in 1..=n {
                assert_eq!(consistency_proof_with(m as u64, n as u64, &mut src).unwrap(), consistency_proof(&l, m), "cons {m} to {n}");
            }
        }
    }

    #[test]
    fn rfc6962_empty_and_single() {
        assert_eq!(hex::encode(empty_root()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(hex::encode(leaf_hash(b"")), "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
    }
}
