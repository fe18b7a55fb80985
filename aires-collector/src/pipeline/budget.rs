//! The pipeline's memory budget, in bytes.
//!
//! A request is charged twice over its life:
//! - when it is admitted, an upper bound of what it will hold: its encoded
//!   bytes times [`TEXT_FACTOR`] plus [`EVENT_BYTES`] per event (a row and
//!   its share of the batch's lists, whatever the event holds);
//! - once decoded, what its rows and rejections really hold (the encoded
//!   bytes are then dropped); usually far less.
//!
//! The charge is given back when the request's answer has been handed to
//! the connection (a stream's ack included), so answers that a client does
//! not read stay within the budget too. A request whose admission charge
//! exceeds the whole budget is refused: it could never fit.
//!
//! Permits count KiB, so a budget of up to 4 TiB fits a semaphore.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::row::Row;
use crate::rules::Transformed;

/// Decoded bytes per encoded byte, at most. The worst case is text split
/// into many tiny pieces: an empty tag is two bytes on the wire and a
/// `String` (24 bytes) in a vector that may have doubled its capacity.
/// The decoder's tests check this bound on the worst inputs they know.
pub const TEXT_FACTOR: usize = 32;

/// Bytes an event may hold besides its text: its row, its share of the
/// batch's attribute lists and of the list of row parts, and the first
/// room of its tag and cause-chain lists.
pub const EVENT_BYTES: usize = std::mem::size_of::<Row>() + 4 * 16 * 2 + 64 + 2 * 4 * 24;

/// What admitting a request of `encoded` bytes and `events` events is
/// charged.
pub fn admission_bytes(encoded: usize, events: usize) -> usize {
    encoded
        .saturating_mul(TEXT_FACTOR)
        .saturating_add(events.saturating_mul(EVENT_BYTES))
}

/// What the rows and rejections of a decoded request hold.
pub fn decoded_bytes(out: &Transformed) -> usize {
    let rows = out.rows.capacity() * std::mem::size_of::<Row>()
        + out.rows.iter().map(Row::heap_bytes).sum::<usize>();
    let rejections = out.rejections.capacity() * std::mem::size_of::<aires_proto::v1::Rejection>()
        + out
            .rejections
            .iter()
            .map(|r| r.reason.capacity() + r.event_id.len())
            .sum::<usize>();
    rows + rejections + out.shared_bytes
}

/// The budget: a semaphore of KiB.
#[derive(Clone, Debug)]
pub struct ByteBudget {
    kib: Arc<Semaphore>,
    limit: usize,
}

/// Part of the budget, held by one request.
#[derive(Debug)]
pub struct BytesHeld {
    permit: OwnedSemaphorePermit,
    kib: Arc<Semaphore>,
}

impl ByteBudget {
    /// A budget of `limit` bytes (at least 1 KiB).
    pub fn new(limit: usize) -> Self {
        let kib = kib(limit).max(1);
        ByteBudget {
            kib: Arc::new(Semaphore::new(kib as usize)),
            limit: kib as usize * 1024,
        }
    }

    /// The budget in bytes.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Whether `bytes` could ever be held at once.
    pub fn fits(&self, bytes: usize) -> bool {
        bytes <= self.limit
    }

    /// Waits for `bytes` of the budget; `None` once the budget is closed.
    /// Callers check [`ByteBudget::fits`] first.
    pub async fn acquire(&self, bytes: usize) -> Option<BytesHeld> {
        let permit = self
            .kib
            .clone()
            .acquire_many_owned(kib(bytes.min(self.limit)).max(1))
            .await
            .ok()?;
        Some(BytesHeld {
            permit,
            kib: self.kib.clone(),
        })
    }

    /// Bytes held by requests now.
    pub fn in_use(&self) -> usize {
        self.limit - self.kib.available_permits() * 1024
    }
}

impl BytesHeld {
    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.permit.num_permits() * 1024
    }

    /// Holds `bytes` instead: gives back what is no longer needed, or takes
    /// more if the budget has it (an admission charge is an upper bound, so
    /// it should never need more; if it does, it is not waited for).
    pub fn resize(&mut self, bytes: usize) {
        let wanted = kib(bytes).max(1) as usize;
        let held = self.permit.num_permits();
        if wanted < held {
            drop(self.permit.split(held - wanted));
        } else if wanted > held {
            if let Ok(more) = self
                .kib
                .clone()
                .try_acquire_many_owned((wanted - held) as u32)
            {
                self.permit.merge(more);
            }
        }
    }
}

/// `bytes` in KiB, rounded up, saturating at `u32::MAX`.
fn kib(bytes: usize) -> u32 {
    u32::try_from(bytes.div_ceil(1024)).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_held_charge_shrinks_to_what_is_used_and_returns_on_drop() {
        let budget = ByteBudget::new(10 * 1024);
        let mut held = budget.acquire(8 * 1024).await.unwrap();
        assert_eq!(budget.in_use(), 8 * 1024);
        held.resize(1500);
        assert_eq!(held.bytes(), 2048);
        assert_eq!(budget.in_use(), 2048);
        drop(held);
        assert_eq!(budget.in_use(), 0);
    }

    #[tokio::test]
    async fn admission_waits_while_the_budget_is_spent() {
        let budget = ByteBudget::new(4 * 1024);
        let first = budget.acquire(3 * 1024).await.unwrap();
        let waiting = tokio::spawn({
            let budget = budget.clone();
            async move { budget.acquire(2 * 1024).await.map(|held| held.bytes()) }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "2 KiB more does not fit");
        drop(first);
        assert_eq!(waiting.await.unwrap(), Some(2048));
    }

    #[test]
    fn a_request_larger_than_the_budget_never_fits() {
        let budget = ByteBudget::new(1 << 20);
        assert!(budget.fits(admission_bytes(1000, 100)));
        assert!(!budget.fits(admission_bytes(4 << 20, 1_000_000)));
    }
}
