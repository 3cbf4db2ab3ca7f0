//! The limits every in-process case runs under: it runs on a thread of its own, which must
//! finish within [`CASE_TIMEOUT`] and keep at most [`MEMORY_CEILING`] bytes live.
//!
//! Memory is counted by [`Counting`], the global allocator of every binary that links this
//! crate: it adds up what the case's thread allocates and frees, and keeps the peak. A case
//! that ends above the ceiling fails like a panic (so proptest shrinks it); an allocation that
//! would go past [`HARD_CEILING`] is refused after the input is written to stderr, because a
//! runaway case must not take the machine down before it ends. A case that crashes the process
//! (a stack overflow) has its input written to stderr first.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::{Once, mpsc};
use std::time::Duration;

/// How long one case may run: a parser that needs longer on a few KiB of input hangs.
pub const CASE_TIMEOUT: Duration = Duration::from_secs(5);

/// The most bytes a case may have live at once. The inputs are at most tens of KiB, the
/// compiler's own limit is 16 MiB of input; a case above this is a blow-up.
pub const MEMORY_CEILING: usize = 256 << 20;

/// Past this the allocator refuses, which aborts the test binary (after naming the input).
pub const HARD_CEILING: usize = 4 * MEMORY_CEILING;

/// The stack of a case's thread: the main thread's usual 8 MiB, where `l7mpc`, `l7mp
/// --validate` and the proxy's reload (on its single-threaded main runtime) parse.
const CASE_STACK: usize = 8 << 20;

/// The global allocator: the system's, counting the bytes of threads that run a case.
pub struct Counting;

#[global_allocator]
static GLOBAL: Counting = Counting;

/// What the current thread has allocated, if it runs a case.
struct Meter {
    tracking: Cell<bool>,
    live: Cell<usize>,
    peak: Cell<usize>,
    /// The case's input as text, written to stderr if an allocation is refused. It points
    /// into an `Arc<str>` the case's thread holds for as long as it runs.
    input: Cell<(*const u8, usize)>,
}

thread_local! {
    static METER: Meter = const {
        Meter {
            tracking: Cell::new(false),
            live: Cell::new(0),
            peak: Cell::new(0),
            input: Cell::new((std::ptr::null(), 0)),
        }
    };
}

/// Counts `size` more bytes on this thread; false when that would pass [`HARD_CEILING`].
fn admit(size: usize) -> bool {
    METER
        .try_with(|m| {
            if !m.tracking.get() {
                return true;
            }
            let live = m.live.get().saturating_add(size);
            if live > HARD_CEILING {
                refuse(m, size);
                return false;
            }
            m.live.set(live);
            m.peak.set(m.peak.get().max(live));
            true
        })
        .unwrap_or(true)
}

/// Counts `size` bytes fewer on this thread (memory from before the case may be freed too).
fn release(size: usize) {
    let _ = METER.try_with(|m| {
        if m.tracking.get() {
            m.live.set(m.live.get().saturating_sub(size));
        }
    });
}

/// Says on stderr which input went past the hard ceiling, without allocating.
fn refuse(m: &Meter, size: usize) {
    let (ptr, len) = m.input.get();
    let mut digits = [0u8; 20];
    let mut n = size;
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    write_stderr(b"\nl7mp-fuzz: a case went past the hard memory ceiling (an allocation of ");
    write_stderr(&digits[at..]);
    write_stderr(b" bytes refused); its input:\n");
    if !ptr.is_null() {
        // SAFETY: `ptr` and `len` describe the `Arc<str>` the running case holds.
        write_stderr(unsafe { std::slice::from_raw_parts(ptr, len) });
    }
    write_stderr(b"\n");
}

fn write_stderr(bytes: &[u8]) {
    // SAFETY: writes `bytes.len()` bytes from a valid slice to file descriptor 2.
    let _ = unsafe { libc::write(2, bytes.as_ptr().cast(), bytes.len()) };
}

// SAFETY: every call is forwarded to the system allocator unchanged; the counting around it
// only reads and writes this thread's `Cell`s, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !admit(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's contract for `alloc` is passed on.
        let p = unsafe { System.alloc(layout) };
        if p.is_null() {
            release(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !admit(layout.size()) {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's contract for `alloc_zeroed` is passed on.
        let p = unsafe { System.alloc_zeroed(layout) };
        if p.is_null() {
            release(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        release(layout.size());
        // SAFETY: the caller's contract for `dealloc` is passed on.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let old = layout.size();
        if new_size > old && !admit(new_size - old) {
            return std::ptr::null_mut();
        }
        // SAFETY: the caller's contract for `realloc` is passed on.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        match (p.is_null(), new_size > old) {
            (true, true) => release(new_size - old),
            (false, false) => release(old - new_size),
            _ => {}
        }
        p
    }
}

/// Why a case failed.
#[derive(Debug)]
pub enum Failure {
    /// It panicked, with this message.
    Panicked(String),
    /// It ran past [`CASE_TIMEOUT`]; its thread is left behind.
    Hung,
    /// It had this many bytes live at its peak, more than [`MEMORY_CEILING`].
    Memory(usize),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Panicked(m) => write!(f, "panicked: {m}"),
            Failure::Hung => write!(f, "still running after {CASE_TIMEOUT:?} (a hang)"),
            Failure::Memory(peak) => write!(
                f,
                "had {} MiB live, more than the {} MiB ceiling",
                peak >> 20,
                MEMORY_CEILING >> 20
            ),
        }
    }
}

