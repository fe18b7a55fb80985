//! What identifies a batch, and an insert made of batches.
//!
//! - A client's [`Scope`]: the API key it presented (as a hash, never the
//!   key), or "anonymous" when the collector has no keys. Retries are
//!   recognised within one scope only, so no client can answer or hide
//!   another client's batch by reusing its id.
//! - A batch's [`Digest`]: a 128-bit hash (XXH3) of its scope and every
//!   byte of the encoded batch. A retry must carry the same bytes; the same
//!   id with other content is refused, never answered as stored.
//! - An insert's token ([`insert_token`]): the digests and receive times of
//!   every batch in it, in order. The rows of an insert are a function of
//!   exactly these (ids made up for events without one are derived from
//!   the digest too), so two inserts share a token only if they hold the
//!   same rows.
//!
//! - A batch inserted alone ([`alone_token`]): a batch that may already
//!   have been stored by another collector (a retry this collector does
//!   not know, or a batch replayed from the write-ahead log after a
//!   restart) is inserted on its own, with a token naming only its digest.
//!   Whichever collectors insert it, and in whatever order, ClickHouse
//!   stores it once: the token is the same, though the receive times (and
//!   ids made up from them) differ.
//!
//! XXH3 is not a cryptographic hash: a client could make two of its own
//! batches collide, which harms only that client's retries. It cannot aim
//! at another client's batch without knowing its exact bytes and receive
//! time in advance. XXH3 hashes at about 10 GB/s here, a few percent of the
//! cost of decoding the same batch.

use std::fmt;

use xxhash_rust::xxh3::{xxh3_128_with_seed, Xxh3};

/// Who sent a batch: a hash of the API key it presented, or
/// [`Scope::ANONYMOUS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Scope(u64);

impl Scope {
    /// Clients of a collector without API keys.
    pub const ANONYMOUS: Scope = Scope(0);

    /// The scope as a number (for the write-ahead log).
    pub fn as_u64(self) -> u64 {
        self.0
    }

    /// The scope written as [`Scope::as_u64`].
    pub fn from_u64(scope: u64) -> Scope {
        Scope(scope)
    }

    /// The scope of clients presenting `api_key`.
    pub fn of_api_key(api_key: &str) -> Scope {
        let hash = xxh3_128_with_seed(api_key.as_bytes(), 0x5c09e) as u64;
        // Never the anonymous scope.
        Scope(hash.max(1))
    }
}

/// A batch id within its client's scope: what retries are recognised by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BatchKey {
    pub scope: Scope,
    pub batch_id: [u8; 16],
}

/// A hash of a batch's scope and every byte of it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Digest(pub [u8; 16]);

impl Digest {
    /// The digest of `encoded` sent by a client of `scope`.
    pub fn of(scope: Scope, encoded: &[u8]) -> Digest {
        Digest(xxh3_128_with_seed(encoded, scope.0).to_le_bytes())
    }

    /// The digest of the concatenation of `pieces`: the same as [`Digest::of`]
    /// over the joined bytes.
    pub fn of_parts<'a>(scope: Scope, pieces: impl IntoIterator<Item = &'a [u8]>) -> Digest {
        let mut hasher = Xxh3::with_seed(scope.0);
        for piece in pieces {
            hasher.update(piece);
        }
        Digest(hasher.digest128().to_le_bytes())
    }

    /// As a ClickHouse `UInt128` (the `batch_digest` column).
    pub fn as_u128(&self) -> u128 {
        u128::from_le_bytes(self.0)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({:032x})", u128::from_le_bytes(self.0))
    }
}

/// One batch's part of an insert: its digest, when it was received, and
/// how many rows it gave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Part {
    pub digest: Digest,
    pub received_ns: i64,
    pub rows: usize,
}

/// The deduplication token of an insert of `parts`, in order: 32 hex
/// digits.
pub fn insert_token<'a>(parts: impl IntoIterator<Item = &'a Part>) -> String {
    let mut hasher = Xxh3::new();
    let mut count = 0u64;
    for part in parts {
        hasher.update(&part.digest.0);
        hasher.update(&part.received_ns.to_le_bytes());
        hasher.update(&(part.rows as u64).to_le_bytes());
        count += 1;
    }
    hasher.update(&count.to_le_bytes());
    format!("{:032x}", hasher.digest128())
}

/// The deduplication token of an insert of the one batch `digest`, by any
/// collector: 33 characters, never equal to an [`insert_token`].
pub fn alone_token(digest: &Digest) -> String {
    format!("b{:032x}", digest.as_u128())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_digest_covers_every_byte_and_the_scope() {
        let a = Digest::of(Scope::ANONYMOUS, b"batch bytes");
        assert_eq!(a, Digest::of(Scope::ANONYMOUS, b"batch bytes"));
        assert_ne!(a, Digest::of(Scope::ANONYMOUS, b"batch bytez"));
        assert_ne!(a, Digest::of(Scope::of_api_key("k1"), b"batch bytes"));
        assert_ne!(
            Digest::of(Scope::of_api_key("k1"), b"x"),
            Digest::of(Scope::of_api_key("k2"), b"x")
        );
    }

    #[test]
    fn a_digest_of_pieces_is_the_digest_of_the_joined_bytes() {
        let scope = Scope::of_api_key("k");
        let bytes: Vec<u8> = (0..5000u32).map(|i| (i * 7) as u8).collect();
        for cut in [0, 1, 17, 240, 4999, 5000] {
            let (a, b) = bytes.split_at(cut);
            assert_eq!(Digest::of_parts(scope, [a, b]), Digest::of(scope, &bytes));
        }
    }

    #[test]
    fn an_insert_token_names_every_part_in_order() {
        let part = |n: u8, received_ns| Part {
            digest: Digest([n; 16]),
            received_ns,
            rows: 3,
        };
        let token = insert_token(&[part(1, 10), part(2, 10)]);
        assert_eq!(token.len(), 32);
        assert_eq!(token, insert_token(&[part(1, 10), part(2, 10)]));
        assert_ne!(token, insert_token(&[part(2, 10), part(1, 10)]));
        assert_ne!(token, insert_token(&[part(1, 10), part(2, 11)]));
        assert_ne!(token, insert_token(&[part(1, 10)]));
    }
}
