//! The room mixer never touches the allocator after it is built: not per
//! tick, not when legs attach or detach, not when the routing changes.
//! Counted with a global allocator wrapper (this test binary only), on
//! the test's own thread: the test harness's threads allocate whenever the
//! scheduler lets them (its main thread blocking on the test's result
//! allocates), and on a loaded machine that fell inside the count.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

use warmline::media::frame::{Frame, MediaTime};
use warmline::media::mixer::{LegId, Mixer, Role, RoutePolicy, INTERNAL_RATE, TICK_SAMPLES};

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// Set on the thread whose allocations count. Const-initialised and
    /// without a destructor, so reading it never allocates.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

fn count() {
    if COUNTING.try_with(Cell::get).unwrap_or(false) {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: forwards every call to the system allocator unchanged; it only
// counts allocations.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn mixing_attaching_detaching_and_rerouting_never_allocate() {
    let speech: Vec<i16> = (0..TICK_SAMPLES)
        .map(|n| ((n as i32 * 37) % 8_000 - 4_000) as i16)
        .collect();
    let frame = Frame::from_samples(INTERNAL_RATE, MediaTime(0), &speech).expect("one tick");
    let mut mixer = Box::new(Mixer::new(RoutePolicy::normal()));
    let roles = [
        Role::Caller,
        Role::Agent,
        Role::Rep,
        Role::Monitor,
        Role::Coach,
    ];

    COUNTING.with(|c| c.set(true));
    let before = ALLOCS.load(Ordering::Relaxed);
    for (i, role) in roles.into_iter().enumerate().take(2) {
        mixer.attach(LegId(i as u32), role).expect("room");
    }
    let mut heard = 0i64;
    for tick in 0u32..1_000 {
        // A rep, a monitor and a coach come and go; the brief starts and ends.
        match tick % 200 {
            10 => mixer.attach(LegId(2), Role::Rep).expect("room"),
            20 => mixer.attach(LegId(3), Role::Monitor).expect("room"),
            30 => mixer.attach(LegId(4), Role::Coach).expect("room"),
            50 => mixer.set_policy(RoutePolicy::brief()),
            100 => mixer.set_policy(RoutePolicy::normal()),
            150 => mixer.detach(LegId(2)).expect("in room"),
            160 => mixer.detach(LegId(3)).expect("in room"),
            170 => mixer.detach(LegId(4)).expect("in room"),
            _ => {}
        }
        let present: [Option<LegId>; 5] = std::array::from_fn(|i| {
            let id = LegId(i as u32);
            mixer.legs().any(|(l, _)| l == id).then_some(id)
        });
        for leg in present.into_iter().flatten() {
            mixer.put_frame(leg, &frame).expect("in room");
        }
        mixer.put_hold(&frame).expect("16 kHz");
        mixer.mix();
        heard += i64::from(mixer.output(LegId(0)).expect("caller stays").samples()[7]);
    }
    let allocs = ALLOCS.load(Ordering::Relaxed) - before;
    COUNTING.with(|c| c.set(false));
    assert_eq!(
        allocs, 0,
        "the mixer allocated {allocs} times in 1,000 ticks"
    );
    assert_ne!(heard, 0, "the caller heard the room");
}