/// A case: what a target does with one input.
pub type Case<T> = Arc<dyn Fn(&T) + Send + Sync>;

/// Names the running case's input when it crashes: a stack overflow or a bad access is a
/// signal, not a panic, and would otherwise abort the test binary without saying which input.
/// Runs on the thread's signal stack (std gives every thread one); then the signal's default
/// action ends the process as before.
extern "C" fn on_fault(_signal: libc::c_int) {
    let _ = METER.try_with(|m| {
        let (ptr, len) = m.input.get();
        if !ptr.is_null() {
            write_stderr(
                b"\nl7mp-fuzz: a case crashed (a stack overflow or a bad access); its input:\n",
            );
            // SAFETY: `ptr` and `len` describe the `Arc<str>` the crashing case holds.
            write_stderr(unsafe { std::slice::from_raw_parts(ptr, len) });
            write_stderr(b"\n");
        }
    });
}

/// Installs [`on_fault`] for SIGSEGV and SIGBUS, once.
fn catch_faults() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for signal in [libc::SIGSEGV, libc::SIGBUS] {
            // SAFETY: a zeroed sigaction is valid; the handler only reads a thread-local Cell
            // and writes to stderr, and SA_RESETHAND restores the default action for the
            // faulting instruction's retry.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = on_fault as extern "C" fn(libc::c_int) as usize;
                action.sa_flags = libc::SA_ONSTACK | libc::SA_RESETHAND;
                libc::sigemptyset(&mut action.sa_mask);
                libc::sigaction(signal, &action, std::ptr::null_mut());
            }
        }
    });
}

/// Runs `case(input)` on a thread of its own within the bounds; Ok holds the peak of live
/// bytes. `shown` is the input as text, for the messages if the allocator must refuse or the
/// case crashes.
pub fn run<T: Send + 'static>(input: T, shown: String, case: &Case<T>) -> Result<usize, Failure> {
    catch_faults();
    let case = Arc::clone(case);
    let shown: Arc<str> = Arc::from(shown);
    let (done, result) = mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("l7mp-fuzz-case".into())
        .stack_size(CASE_STACK)
        .spawn(move || {
            METER.with(|m| {
                m.input.set((shown.as_ptr(), shown.len()));
                m.live.set(0);
                m.peak.set(0);
                m.tracking.set(true);
            });
            let outcome = catch_unwind(AssertUnwindSafe(|| case(&input)));
            drop(input);
            let peak = METER.with(|m| {
                m.tracking.set(false);
                m.peak.get()
            });
            let _ = done.send(outcome.map(|()| peak).map_err(|p| panic_message(&*p)));
            drop(shown);
        });
    if let Err(e) = spawned {
        return Err(Failure::Panicked(format!(
            "cannot start the case's thread: {e}"
        )));
    }
    match result.recv_timeout(CASE_TIMEOUT) {
        Ok(Ok(peak)) if peak > MEMORY_CEILING => Err(Failure::Memory(peak)),
        Ok(Ok(peak)) => Ok(peak),
        Ok(Err(message)) => Err(Failure::Panicked(message)),
        Err(_) => Err(Failure::Hung),
    }
}

/// The text of a panic's payload.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(f: fn(&u64)) -> Case<u64> {
        Arc::new(f)
    }

    #[test]
    fn a_case_within_the_bounds_reports_its_peak() {
        let peak = run(
            1 << 20,
            "1 MiB".into(),
            &case(|n| {
                let v = vec![1u8; *n as usize];
                assert_eq!(v.len(), 1 << 20);
            }),
        )
        .unwrap();
        assert!((1 << 20..2 << 20).contains(&peak), "{peak}");
    }

    #[test]
    fn a_panic_fails_with_its_message() {
        let failure = run(7, "7".into(), &case(|n| panic!("bad input {n}"))).unwrap_err();
        assert!(
            matches!(&failure, Failure::Panicked(m) if m == "bad input 7"),
            "{failure}"
        );
    }

    #[test]
    fn a_case_over_the_ceiling_fails() {
        let failure = run(
            MEMORY_CEILING as u64 + (1 << 20),
            "big".into(),
            &case(|n| {
                let v = vec![0u8; *n as usize];
                assert_eq!(v.len() as u64, *n);
            }),
        )
        .unwrap_err();
        assert!(
            matches!(failure, Failure::Memory(p) if p > MEMORY_CEILING),
            "{failure}"
        );
    }

    #[test]
    fn a_case_past_the_timeout_hangs() {
        let failure = run(
            0,
            "sleeps".into(),
            &case(|_| {
                std::thread::sleep(CASE_TIMEOUT + Duration::from_secs(1));
            }),
        )
        .unwrap_err();
        assert!(matches!(failure, Failure::Hung), "{failure}");
    }
}
