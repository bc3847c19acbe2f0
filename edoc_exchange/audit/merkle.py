"""RFC 6962 / RFC 9162 Merkle tree hashing: tree heads and inclusion proofs.

Leaves are hashed as SHA-256(0x00 || data) and interior nodes as SHA-256(0x01 || left ||
right), so a leaf can never be passed off as a node. The tree over n leaves splits at the
largest power of two below n, exactly as Certificate Transparency does, so proofs can be
checked by any RFC 9162 verifier.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

__all__ = [
    "EMPTY_ROOT",
    "MerkleAccumulator",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "root_from_inclusion_proof",
    "tree_root",
]

EMPTY_ROOT = hashlib.sha256(b"").digest()
_NODE_PREFIX = hashlib.sha256(b"\x01")  # copied, never updated


def leaf_hash(data: bytes) -> bytes:
    """MTH({d}) = SHA-256(0x00 || d)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


class MerkleAccumulator:
    """The RFC 6962 root of the leaves appended so far, kept as the tree's right edge.

    The state is the *frontier*: one hash per complete subtree, sizes strictly decreasing
    (the set bits of ``size``), so at most log2(n) hashes. Saved with a checkpoint, it lets
    the next checkpoint fold only the entries added since, instead of the whole log.

    The subtree sizes are not stored: they are the set bits of ``size``, so appending leaf
    number n merges one subtree per trailing one bit of n (a binary counter's carry).
    """

    __slots__ = ("_stack", "size")

    def __init__(self) -> None:
        self._stack: list[bytes] = []
        self.size = 0

    @classmethod
    def from_frontier(cls, size: int, frontier: Sequence[bytes]) -> MerkleAccumulator:
        """Resume from a saved frontier; ValueError when it cannot belong to ``size`` leaves."""
        if size < 0 or size.bit_count() != len(frontier) or any(len(h) != 32 for h in frontier):
            raise ValueError(f"a frontier of {len(frontier)} hashes does not fit {size} leaves")
        acc = cls()
        acc._stack = list(frontier)
        acc.size = size
        return acc

    def append(self, leaf: bytes) -> None:
        """Add one leaf hash (already hashed with :func:`leaf_hash`)."""
        self.extend((leaf,))

    def extend(self, leaves: Iterable[bytes]) -> None:
        """Add leaf hashes in order: the verifier's inner loop, so kept to the bone."""
        stack = self._stack
        push, pop, node = stack.append, stack.pop, _NODE_PREFIX.copy
        n = self.size
        for leaf in leaves:
            digest, carry = leaf, n
            while carry & 1:
                hashing = node()
                hashing.update(pop())
                hashing.update(digest)
                digest = hashing.digest()
                carry >>= 1
            push(digest)
            n += 1
        self.size = n

    def frontier(self) -> list[bytes]:
        """The right-edge subtree hashes, largest subtree first."""
        return list(self._stack)

    def root(self) -> bytes:
        """MTH of everything appended: the subtrees folded right to left (the RFC's split)."""
        if not self._stack:
            return EMPTY_ROOT
        digest = self._stack[-1]
        for left in reversed(self._stack[:-1]):
            digest = node_hash(left, digest)
        return digest


def tree_root(leaves: Iterable[bytes]) -> bytes:
    """The Merkle tree head of leaf hashes given in order, in O(n) time and O(log n) memory."""
    acc = MerkleAccumulator()
    for leaf in leaves:
        acc.append(leaf)
    return acc.root()


def _largest_power_of_two_below(n: int) -> int:
    k = 1
    while k << 1 < n:
        k <<= 1
    return k


def inclusion_proof(index: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n]) of RFC 6962 section 2.1.1 for leaf ``index`` among ``leaves``."""
    n = len(leaves)
    if not 0 <= index < n:
        raise IndexError(f"leaf {index} is not in a tree of size {n}")
    if n == 1:
        return []
    k = _largest_power_of_two_below(n)
    if index < k:
        return [*inclusion_proof(index, leaves[:k]), tree_root(leaves[k:])]
    return [*inclusion_proof(index - k, leaves[k:]), tree_root(leaves[:k])]


def root_from_inclusion_proof(
    index: int, tree_size: int, leaf: bytes, proof: Sequence[bytes]
) -> bytes:
    """The root an inclusion proof leads to (RFC 9162 section 2.1.3.2); compare it yourself.

    Raises ValueError when the proof has the wrong length for the index and size.
    """
    if not 0 <= index < tree_size:
        raise ValueError(f"leaf {index} is not in a tree of size {tree_size}")
    fn, sn = index, tree_size - 1
    digest = leaf
    for sibling in proof:
        if sn == 0:
            raise ValueError("inclusion proof is too long")
        if fn & 1 or fn == sn:
            digest = node_hash(sibling, digest)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            digest = node_hash(digest, sibling)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ValueError("inclusion proof is too short")
    return digest
