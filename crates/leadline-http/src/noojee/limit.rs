//! Bounded concurrency with a bounded wait, as the vendor's API behaves: a limited number of
//! loads and updates run at once; others wait their turn up to a time limit (1 minute for
//! updates, 10 for inserts, by default) and are then answered 109 without having changed anything.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};

#[derive(Debug, Clone)]
pub struct Limits {
    /// Requests running at once.
    pub concurrency: usize,
    /// Requests waiting at once; beyond this a request is answered 109 straight away.
    pub max_waiting: usize,
    pub update_wait: Duration,
    pub insert_wait: Duration,
    /// Leads in one array.
    pub batch_limit: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            concurrency: 64,
            max_waiting: 10_000,
            update_wait: Duration::from_secs(60),
            insert_wait: Duration::from_secs(600),
            batch_limit: 1000,
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Insert,
    Update,
}

#[derive(Debug)]
pub struct Limiter {
    limits: Limits,
    running: Semaphore,
    waiting: AtomicUsize,
}

impl Limiter {
    pub fn new(limits: Limits) -> Limiter {
        Limiter { running: Semaphore::new(limits.concurrency.max(1)), waiting: AtomicUsize::new(0), limits }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub fn wait(&self, kind: Kind) -> Duration {
        match kind {
            Kind::Insert => self.limits.insert_wait,
            Kind::Update => self.limits.update_wait,
        }
    }

    /// A turn, or None when none came within the wait (or too many are waiting already).
    pub async fn acquire(&self, kind: Kind) -> Option<SemaphorePermit<'_>> {
        if let Ok(permit) = self.running.try_acquire() {
            return Some(permit);
        }
        let place = Waiting::enter(&self.waiting);
        if place.ahead >= self.limits.max_waiting {
            return None;
        }
        // Should the client go away, this future is dropped mid-wait: the guard, not a line
        // after the await, gives the place in the queue back.
        let turn = tokio::time::timeout(self.wait(kind), self.running.acquire()).await;
        match turn {
            Ok(Ok(permit)) => Some(permit),
            _ => None,
        }
    }
}

/// A place among the waiting requests, given back when dropped.
struct Waiting<'a> {
    count: &'a AtomicUsize,
    /// How many were waiting before this one.
    ahead: usize,
}

impl<'a> Waiting<'a> {
    fn enter(count: &'a AtomicUsize) -> Waiting<'a> {
        let ahead = count.fetch_add(1, Ordering::SeqCst);
        Waiting { count, ahead }
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Ordering::SeqCst);
    }
}
