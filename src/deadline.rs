//! A deadline for the current thread's computation, so work whose caller
//! has given up (a server request past its timeout) stops instead of
//! holding a CPU slot. The core checks [`passed`] between units of work
//! (plan candidates); only the server sets a deadline, so the CLI never
//! pays for it beyond a thread-local read.

use std::cell::Cell;
use std::time::Instant;

thread_local! {
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Run `f` with `deadline` set on this thread (restored afterwards, also
/// when `f` panics).
pub fn with_deadline<T>(deadline: Instant, f: impl FnOnce() -> T) -> T {
    struct Restore(Option<Instant>);
    impl Drop for Restore {
        fn drop(&mut self) {
            DEADLINE.with(|d| d.set(self.0));
        }
    }
    let _restore = Restore(DEADLINE.with(|d| d.replace(Some(deadline))));
    f()
}

/// This thread's deadline, if any (to carry it into threads the work
/// spawns: `with_deadline(t, …)` there).
pub fn current() -> Option<Instant> {
    DEADLINE.with(|d| d.get())
}

/// Whether this thread's deadline, if any, has passed.
pub fn passed() -> bool {
    DEADLINE
        .with(|d| d.get())
        .is_some_and(|t| Instant::now() >= t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn set_only_inside_and_restored() {
        assert!(!passed());
        let past = Instant::now() - Duration::from_millis(1);
        assert!(with_deadline(past, passed));
        let future = Instant::now() + Duration::from_secs(60);
        assert!(!with_deadline(future, passed));
        assert!(!passed());
    }
}
