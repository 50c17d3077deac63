//! Running the shares of a fused kernel call on libtorch's own CPU threads.
//!
//! libtorch parallelises its CPU ops with OpenMP. After each op the runtime's worker
//! threads spin for a while (libgomp's default is some 300,000 rounds, milliseconds)
//! before they sleep, so a kernel that spawned threads of its own right after a libtorch
//! op had them compete with a spinning worker for the cores: on 2 cores, one of its two
//! threads ran at half speed. Where libtorch's OpenMP runtime is libgomp (torch-sys links
//! it on every target but Apple's and MSVC's), the shares run as one OpenMP parallel
//! region through libgomp's `GOMP_parallel` entry point, on the same team of threads as
//! libtorch's own ops (its first member is the calling thread); elsewhere on scoped
//! threads, one share on the calling thread.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Runs `work` once for every element of `shares`, in parallel on a team of at most
/// `threads` threads. Each thread takes the next share not yet taken until none is left,
/// so that a thread slowed down (by another process on its core, say) takes fewer shares
/// instead of keeping the others waiting at the end.
pub(super) fn run_shares<S: Send>(threads: usize, shares: Vec<S>, work: impl Fn(S) + Sync) {
    run_shares_on(run_team, threads, shares, work)
}

/// A way to run a team: `team(threads, member)` calls `member()` on each of its at most
/// `threads` threads.
type TeamRunner = fn(usize, &(dyn Fn() + Sync));

/// [`run_shares`] on the teams of `team`.
fn run_shares_on<S: Send>(
    team: TeamRunner,
    threads: usize,
    shares: Vec<S>,
    work: impl Fn(S) + Sync,
) {
    let count = shares.len();
    if count <= 1 || threads <= 1 {
        shares.into_iter().for_each(work);
        return;
    }
    // One slot per share, taken by exactly one thread (the counter hands each index out
    // once): the locks are never contended.
    let slots: Vec<Mutex<Option<S>>> = shares.into_iter().map(|s| Mutex::new(Some(s))).collect();
    let next = AtomicUsize::new(0);
    let member = || {
        while let Some(slot) = slots.get(next.fetch_add(1, Ordering::Relaxed)) {
            let share = slot.lock().unwrap_or_else(|e| e.into_inner()).take();
            if let Some(share) = share {
                work(share);
            }
        }
    };
    team(threads.min(count), &member);
}

/// Calls `member()` on each thread of a team of at most `threads` threads.
fn run_team(threads: usize, member: &(dyn Fn() + Sync)) {
    #[cfg(not(any(target_env = "msvc", target_vendor = "apple")))]
    openmp_team(threads, member);
    #[cfg(any(target_env = "msvc", target_vendor = "apple"))]
    scoped_team(threads, member);
}

/// [`run_team`] as an OpenMP parallel region of libgomp.
#[cfg(not(any(target_env = "msvc", target_vendor = "apple")))]
#[allow(unsafe_code)]
fn openmp_team(threads: usize, member: &(dyn Fn() + Sync)) {
    use std::any::Any;
    use std::ffi::{c_uint, c_void};
    use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

    extern "C" {
        // libgomp's ABI, stable since GCC 4.9: what `#pragma omp parallel` compiles to.
        fn GOMP_parallel(
            body: extern "C" fn(*mut c_void),
            data: *mut c_void,
            num_threads: c_uint,
            flags: c_uint,
        );
    }

    struct Region<'a> {
        member: &'a (dyn Fn() + Sync),
        panic: Mutex<Option<Box<dyn Any + Send>>>,
    }

    extern "C" fn body(data: *mut c_void) {
        // SAFETY: `data` is the `Region` below, alive until `GOMP_parallel` returns, and
        // only read (through a shared reference) by the team's threads.
        let region = unsafe { &*(data as *const Region<'_>) };
        let run = || (region.member)();
        // A panic must not unwind through libgomp's C frames: it is kept and re-raised on
        // the calling thread.
        if let Err(payload) = catch_unwind(AssertUnwindSafe(run)) {
            *region.panic.lock().unwrap_or_else(|e| e.into_inner()) = Some(payload);
        }
    }

    let region = Region {
        member,
        panic: Mutex::new(None),
    };
    let threads = c_uint::try_from(threads).unwrap_or(c_uint::MAX);
    // SAFETY: `body` only reads `region` (its fields are `Sync`), which outlives the call:
    // `GOMP_parallel` returns after every thread of the team has finished `body`.
    unsafe {
        GOMP_parallel(
            body,
            &region as *const Region<'_> as *mut c_void,
            threads,
            0,
        )
    };
    if let Some(payload) = region.panic.into_inner().unwrap_or_else(|e| e.into_inner()) {
        resume_unwind(payload);
    }
}

/// [`run_team`] on the calling thread and `threads - 1` scoped threads.
#[cfg_attr(
    not(any(target_env = "msvc", target_vendor = "apple", test)),
    allow(dead_code)
)]
fn scoped_team(threads: usize, member: &(dyn Fn() + Sync)) {
    std::thread::scope(|scope| {
        for _ in 1..threads {
            scope.spawn(member);
        }
        member();
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every share runs exactly once, on teams of every kind and size.
    #[test]
    fn every_share_runs_once() {
        let teams: [(&str, TeamRunner); 4] = [
            ("run_team", run_team),
            ("scoped", scoped_team),
            ("scoped team of 2", |_, member| scoped_team(2, member)),
            ("one thread", |_, member| member()),
        ];
        for (name, team) in teams {
            for (threads, count) in [(2, 0), (2, 1), (2, 2), (2, 5), (3, 17), (1, 4), (8, 3)] {
                let done = Mutex::new(Vec::new());
                run_shares_on(team, threads, (0..count).collect(), |share: usize| {
                    done.lock().unwrap().push(share);
                });
                let mut done = done.into_inner().unwrap();
                done.sort_unstable();
                assert_eq!(
                    done,
                    (0..count).collect::<Vec<_>>(),
                    "{name}, {threads} threads, {count} shares"
                );
            }
        }
    }

    /// A panic in a share reaches the caller.
    #[test]
    fn a_panicking_share_panics_the_caller() {
        let caught = std::panic::catch_unwind(|| {
            run_shares(2, vec![1, 2, 3], |share: i32| {
                assert_ne!(share, 2, "share 2")
            })
        });
        assert!(caught.is_err());
    }
}
