//! First come, first served admission to the connection pool. r2d2 hands a returned
//! connection to whichever waiting thread takes its lock first, so with more requests
//! than connections a waiter can lose to newcomers again and again: the benchmark's
//! PostgreSQL rows (32 requests at once on 4 connections) had a p50 of 3 ms and a p99
//! of seconds. Here requests wait in a queue, in the order they came, for one of as
//! many places as the pool has connections.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::{StoreError, StoreResult};

struct Queue {
    /// Places free now.
    free: usize,
    /// Waiting requests, by number, in arrival order.
    waiting: VecDeque<u64>,
    next: u64,
}

pub(crate) struct Admission {
    queue: Mutex<Queue>,
    turn: Condvar,
}

/// A place: given back when dropped.
pub(crate) struct Place<'a> {
    admission: &'a Admission,
}

impl Admission {
    pub(crate) fn new(places: usize) -> Admission {
        Admission {
            queue: Mutex::new(Queue { free: places.max(1), waiting: VecDeque::new(), next: 0 }),
            turn: Condvar::new(),
        }
    }

    fn lock(&self) -> StoreResult<MutexGuard<'_, Queue>> {
        self.queue.lock().map_err(|_| StoreError::Unavailable("the connection queue is broken".into()))
    }

    /// Waits for a place, at most `timeout`.
    pub(crate) fn enter(&self, timeout: Duration) -> StoreResult<Place<'_>> {
        let deadline = Instant::now() + timeout;
        let mut queue = self.lock()?;
        let me = queue.next;
        queue.next += 1;
        queue.waiting.push_back(me);
        loop {
            if queue.free > 0 && queue.waiting.front() == Some(&me) {
                queue.waiting.pop_front();
                queue.free -= 1;
                // The next in line may have a place too.
                self.turn.notify_all();
                return Ok(Place { admission: self });
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                queue.waiting.retain(|w| *w != me);
                self.turn.notify_all();
                return Err(StoreError::Unavailable("timed out waiting for a database connection".into()));
            }
            queue = self
                .turn
                .wait_timeout(queue, left)
                .map_err(|_| StoreError::Unavailable("the connection queue is broken".into()))?
                .0;
        }
    }
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        if let Ok(mut queue) = self.admission.queue.lock() {
            queue.free += 1;
        }
        self.admission.turn.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn no_more_than_the_places_are_in_at_once_and_everyone_gets_in() {
        let admission = Arc::new(Admission::new(3));
        let inside = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..24)
            .map(|_| {
                let (admission, inside, most) = (admission.clone(), inside.clone(), most.clone());
                std::thread::spawn(move || {
                    let _place = admission.enter(Duration::from_secs(10)).unwrap();
                    let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(2));
                    inside.fetch_sub(1, Ordering::SeqCst);
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        assert!(most.load(Ordering::SeqCst) <= 3);
    }

    #[test]
    fn places_go_in_arrival_order_and_a_timed_out_waiter_leaves_the_queue() {
        let admission = Arc::new(Admission::new(1));
        let held = admission.enter(Duration::from_secs(1)).unwrap();
        // One waiter gives up; the queue does not wait for it afterwards.
        assert!(matches!(admission.enter(Duration::from_millis(20)), Err(StoreError::Unavailable(_))));
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut threads = Vec::new();
        for n in 0..5 {
            let (waiter, order) = (admission.clone(), order.clone());
            threads.push(std::thread::spawn(move || {
                let _place = waiter.enter(Duration::from_secs(10)).unwrap();
                order.lock().unwrap().push(n);
            }));
            // Each in the queue before the next arrives.
            while admission.queue.lock().unwrap().waiting.len() < n + 1 {
                std::thread::yield_now();
            }
        }
        drop(held);
        for thread in threads {
            thread.join().unwrap();
        }
        assert_eq!(*order.lock().unwrap(), [0, 1, 2, 3, 4]);
    }
}
